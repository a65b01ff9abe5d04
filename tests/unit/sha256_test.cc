#include <doctest/doctest.h>

#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"

using namespace atcr;

TEST_CASE("sha256 one-shot and incremental agree with FIPS 180-2 vectors") {
  auto hexd = [](const Sha256Digest& d) { return hex::encode(d); };
  CHECK(hexd(sha256(to_bytes("abc"))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hexd(sha256(to_bytes(""))) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 h;
  h.update(to_bytes("ab"));
  h.update(to_bytes("c"));
  CHECK(hexd(h.finish()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // finish() resets, so the hasher is reusable.
  h.update(to_bytes(""));
  CHECK(hexd(h.finish()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("random bytes") {
  CHECK(random_bytes(0).empty());
  CHECK(random_bytes(32).size() == 32);
  CHECK(random_bytes(32) != random_bytes(32));
}

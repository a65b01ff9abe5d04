#include <doctest/doctest.h>

#include <random>

#include "atcr/encoding/base32.h"
#include "atcr/encoding/base58.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"
#include "atcr/encoding/varint.h"
#include "atcr/error.h"

using namespace atcr;

namespace {
Bytes make_random(std::mt19937& rng, std::size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}
}  // namespace

TEST_CASE("hex") {
  CHECK(hex::encode(to_bytes("\x01\xab\xff")) == "01abff");
  CHECK(hex::decode("01ABff") == to_bytes("\x01\xab\xff"));
  CHECK_THROWS_AS(hex::decode("abc"), ParseError);
  CHECK_THROWS_WITH_AS(hex::decode("zz"), doctest::Contains("invalid digit"), ParseError);
}

TEST_CASE("base64 standard and url") {
  // RFC 4648 test vectors.
  CHECK(base64::encode(to_bytes("")) == "");
  CHECK(base64::encode(to_bytes("f")) == "Zg==");
  CHECK(base64::encode(to_bytes("fo")) == "Zm8=");
  CHECK(base64::encode(to_bytes("foobar")) == "Zm9vYmFy");
  CHECK(base64::encode_unpadded(to_bytes("fo")) == "Zm8");
  CHECK(base64::decode("Zm8=") == to_bytes("fo"));
  CHECK(base64::decode("Zm8") == to_bytes("fo"));  // padding optional
  CHECK(base64::encode_url(Bytes{0xfb, 0xff}) == "-_8");
  CHECK(base64::decode_url("-_8") == Bytes{0xfb, 0xff});
  CHECK_THROWS_AS(base64::decode_url("-_8="), ParseError);  // no padding in url form
  CHECK_THROWS_AS(base64::decode_url("-_9"), ParseError);   // non-zero trailing bits
  CHECK_THROWS_AS(base64::decode("Zm9v!"), ParseError);
  CHECK_THROWS_AS(base64::decode("Z"), ParseError);
  CHECK_THROWS_AS(base64::decode("Zm8=="), ParseError);
}

TEST_CASE("base32 rfc4648 lower") {
  CHECK(base32::encode(to_bytes("foobar")) == "mzxw6ytboi");
  CHECK(base32::decode("mzxw6ytboi") == to_bytes("foobar"));
  CHECK(base32::encode(to_bytes("f")) == "my");
  CHECK_THROWS_AS(base32::decode("MZXW"), ParseError);  // uppercase
  CHECK_THROWS_AS(base32::decode("mz1"), ParseError);
  CHECK_THROWS_AS(base32::decode("mz"), ParseError);  // 'z' leaves non-zero padding bits
}

TEST_CASE("base32 sortable") {
  CHECK(base32::encode_sortable(0) == "2222222222222");
  CHECK(base32::decode_sortable("2222222222222") == 0);
  CHECK(base32::encode_sortable(1) == "2222222222223");
  std::uint64_t big = 0x7fffffffffffffffULL;
  CHECK(base32::decode_sortable(base32::encode_sortable(big)) == big);
  CHECK_THROWS_AS(base32::decode_sortable("zzzzzzzzzzzzz"), ParseError);  // > 64 bits
  CHECK_THROWS_AS(base32::decode_sortable("222"), ParseError);
  // The text sorts like the number.
  CHECK(base32::encode_sortable(1000) < base32::encode_sortable(1001));
}

TEST_CASE("base58btc") {
  CHECK(base58::encode(to_bytes("hello world")) == "StV1DL6CwTryKyV");
  CHECK(base58::decode("StV1DL6CwTryKyV") == to_bytes("hello world"));
  CHECK(base58::encode(Bytes{0, 0, 1}) == "112");
  CHECK(base58::decode("112") == Bytes{0, 0, 1});
  CHECK_THROWS_AS(base58::decode("0OIl"), ParseError);
  CHECK_THROWS_AS(base58::decode(std::string(300, '2')), ParseError);
}

TEST_CASE("varint") {
  CHECK(varint::encode(0) == Bytes{0});
  CHECK(varint::encode(127) == Bytes{0x7f});
  CHECK(varint::encode(128) == Bytes{0x80, 0x01});
  CHECK(varint::encode(0x1200) == Bytes{0x80, 0x24});  // p256-pub multicodec
  CHECK(varint::encode(0xe7) == Bytes{0xe7, 0x01});    // secp256k1-pub multicodec
  auto d = varint::decode(Bytes{0x80, 0x24, 0xff});
  CHECK(d.value == 0x1200);
  CHECK(d.length == 2);
  CHECK_THROWS_WITH_AS(varint::decode(Bytes{0x80}), doctest::Contains("truncated"), ParseError);
  CHECK_THROWS_WITH_AS(varint::decode(Bytes{0x80, 0x00}), doctest::Contains("non-minimal"), ParseError);
  CHECK_THROWS_AS(varint::decode(Bytes(10, 0xff)), ParseError);
  CHECK_THROWS_AS(varint::decode(Bytes{}), ParseError);
}

TEST_CASE("round trips on random data") {
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    Bytes b = make_random(rng, rng() % 70);
    CHECK(hex::decode(hex::encode(b)) == b);
    CHECK(base64::decode(base64::encode(b)) == b);
    CHECK(base64::decode_url(base64::encode_url(b)) == b);
    CHECK(base32::decode(base32::encode(b)) == b);
    CHECK(base58::decode(base58::encode(b)) == b);
    std::uint64_t v = (static_cast<std::uint64_t>(rng()) << 32 | rng()) >> (rng() % 64);
    if (v >> 63) v >>= 1;
    CHECK(varint::decode(varint::encode(v)).value == v);
  }
}

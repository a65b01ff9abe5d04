#include <doctest/doctest.h>

#include "atcr/data/cbor.h"
#include "atcr/error.h"
#include "atcr/repo/commit.h"

using namespace atcr;

namespace {
const Cid kData = Cid::parse("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
}

TEST_CASE("signed commits encode in canonical key order and verify") {
  for (KeyType type : {KeyType::kSecp256k1, KeyType::kP256}) {
    PrivateKey key = PrivateKey::generate(type);
    Commit c = Commit::sign("did:plc:ewvi7nxzyoun6zhxrhs64oiz", kData, "3jzfcijpj2z2a", key);
    CHECK(c.sig.size() == 64);
    CHECK(c.verify(key.public_key()));
    CHECK_FALSE(c.verify(PrivateKey::generate(type).public_key()));

    Value v = cbor::decode(c.encode());
    std::string order;
    for (const auto& [k, _] : v.as_map()) order += k + " ";
    CHECK(order == "did rev sig data prev version ");
    CHECK(v.at("prev").is_null());  // present, as null
    CHECK(v.at("version").as_integer() == 3);

    Commit back = Commit::decode(c.encode());
    CHECK(back.encode() == c.encode());
    CHECK(back.verify(key.public_key()));

    Commit tampered = back;
    tampered.rev = "3jzfcijpj2z2b";
    CHECK_FALSE(tampered.verify(key.public_key()));
  }
}

TEST_CASE("decode is strict about the commit's shape") {
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  Value good = cbor::decode(Commit::sign("did:plc:ewvi7nxzyoun6zhxrhs64oiz", kData, "3jzfcijpj2z2a", key).encode());
  auto with = [&](const std::string& field, Value v) {
    Value copy = good;
    copy.as_map()[field] = std::move(v);
    return cbor::encode(copy);
  };
  auto without = [&](const std::string& field) {
    Value copy = good;
    copy.as_map().erase(field);
    return cbor::encode(copy);
  };
  CHECK_THROWS_WITH_AS(Commit::decode(without("prev")), doctest::Contains("prev"), ParseError);
  CHECK_THROWS_WITH_AS(Commit::decode(without("sig")), doctest::Contains("sig"), ParseError);
  CHECK_THROWS_WITH_AS(Commit::decode(with("version", 2)), doctest::Contains("version"), ParseError);
  CHECK_THROWS_WITH_AS(Commit::decode(with("extra", 1)), doctest::Contains("extra"), ParseError);
  CHECK_THROWS_AS(Commit::decode(with("did", "not a did")), ParseError);
  CHECK_THROWS_AS(Commit::decode(with("rev", "nope")), ParseError);
  CHECK_THROWS_AS(Commit::decode(with("data", "bafy")), ParseError);
  CHECK_THROWS_AS(Commit::decode(cbor::encode(Value(1))), ParseError);
  // A non-null prev (older repos) is read and round-trips.
  Commit with_prev = Commit::decode(with("prev", kData));
  REQUIRE(with_prev.prev);
  CHECK(*with_prev.prev == kData);
}

#include <doctest/doctest.h>

#include <unordered_set>

#include "atcr/data/cid.h"
#include "atcr/encoding/hex.h"
#include "atcr/error.h"

using namespace atcr;

TEST_CASE("empty MST node CID from the spec") {
  Bytes node = hex::decode("a2616580616cf6");  // {"e":[],"l":null}
  Cid c = Cid::compute(Codec::kDagCbor, node);
  CHECK(c.to_string() == "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
  CHECK(c.is_blessed());
  CHECK(c.codec() == 0x71);
  CHECK(c.hash_code() == 0x12);
  CHECK(c.digest().size() == 32);
  CHECK(c.bytes().size() == 36);
}

TEST_CASE("parse and format round trip") {
  const char* raw = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity";
  Cid c = Cid::parse(raw);
  CHECK(c.to_string() == raw);
  CHECK(c.codec() == 0x55);
  CHECK(Cid::from_bytes(c.bytes()) == c);
}

TEST_CASE("non-blessed CIDs are kept exactly") {
  // CIDv1, dag-json (0x0129), sha2-512 (0x13) with a 64-byte digest.
  Bytes b = {0x01, 0xa9, 0x02, 0x13, 0x40};
  b.resize(b.size() + 64, 0xab);
  Cid c = Cid::from_bytes(b);
  CHECK_FALSE(c.is_blessed());
  CHECK(c.codec() == 0x0129);
  CHECK(Bytes(c.bytes().begin(), c.bytes().end()) == b);
  CHECK(Cid::parse(c.to_string()) == c);
}

TEST_CASE("malformed CIDs are rejected with a reason") {
  CHECK_THROWS_WITH_AS(Cid::parse(""), doctest::Contains("empty"), ParseError);
  CHECK_THROWS_WITH_AS(Cid::parse("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"),
                       doctest::Contains("base32"), ParseError);
  CHECK_THROWS_AS(Cid::parse("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hp"), ParseError);
  CHECK_THROWS_AS(Cid::parse("b!!!"), ParseError);
  CHECK_THROWS_WITH_AS(Cid::from_bytes(Bytes{0x12, 0x20}), doctest::Contains("CIDv0"), ParseError);
  CHECK_THROWS_WITH_AS(Cid::from_bytes(Bytes{0x02, 0x71, 0x12, 0x20}), doctest::Contains("version"), ParseError);
  CHECK_THROWS_WITH_AS(Cid::from_bytes(Bytes{0x01, 0x71, 0x12, 0x20, 1, 2}), doctest::Contains("truncated"),
                       ParseError);
  CHECK_THROWS_WITH_AS(Cid::from_bytes(Bytes{0x01, 0x71, 0x12, 0x10}), doctest::Contains("32 bytes"), ParseError);
  Bytes too_long = {0x01, 0x55, 0x13, 0x41};
  too_long.resize(4 + 65, 0);
  CHECK_THROWS_WITH_AS(Cid::from_bytes(too_long), doctest::Contains("too long"), ParseError);
  Bytes trailing = {0x01, 0x55, 0x12, 0x20};
  trailing.resize(4 + 33, 0);
  CHECK_THROWS_WITH_AS(Cid::from_bytes(trailing), doctest::Contains("trailing"), ParseError);
  CHECK_THROWS_AS(Cid::parse(std::string(500, 'b')), ParseError);
}

TEST_CASE("read_prefix reports the length used") {
  Cid c = Cid::compute(Codec::kRaw, to_bytes("hello"));
  Bytes buf(c.bytes().begin(), c.bytes().end());
  buf.push_back(0x99);
  auto p = Cid::read_prefix(buf);
  CHECK(p.cid == c);
  CHECK(p.length == 36);
}

TEST_CASE("ordering and hashing") {
  Cid a = Cid::compute(Codec::kRaw, to_bytes("a"));
  Cid b = Cid::compute(Codec::kRaw, to_bytes("b"));
  CHECK(a != b);
  CHECK((a < b || b < a));
  std::unordered_set<Cid> set{a, b, a};
  CHECK(set.size() == 2);
}

#include <doctest/doctest.h>

#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"
#include "atcr/error.h"
#include "fixtures.h"

using namespace atcr;

namespace {
Bytes h(const char* s) { return hex::decode(s); }

std::string decode_error(const Bytes& b) {
  try {
    cbor::decode(b);
  } catch (const ParseError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("data-model fixtures: JSON -> CBOR bytes -> CID, and back") {
  auto doc = test::json_fixture("data-model/data-model-fixtures.json");
  REQUIRE(doc.Size() == 3);
  for (const auto& f : doc.GetArray()) {
    Value v = json::parse(test::to_json_text(f["json"]));
    Bytes expected = base64::decode(f["cbor_base64"].GetString());
    Bytes encoded = cbor::encode(v);
    CHECK(hex::encode(encoded) == hex::encode(expected));
    CHECK(Cid::compute(Codec::kDagCbor, encoded).to_string() == f["cid"].GetString());
    // Decoding the canonical bytes gives the same value, and JSON round-trips.
    Value back = cbor::decode(expected);
    CHECK(back == v);
    CHECK(json::parse(json::serialize(back)) == v);
  }
}

TEST_CASE("canonical encodings from the digest") {
  Value::Map frame{{"op", 1}, {"t", "#commit"}};
  CHECK(hex::encode(cbor::encode(Value(frame))) == "a261746723636f6d6d6974626f7001");
  CHECK(hex::encode(cbor::encode(Value(Value::Map{{"op", -1}}))) == "a1626f7020");
  CHECK(hex::encode(cbor::encode(Value(Value::Map{{"e", Value::Array{}}, {"l", nullptr}}))) == "a2616580616cf6");
}

TEST_CASE("integers use the shortest form and the full int64 range") {
  struct Case {
    std::int64_t v;
    const char* hex;
  } cases[] = {
      {0, "00"},          {23, "17"},         {24, "1818"},           {255, "18ff"},
      {256, "190100"},    {65535, "19ffff"},  {65536, "1a00010000"},  {4294967296, "1b0000000100000000"},
      {-1, "20"},         {-24, "37"},        {-25, "3818"},          {-256, "38ff"},
      {INT64_MAX, "1b7fffffffffffffff"},      {INT64_MIN, "3b7fffffffffffffff"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.v);
    CHECK(hex::encode(cbor::encode(Value(c.v))) == c.hex);
    CHECK(cbor::decode(h(c.hex)).as_integer() == c.v);
  }
}

TEST_CASE("map keys sort by length, then bytewise") {
  Value::Map m{{"did", 1}, {"rev", 2}, {"sig", 3}, {"data", 4}, {"prev", 5}, {"version", 6}};
  Value v(m);
  Bytes enc = cbor::encode(v);
  std::string order;
  Value decoded = cbor::decode(enc);
  for (const auto& [k, _] : decoded.as_map()) order += k + ",";
  CHECK(order == "did,rev,sig,data,prev,version,");
}

TEST_CASE("links are tag 42 with a 0x00 prefix") {
  Cid c = Cid::parse("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm");
  Bytes enc = cbor::encode(Value(c));
  CHECK(hex::encode(enc).substr(0, 14) == "d82a5825000171");
  CHECK(cbor::decode(enc).as_link() == c);
}

TEST_CASE("strict decoding rejects every non-canonical or disallowed form") {
  CHECK(decode_error(h("1817")).find("non-canonical") != std::string::npos);      // 23 in two bytes
  CHECK(decode_error(h("190017")).find("non-canonical") != std::string::npos);
  CHECK(decode_error(h("1a0000ffff")).find("non-canonical") != std::string::npos);
  CHECK(decode_error(h("1b00000000ffffffff")).find("non-canonical") != std::string::npos);
  CHECK(decode_error(h("5801ff")).find("non-canonical") != std::string::npos);    // bytes len 1 in 2
  CHECK(decode_error(h("9f01ff")).find("indefinite") != std::string::npos);
  CHECK(decode_error(h("5f4101ff")).find("indefinite") != std::string::npos);
  CHECK(decode_error(h("f93c00")).find("floating") != std::string::npos);        // half float 1.0
  CHECK(decode_error(h("fb3ff0000000000000")).find("floating") != std::string::npos);
  CHECK(decode_error(h("f7")).find("simple value 23") != std::string::npos);     // undefined
  CHECK(decode_error(h("c11a00000000")).find("tag 1") != std::string::npos);
  CHECK(decode_error(h("a2616101616101")).find("duplicate") != std::string::npos);
  CHECK(decode_error(h("a2616201616101")).find("canonical order") != std::string::npos);
  CHECK(decode_error(h("a262616101616201"))
            .find("canonical order") != std::string::npos);  // "aa" before "b": length first
  CHECK(decode_error(h("a10101")).find("not a text string") != std::string::npos);
  CHECK(decode_error(h("0101")).find("trailing") != std::string::npos);
  CHECK(decode_error(h("")).find("end of input") != std::string::npos);
  CHECK(decode_error(h("62c328")).find("UTF-8") != std::string::npos);           // bad continuation
  CHECK(decode_error(h("62c0af")).find("UTF-8") != std::string::npos);           // overlong
  CHECK(decode_error(h("63eda080")).find("UTF-8") != std::string::npos);         // surrogate
  CHECK(decode_error(h("1bffffffffffffffff")).find("64-bit") != std::string::npos);
  CHECK(decode_error(h("3b8000000000000000")).find("64-bit") != std::string::npos);
  CHECK(decode_error(h("d82a4401711220")).find("0x00") != std::string::npos);
  CHECK(decode_error(h("d82a450001711220"))
            .find("cid") != std::string::npos);
  CHECK(decode_error(h("d82a0c")).find("byte string") != std::string::npos);
  CHECK(decode_error(h("d9002a40")).find("non-canonical") != std::string::npos);  // tag 42 in 2 bytes
  CHECK_FALSE(decode_error(h("fc")).empty());  // simple value 28
  CHECK(decode_error(h("1c")).find("reserved") != std::string::npos);
}

TEST_CASE("hostile lengths and nesting are bounded") {
  // An array claiming 2^32 items in a 6-byte input must not allocate.
  CHECK(decode_error(h("9b0000000100000000")).find("more than the input holds") != std::string::npos);
  CHECK(decode_error(h("bb0000000100000000")).find("more than the input holds") != std::string::npos);
  CHECK(decode_error(h("5b000000010000000000")).find("runs past the end") != std::string::npos);
  Bytes deep(100000, 0x81);  // [[[[...
  deep.push_back(0x00);
  CHECK(decode_error(deep).find("nesting") != std::string::npos);
  Bytes ok_depth(60, 0x81);
  ok_depth.push_back(0x00);
  CHECK_NOTHROW(cbor::decode(ok_depth));
}

TEST_CASE("decode_prefix leaves the rest for the caller") {
  Bytes two = h("a1617401a1626f7001");  // {"t":1}{"op":1}
  auto first = cbor::decode_prefix(two);
  CHECK(first.length == 4);
  CHECK(first.value.at("t").as_integer() == 1);
  auto second = cbor::decode(BytesView(two).subspan(first.length));
  CHECK(second.at("op").as_integer() == 1);
}

TEST_CASE("Value accessors report the kind mismatch") {
  Value v("text");
  CHECK_THROWS_WITH_AS(v.as_integer(), "expected integer, found string", ParseError);
  Value m(Value::Map{{"a", 1}});
  CHECK_THROWS_WITH_AS(m.at("b"), doctest::Contains("missing key \"b\""), ParseError);
  CHECK(m.find("b") == nullptr);
  CHECK(m.at("a").as_integer() == 1);
}

#include <doctest/doctest.h>

#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/error.h"
#include "fixtures.h"

using namespace atcr;

namespace {
std::vector<std::pair<std::string, std::string>> cases(const char* fixture) {
  auto doc = test::json_fixture(fixture);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : doc.GetArray()) {
    out.emplace_back(f["note"].GetString(), test::to_json_text(f["json"]));
  }
  return out;
}
}  // namespace

TEST_CASE("data-model-valid fixtures parse") {
  auto all = cases("data-model/data-model-valid.json");
  CHECK(all.size() == 5);
  // Not a structured binding: clang 14 cannot capture those (CAPTURE does).
  for (const auto& entry : all) {
    const std::string& note = entry.first;
    const std::string& text = entry.second;
    CAPTURE(note);
    Value v = json::parse_record(text);
    // And survive a CBOR round trip unchanged.
    CHECK(cbor::decode(cbor::encode(v)) == v);
  }
}

TEST_CASE("data-model-invalid fixtures are rejected") {
  auto all = cases("data-model/data-model-invalid.json");
  CHECK(all.size() == 12);
  // Not a structured binding: clang 14 cannot capture those (CAPTURE does).
  for (const auto& entry : all) {
    const std::string& note = entry.first;
    const std::string& text = entry.second;
    CAPTURE(note);
    CHECK_THROWS_AS(json::parse_record(text), ParseError);
  }
}

TEST_CASE("integer-like floats become integers; others are rejected") {
  CHECK(json::parse("123.0").as_integer() == 123);
  CHECK(json::parse("-5e2").as_integer() == -500);
  CHECK_THROWS_WITH_AS(json::parse("{\"a\":[1.5]}"), doctest::Contains("floating-point"), ParseError);
  CHECK_THROWS_WITH_AS(json::parse("{\"a\":[1.5]}"), doctest::Contains(".a[0]"), ParseError);
  CHECK_THROWS_WITH_AS(json::parse("18446744073709551615"), doctest::Contains("64-bit"), ParseError);
  CHECK(json::parse("9223372036854775807").as_integer() == INT64_MAX);
  CHECK_THROWS_AS(json::parse("1e300"), ParseError);
}

TEST_CASE("$link and $bytes") {
  Value v = json::parse(R"({"l":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},"b":{"$bytes":"AQID"}})");
  CHECK(v.at("l").is_link());
  CHECK(v.at("b").as_bytes() == Bytes{1, 2, 3});
  CHECK(json::serialize(v) ==
        R"({"b":{"$bytes":"AQID"},"l":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"}})");
  CHECK_THROWS_WITH_AS(json::parse(R"({"b":{"$bytes":"!!"}})"), doctest::Contains("invalid $bytes"), ParseError);
}

TEST_CASE("blobs are checked wherever they appear") {
  const char* ok = R"({"x":[{"$type":"blob","ref":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},"mimeType":"image/png","size":12}]})";
  CHECK_NOTHROW(json::parse(ok));
  CHECK_THROWS_WITH_AS(json::parse(R"({"x":{"$type":"blob","ref":"nope","mimeType":"a/b","size":1}})"),
                       doctest::Contains("ref"), ParseError);
  CHECK_THROWS_WITH_AS(json::parse(R"({"x":{"$type":"blob","ref":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},"mimeType":"a/b","size":-1}})"),
                       doctest::Contains("size"), ParseError);
}

TEST_CASE("malformed and hostile JSON") {
  CHECK_THROWS_AS(json::parse(""), ParseError);
  CHECK_THROWS_AS(json::parse("{"), ParseError);
  CHECK_THROWS_WITH_AS(json::parse("{} x"), doctest::Contains("offset"), ParseError);
  CHECK_THROWS_WITH_AS(json::parse(R"({"a":1,"a":2})"), doctest::Contains("duplicate"), ParseError);
  CHECK_THROWS_AS(json::parse("\"\xff\""), ParseError);  // invalid UTF-8
  std::string deep(200000, '[');
  CHECK_THROWS_AS(json::parse(deep), ParseError);
  std::string closed = std::string(100, '[') + std::string(100, ']');
  CHECK_THROWS_WITH_AS(json::parse(closed), doctest::Contains("nesting"), ParseError);
  CHECK_THROWS_WITH_AS(json::parse_record("[1]"), doctest::Contains("object"), ParseError);
}

TEST_CASE("validate_record applies the same rules to decoded CBOR") {
  Value good(Value::Map{{"$type", "io.atcr.tag"}, {"tag", "latest"}});
  CHECK_NOTHROW(json::validate_record(good));
  Value bad(Value::Map{{"$type", ""}});
  CHECK_THROWS_AS(json::validate_record(bad), ParseError);
  CHECK_THROWS_AS(json::validate_record(Value(1)), ParseError);
}

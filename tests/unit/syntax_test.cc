#include "atcr/data/syntax.h"
#include "atcr/data/datetime.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/error.h"
#include "fixtures.h"

namespace syntax = atcr::syntax;
using atcr::test::fixture_lines;
using atcr::test::fixture_path;

namespace {

struct Format {
  const char* name;  // fixture prefix: syntax/<name>_syntax_valid.txt
  void (*validate)(std::string_view);
  bool (*is_valid)(std::string_view) noexcept;
};

const Format kFormats[] = {
    {"handle", syntax::validate_handle, syntax::is_valid_handle},
    {"did", syntax::validate_did, syntax::is_valid_did},
    {"nsid", syntax::validate_nsid, syntax::is_valid_nsid},
    {"aturi", syntax::validate_at_uri, syntax::is_valid_at_uri},
    {"recordkey", syntax::validate_record_key, syntax::is_valid_record_key},
    {"tid", syntax::validate_tid, syntax::is_valid_tid},
    {"datetime", syntax::validate_datetime, syntax::is_valid_datetime},
    {"atidentifier", syntax::validate_at_identifier, syntax::is_valid_at_identifier},
    {"cid", syntax::validate_cid, syntax::is_valid_cid},
    {"language", syntax::validate_language, syntax::is_valid_language},
    {"uri", syntax::validate_uri, syntax::is_valid_uri},
};

// Throws with the exception's message, or returns "" when validation passed.
std::string error_of(const Format& f, std::string_view input) {
  try {
    f.validate(input);
    return "";
  } catch (const atcr::ParseError& e) {
    return e.what();
  }
}

std::string error_of(void (*validate)(std::string_view), std::string_view input) {
  return error_of(Format{"", validate, nullptr}, input);
}

void expect_all_valid(const Format& f, const std::string& file) {
  auto lines = fixture_lines("syntax/" + file);
  REQUIRE(!lines.empty());
  for (const auto& line : lines) {
    INFO(file << ": [" << line << "]");
    CHECK(f.is_valid(line));
    CHECK(error_of(f, line) == "");
  }
}

void expect_all_invalid(const Format& f, const std::string& file) {
  auto lines = fixture_lines("syntax/" + file);
  REQUIRE(!lines.empty());
  for (const auto& line : lines) {
    INFO(file << ": [" << line.substr(0, 120) << "]");
    CHECK_FALSE(f.is_valid(line));
    CHECK_THROWS_AS(f.validate(line), atcr::ParseError);
  }
}

const Format& format_named(std::string_view name) {
  for (const auto& f : kFormats)
    if (name == f.name) return f;
  throw std::logic_error("no format " + std::string(name));
}

}  // namespace

TEST_CASE("syntax fixtures: every valid case passes, every invalid case fails") {
  for (const auto& f : kFormats) {
    SUBCASE(f.name) {
      expect_all_valid(f, std::string(f.name) + "_syntax_valid.txt");
      expect_all_invalid(f, std::string(f.name) + "_syntax_invalid.txt");
    }
  }
}

// These pass a syntax-only regex but name impossible dates (month 00, hour
// 25, second 61) or a moment before year 0000 once moved to UTC.
// validate_datetime() checks both, so they must fail.
TEST_CASE("syntax fixtures: datetime_parse_invalid fails validation") {
  expect_all_invalid(format_named("datetime"), "datetime_parse_invalid.txt");
}

// Well-formed BCP-47 whose variant or extension singleton repeats. RFC 5646
// calls those well-formed but not valid; validate_language() checks
// repetition too (it is cheap), so they must fail. It does not check
// subtags against the IANA registry.
TEST_CASE("syntax fixtures: language_parse_invalid fails validation") {
  expect_all_invalid(format_named("language"), "language_parse_invalid.txt");
}

TEST_CASE("syntax fixtures: no fixture file is left untested") {
  std::set<std::string> covered = {"datetime_parse_invalid.txt", "language_parse_invalid.txt"};
  for (const auto& f : kFormats) {
    covered.insert(std::string(f.name) + "_syntax_valid.txt");
    covered.insert(std::string(f.name) + "_syntax_invalid.txt");
  }
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(fixture_path("syntax"))) {
    auto name = entry.path().filename().string();
    INFO(name);
    CHECK(covered.count(name) == 1);
    ++files;
  }
  CHECK(files == static_cast<int>(covered.size()));
}

TEST_CASE("error messages name the format, the input and the problem") {
  CHECK(error_of(syntax::validate_handle, "foo..bar") ==
        "handle \"foo..bar\": empty label at offset 4");
  CHECK(error_of(syntax::validate_handle, "jo_hn.test") ==
        "handle \"jo_hn.test\": invalid character '_' at offset 2");
  CHECK(error_of(syntax::validate_handle, "john") ==
        "handle \"john\": needs at least two labels (a bare TLD is not a handle)");
  CHECK(error_of(syntax::validate_handle, "127.0.0.1") ==
        "handle \"127.0.0.1\": top-level domain starts with a digit at offset 8");
  CHECK(error_of(syntax::validate_handle, "john-.test") ==
        "handle \"john-.test\": label ends with '-' at offset 4");

  CHECK(error_of(syntax::validate_did, "did:METHOD:val") ==
        "DID \"did:METHOD:val\": method must be lowercase letters; found 'M' at offset 4");
  CHECK(error_of(syntax::validate_did, "did:method:val:") ==
        "DID \"did:method:val:\": must not end with ':' at offset 14");
  CHECK(error_of(syntax::validate_did, "did:method:val#two") ==
        "DID \"did:method:val#two\": invalid character '#' at offset 14");

  CHECK(error_of(syntax::validate_nsid, "com.example.fooBar.2") ==
        "NSID \"com.example.fooBar.2\": name segment starts with a digit at offset 19");
  CHECK(error_of(syntax::validate_nsid, "com.example") ==
        "NSID \"com.example\": needs at least three segments");

  CHECK(error_of(syntax::validate_at_uri, "at://did:plc:asdf123/com.atproto.feed.p@st") ==
        "AT-URI \"at://did:plc:asdf123/com.atproto.feed.p@st\": collection: invalid character "
        "'@' at offset 39");
  CHECK(error_of(syntax::validate_at_uri, "at://did:plc:asdf123/com.atproto.feed.post/") ==
        "AT-URI \"at://did:plc:asdf123/com.atproto.feed.post/\": empty record key segment "
        "(trailing or doubled '/') at offset 43");
  CHECK(error_of(syntax::validate_at_uri, "at://name") ==
        "AT-URI \"at://name\": authority: needs at least two labels (a bare TLD is not a "
        "handle)");
  CHECK(error_of(syntax::validate_at_uri, "at://did:plc:asdf123#frag") ==
        "AT-URI \"at://did:plc:asdf123#frag\": query and fragment are not allowed at offset 20");
  CHECK(error_of(syntax::validate_at_uri, "at://a.com/com.example.foo/x/y") ==
        "AT-URI \"at://a.com/com.example.foo/x/y\": too many path segments (only "
        "/collection/rkey) at offset 28");

  CHECK(error_of(syntax::validate_record_key, "..") ==
        "record key \"..\": \".\" and \"..\" are not allowed");
  CHECK(error_of(syntax::validate_tid, "kjzfcijpj2z2a") ==
        "TID \"kjzfcijpj2z2a\": first character must be 2-7 or a-j (value exceeds 64 bits) at "
        "offset 0");
  CHECK(error_of(syntax::validate_tid, "3JZFCIJPJ2Z2A") ==
        "TID \"3JZFCIJPJ2Z2A\": invalid character 'J' at offset 1");

  CHECK(error_of(syntax::validate_datetime, "1985-04-12t23:20:50.123Z") ==
        "datetime \"1985-04-12t23:20:50.123Z\": expected uppercase 'T' between date and time; "
        "found 't' at offset 10");
  CHECK(error_of(syntax::validate_datetime, "1985-04-12T23:20:50.123") ==
        "datetime \"1985-04-12T23:20:50.123\": missing timezone ('Z' or +hh:mm/-hh:mm) at "
        "offset 23");
  CHECK(error_of(syntax::validate_datetime, "1985-13-12T23:20:50.123Z") ==
        "datetime \"1985-13-12T23:20:50.123Z\": month out of range at offset 5");
  CHECK(error_of(syntax::validate_datetime, "1985-04-12T23:20:50.123-00:00") ==
        "datetime \"1985-04-12T23:20:50.123-00:00\": offset \"-00:00\" is not allowed at offset "
        "23");
  CHECK(error_of(syntax::validate_datetime, "0000-01-01T00:00:00+01:00") ==
        "datetime \"0000-01-01T00:00:00+01:00\": is before year 0000 in UTC");

  CHECK(error_of(syntax::validate_cid, "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR") ==
        "CID \"QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR\": CIDv0 (\"Qm...\") is not "
        "supported");
  CHECK(error_of(syntax::validate_language, "de-DE-1901-1901") ==
        "language tag \"de-DE-1901-1901\": repeated variant subtag at offset 11");
  CHECK(error_of(syntax::validate_language, "JA") ==
        "language tag \"JA\": primary language subtag must be lowercase at offset 0");
  CHECK(error_of(syntax::validate_uri, "http:") ==
        "URI \"http:\": nothing after the scheme at offset 5");
  CHECK(error_of(syntax::validate_at_identifier, "jo_hn.test") ==
        "at-identifier \"jo_hn.test\": invalid character '_' at offset 2");
}

TEST_CASE("error messages escape control and non-ASCII bytes and truncate long input") {
  using namespace std::string_literals;
  CHECK(error_of(syntax::validate_handle, "a\0b.test"s) ==
        "handle \"a\\x00b.test\": invalid character '\\x00' at offset 1");
  CHECK(error_of(syntax::validate_handle, "b\xc3\xbc" "cher.test") ==
        "handle \"b\\xc3\\xbccher.test\": invalid character '\\xc3' at offset 1");
  CHECK(error_of(syntax::validate_handle, "a\"b.test") ==
        "handle \"a\\\"b.test\": invalid character '\\\"' at offset 1");

  std::string long_rkey(600, 'o');
  std::string msg = error_of(syntax::validate_record_key, long_rkey);
  CHECK(msg == "record key \"" + std::string(80, 'o') +
                   "\"... (600 bytes): longer than 512 characters");
  CHECK(msg.size() < 200);
}

TEST_CASE("hostile input: huge, NUL-laden and non-ASCII strings fail fast for every format") {
  using namespace std::string_literals;
  std::vector<std::string> hostile = {
      ""s,
      std::string(1 << 20, 'a'),
      std::string(1 << 20, '.'),
      std::string(1 << 20, '-'),
      "did:" + std::string(1 << 20, 'a'),
      "at://" + std::string(1 << 20, '/'),
      std::string(1 << 20, '\0'),
      "\0"s,
      "did:plc:abc\0"s,
      "abc.test\0"s,
      "\xff\xfe"s,
      "\xe2\x80\x94"s,                // em-dash
      "han\xcc\x81" "dle.test"s,      // combining accent
      "1985-04-12T23:20:50.123Z\0"s,  // NUL after a valid datetime
      std::string(5000, '-') + "a",   // many empty language subtags
  };
  for (const auto& f : kFormats) {
    for (const auto& input : hostile) {
      INFO(f.name << " input of " << input.size() << " bytes");
      CHECK_FALSE(f.is_valid(input));
      CHECK_THROWS_AS(f.validate(input), atcr::ParseError);
    }
  }
  // Alternating separators must not trigger quadratic work in any scanner.
  std::string many_labels;
  for (int i = 0; i < 100000; ++i) many_labels += "a.";
  for (const auto& f : kFormats) CHECK_FALSE(f.is_valid(many_labels));
}

TEST_CASE("maximum lengths are inclusive") {
  std::string did = "did:plc:" + std::string(syntax::kMaxDidLength - 8, 'a');
  CHECK(syntax::is_valid_did(did));
  CHECK_FALSE(syntax::is_valid_did(did + "a"));
  CHECK(syntax::is_valid_at_identifier(did));

  std::string rkey(syntax::kMaxRecordKeyLength, 'k');
  CHECK(syntax::is_valid_record_key(rkey));
  CHECK_FALSE(syntax::is_valid_record_key(rkey + "k"));

  std::string uri = "https://example.com/";
  uri += std::string(syntax::kMaxUriLength - uri.size(), 'x');
  CHECK(syntax::is_valid_uri(uri));
  CHECK_FALSE(syntax::is_valid_uri(uri + "x"));

  // 63-character labels: 4 of them plus a 1-character TLD is exactly 253.
  std::string label(63, 'a');
  std::string handle = label + "." + label + "." + label + "." + label + ".b";
  REQUIRE(handle.size() == 257);
  CHECK_FALSE(syntax::is_valid_handle(handle));
  handle = label + "." + label + "." + label + "." + std::string(59, 'a') + ".b";
  REQUIRE(handle.size() == 253);
  CHECK(syntax::is_valid_handle(handle));
}

TEST_CASE("handles: normalisation and disallowed TLDs") {
  CHECK(syntax::normalize_handle("XX.LCS.MIT.EDU") == "xx.lcs.mit.edu");
  CHECK(syntax::normalize_handle("john.test") == "john.test");
  CHECK_THROWS_AS(syntax::normalize_handle("john..test"), atcr::ParseError);

  for (const char* h : {"laptop.local", "a.alt", "x.ARPA", "x.example", "x.internal",
                        "handle.invalid", "x.localhost", "expyuzz4wqqyqhjn.onion"}) {
    INFO(h);
    CHECK(syntax::is_valid_handle(h));  // syntax allows them...
    CHECK(syntax::is_disallowed_tld_handle(h));  // ...policy does not
  }
  for (const char* h : {"john.test", "a.co", "example.com", "local.dev", "onion.fr"}) {
    INFO(h);
    CHECK_FALSE(syntax::is_disallowed_tld_handle(h));
  }
}

TEST_CASE("datetimes: calendar corner cases") {
  CHECK(syntax::is_valid_datetime("2000-02-29T00:00:00Z"));   // divisible by 400
  CHECK(syntax::is_valid_datetime("2024-02-29T00:00:00Z"));
  CHECK(syntax::is_valid_datetime("0000-02-29T00:00:00Z"));   // year 0 is a leap year
  CHECK_FALSE(syntax::is_valid_datetime("1900-02-29T00:00:00Z"));
  CHECK_FALSE(syntax::is_valid_datetime("2023-02-29T00:00:00Z"));
  CHECK_FALSE(syntax::is_valid_datetime("2023-04-31T00:00:00Z"));
  CHECK(syntax::is_valid_datetime("2023-12-31T23:59:59.999999Z"));
  CHECK_FALSE(syntax::is_valid_datetime("2016-12-31T23:59:60Z"));  // leap second refused
  CHECK_FALSE(syntax::is_valid_datetime("2023-01-01T24:00:00Z"));
  CHECK_FALSE(syntax::is_valid_datetime("2023-01-01T00:00:00+24:00"));
  CHECK_FALSE(syntax::is_valid_datetime("2023-01-01T00:00:00+01:60"));
  CHECK(syntax::is_valid_datetime("2023-01-01T00:00:00+23:59"));
  CHECK(syntax::is_valid_datetime("0000-01-01T00:00:00-01:00"));  // 01:00 UTC
  CHECK(syntax::is_valid_datetime("0000-01-01T01:00:00+01:00"));  // exactly year 0 UTC
  CHECK_FALSE(syntax::is_valid_datetime("0000-01-01T00:59:00+01:00"));
  CHECK(syntax::is_valid_datetime("1985-04-12T23:20:50." + std::string(20, '1') + "Z"));
  CHECK_FALSE(syntax::is_valid_datetime("1985-04-12T23:20:50." + std::string(21, '1') + "Z"));
  CHECK_FALSE(syntax::is_valid_datetime("1985-04-12T23:20:50.123Zjunk"));
}

TEST_CASE("language tags: grammar corner cases") {
  for (const char* ok : {"en", "zh-min-nan", "zh-yue-abc-def", "en-Latn-US-x-a", "x-a",
                         "art-lojban", "en-GB-oed", "en-gb-OED", "de-1996", "en-a-bbb-x-a-ccc"}) {
    INFO(ok);
    CHECK(syntax::is_valid_language(ok));
  }
  for (const char* bad : {"en-abc-def-ghi-jkl",  // four extlangs
                          "en-US-Latn",          // script after region
                          "en-a",                // extension without subtags
                          "en-x",                // private use without subtags
                          "x",                   // same
                          "en-a-b-c",            // extension subtags must be 2-8 long
                          "en-abcdefghi",        // subtag longer than 8
                          "en--US", "-en", "en-US-", "i-foo", "I-DEFAULT", "EN-GB-oed"}) {
    INFO(bad);
    CHECK_FALSE(syntax::is_valid_language(bad));
  }
  std::string private_use = "x";
  for (int i = 0; i < 14; ++i) private_use += "-aaaaaaaa";
  CHECK(syntax::is_valid_language(private_use));          // 127 characters
  CHECK_FALSE(syntax::is_valid_language(private_use + "-a"));  // 129: too long
  // Private-use subtags may repeat; only variants and singletons may not.
  CHECK(syntax::is_valid_language("en-x-a-a"));
}

// parse_datetime reads every valid atproto datetime, to the same instant as
// its UTC spelling, and nothing that is not one of the RFC 3339 form.
TEST_CASE("parse_datetime: valid datetimes and their instants") {
  using namespace std::chrono;
  for (const auto& line : fixture_lines("syntax/datetime_syntax_valid.txt")) {
    INFO(line);
    CHECK(atcr::parse_datetime(line).has_value());
  }
  auto utc = atcr::parse_datetime("2025-10-14T12:00:00.123Z");
  REQUIRE(utc);
  CHECK(*utc == system_clock::time_point(milliseconds(1760443200123)));
  CHECK(atcr::parse_datetime("2025-10-14T14:30:00.123+02:30") == utc);
  CHECK(atcr::parse_datetime("2025-10-14T11:00:00.123-01:00") == utc);
  CHECK(atcr::parse_datetime("2025-10-14T12:00:00.123456789Z") == *utc + microseconds(456));
  CHECK(atcr::format_datetime(*atcr::parse_datetime(atcr::now_datetime())).size() == 24);
  for (const char* bad : {"", "2025-10-14", "2025-02-30T00:00:00Z", "2025-10-14T24:00:00Z", "2025-10-14T12:00:00.Z",
                          "2025-10-14T12:00:00Zjunk", "2025-10-14T12:00:00+0200", "2025-1a-14T12:00:00Z"}) {
    INFO(bad);
    CHECK_FALSE(atcr::parse_datetime(bad).has_value());
  }
}

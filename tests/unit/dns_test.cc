// DNS TXT lookups. Only what works offline: name checks, a lookup under the
// reserved .invalid TLD (whatever the resolver answers, it must answer
// within the timeout), and the response parser on hand-built messages.
#include "atcr/net/dns.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace atcr;
using namespace atcr::net;

namespace {

constexpr std::uint16_t kTypeA = 1, kTypeCname = 5, kTypeTxt = 16;
constexpr std::uint16_t kClassIn = 1, kClassChaos = 3;
constexpr std::uint16_t kResponse = 0x8180;  // QR, RD, RA; NOERROR

// A DNS message in wire format, built field by field (RFC 1035 4.1).
class Message {
 public:
  Message(std::uint16_t flags, std::uint16_t answers, std::string_view qname = "_atproto.example.com") {
    put16(0x1234);  // id
    put16(flags);
    put16(1);
    put16(answers);
    put16(0);
    put16(0);
    name(qname);
    put16(kTypeTxt);
    put16(kClassIn);
  }

  Message& record(std::string_view owner, std::uint16_t type, const Bytes& rdata, std::uint16_t klass = kClassIn) {
    name(owner);
    return record_fields(type, klass, rdata);
  }
  // A record whose owner is a compression pointer to the question's name.
  Message& record_at_question(std::uint16_t type, const Bytes& rdata) {
    put16(0xC00C);
    return record_fields(type, kClassIn, rdata);
  }

  Bytes bytes;

 private:
  Message& record_fields(std::uint16_t type, std::uint16_t klass, const Bytes& rdata) {
    put16(type);
    put16(klass);
    put16(0);
    put16(300);  // ttl
    put16(static_cast<std::uint16_t>(rdata.size()));
    bytes.insert(bytes.end(), rdata.begin(), rdata.end());
    return *this;
  }
  void put16(std::uint16_t v) {
    bytes.push_back(static_cast<std::uint8_t>(v >> 8));
    bytes.push_back(static_cast<std::uint8_t>(v));
  }
  void name(std::string_view dotted) { append_name(bytes, dotted); }

 public:
  static void append_name(Bytes& out, std::string_view dotted) {
    while (!dotted.empty()) {
      auto dot = dotted.find('.');
      auto label = dotted.substr(0, dot);
      out.push_back(static_cast<std::uint8_t>(label.size()));
      out.insert(out.end(), label.begin(), label.end());
      dotted = dot == std::string_view::npos ? "" : dotted.substr(dot + 1);
    }
    out.push_back(0);
  }
};

Bytes txt(std::initializer_list<std::string_view> strings) {
  Bytes out;
  for (auto s : strings) {
    out.push_back(static_cast<std::uint8_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

Bytes name_rdata(std::string_view dotted) {
  Bytes out;
  Message::append_name(out, dotted);
  return out;
}

using Strings = std::vector<std::string>;

Strings parse(const Message& m, std::string_view name = "_atproto.example.com") {
  return parse_txt_response(m.bytes, name);
}

}  // namespace

TEST_CASE("parse_txt_response: one record, one string") {
  Message m(kResponse, 1);
  m.record("_atproto.example.com", kTypeTxt, txt({"did=did:plc:ewvi7nxzyoun6zhxrhs64oiz"}));
  CHECK(parse(m) == Strings{"did=did:plc:ewvi7nxzyoun6zhxrhs64oiz"});
}

TEST_CASE("parse_txt_response: a record's strings are concatenated, records kept apart and in order") {
  Message m(kResponse, 3);
  m.record("_atproto.example.com", kTypeTxt, txt({"did=did:plc:", "abc", "", "def"}))
      .record_at_question(kTypeTxt, txt({"second"}))
      .record("_atproto.example.com", kTypeTxt, txt({std::string(255, 'x'), "y"}));
  CHECK(parse(m) == Strings{"did=did:plc:abcdef", "second", std::string(255, 'x') + "y"});
}

TEST_CASE("parse_txt_response: other names, types and classes are ignored") {
  Message m(kResponse, 4);
  m.record("other.example.com", kTypeTxt, txt({"not ours"}))
      .record("_atproto.example.com", kTypeA, Bytes{127, 0, 0, 1})
      .record("_atproto.example.com", kTypeTxt, txt({"chaos"}), kClassChaos)
      .record("_ATPROTO.Example.COM", kTypeTxt, txt({"ours"}));
  CHECK(parse(m) == Strings{"ours"});
  // The query name is matched case-insensitively, with or without the root dot.
  CHECK(parse(m, "_atproto.EXAMPLE.com.") == Strings{"ours"});
}

TEST_CASE("parse_txt_response: follows the answer's CNAME chain") {
  Message m(kResponse, 4);
  m.record("_atproto.example.com", kTypeCname, name_rdata("alias.example.net"))
      .record("stray.example.org", kTypeTxt, txt({"stray"}))
      .record("target.example.org", kTypeTxt, txt({"did=did:web:example.org"}))
      .record("alias.example.net", kTypeCname, name_rdata("target.example.org"));
  CHECK(parse(m) == Strings{"did=did:web:example.org"});

  Message loop(kResponse, 2);
  loop.record("_atproto.example.com", kTypeCname, name_rdata("b.example.com"))
      .record("b.example.com", kTypeCname, name_rdata("_atproto.example.com"));
  CHECK_THROWS_WITH_AS(parse(loop), doctest::Contains("CNAME chain"), DnsError);
}

TEST_CASE("parse_txt_response: NXDOMAIN and NODATA are empty, other codes are errors") {
  CHECK(parse(Message(0x8183, 0)).empty());  // NXDOMAIN
  CHECK(parse(Message(kResponse, 0)).empty());
  CHECK_THROWS_WITH_AS(parse(Message(0x8182, 0)), doctest::Contains("SERVFAIL"), DnsError);
  CHECK_THROWS_WITH_AS(parse(Message(0x8185, 0)), doctest::Contains("REFUSED"), DnsError);
}

TEST_CASE("parse_txt_response: rejects truncated and malformed answers") {
  Message good(kResponse, 2);
  good.record("_atproto.example.com", kTypeTxt, txt({"did=did:plc:abc", "def"}))
      .record_at_question(kTypeTxt, txt({"x"}));
  REQUIRE(parse(good).size() == 2);

  SUBCASE("every proper prefix") {
    for (std::size_t n = 0; n < good.bytes.size(); ++n) {
      CAPTURE(n);
      CHECK_THROWS_AS(parse_txt_response(BytesView(good.bytes).first(n), "_atproto.example.com"), DnsError);
    }
  }
  SUBCASE("trailing bytes") {
    Bytes longer = good.bytes;
    longer.push_back(0);
    CHECK_THROWS_AS(parse_txt_response(longer, "_atproto.example.com"), DnsError);
  }
  SUBCASE("a character-string running past its record") {
    Message m(kResponse, 1);
    m.record("_atproto.example.com", kTypeTxt, Bytes{3, 'a', 'b', 'c', 9, 'd'});
    CHECK_THROWS_WITH_AS(parse(m), doctest::Contains("runs past"), DnsError);
  }
  SUBCASE("a TXT record without strings") {
    Message m(kResponse, 1);
    m.record("_atproto.example.com", kTypeTxt, Bytes{});
    CHECK_THROWS_AS(parse(m), DnsError);
  }
  SUBCASE("a compression pointer loop") {
    Message m(kResponse, 1);
    std::size_t at = m.bytes.size();
    m.bytes.push_back(0xC0);  // owner name: a pointer to itself
    m.bytes.push_back(static_cast<std::uint8_t>(at));
    m.bytes.insert(m.bytes.end(), {0, 16, 0, 1, 0, 0, 1, 44, 0, 2, 1, 'x'});
    CHECK_THROWS_AS(parse(m), DnsError);
  }
  SUBCASE("a CNAME whose target runs past its record") {
    Message m(kResponse, 1);
    m.record("_atproto.example.com", kTypeCname, Bytes{5, 'a', 'b'});
    CHECK_THROWS_AS(parse(m), DnsError);
  }
  SUBCASE("a truncated (TC) response") {
    Message m(0x8380, 0);
    CHECK_THROWS_WITH_AS(parse(m), doctest::Contains("TC"), DnsError);
  }
  SUBCASE("a query instead of a response") { CHECK_THROWS_AS(parse(Message(0x0100, 0)), DnsError); }
  SUBCASE("an answer to another question") {
    CHECK_THROWS_WITH_AS(parse(Message(kResponse, 0, "_atproto.example.org")), doctest::Contains("different question"),
                         DnsError);
  }
}

TEST_CASE("names are checked before any query") {
  using namespace std::chrono_literals;
  const std::vector<std::string> bad = {
      "",
      ".",
      "..",
      "a..b",
      ".a",
      "example.com..",
      "exa mple.com",
      "ex\nample.com",
      "a/b.com",
      "a@b.com",
      "caf\xc3\xa9.com",
      std::string("nul\0.com", 8),
      std::string(64, 'a') + ".com",
      std::string(254, 'a'),
      // 254 characters in short labels.
      [] {
        std::string s = "b";
        while (s.size() < 253) s += "a.";
        return s + "a";
      }(),
  };
  for (const auto& name : bad) {
    CAPTURE(name);
    auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(lookup_txt(name, 5000ms), ParseError);
    CHECK(std::chrono::steady_clock::now() - started < 100ms);  // no query was sent
    CHECK_THROWS_AS(parse_txt_response(Bytes{}, name), ParseError);
  }
  // The limits themselves are fine: the parser gets past the name and
  // complains about the (empty) message instead.
  std::string longest;
  while (longest.size() < 251) longest += std::string(63, 'b') + ".";
  longest.resize(253);
  const std::vector<std::string> good = {longest, longest + ".", std::string(63, 'a') + ".com",
                                         "_atproto.Example-1.COM", "localhost"};
  for (const auto& name : good) {
    CAPTURE(name);
    CHECK_THROWS_AS(parse_txt_response(Bytes{}, name), DnsError);
  }
}

TEST_CASE("a lookup under .invalid answers empty or fails, within the timeout") {
  using namespace std::chrono_literals;
  // No nameserver may be reachable here: either outcome is right, hanging
  // is not. glibc gives each configured server (at most 3) at least 1 s.
  auto started = std::chrono::steady_clock::now();
  try {
    CHECK(lookup_txt("_atproto.atcr-test.invalid", 1000ms).empty());
  } catch (const DnsError& e) {
    CHECK(std::string(e.what()).find("_atproto.atcr-test.invalid") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - started < 8s);
}

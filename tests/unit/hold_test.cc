#include <doctest/doctest.h>

#include "atcr/data/datetime.h"
#include "atcr/data/syntax.h"
#include "atcr/error.h"
#include "atcr/hold/crew.h"
#include "hold/quota.h"

using namespace atcr;
using namespace atcr::hold;

namespace {

const std::string kOwner = "did:plc:ownerownerownerowner0000";
const std::string kAlice = "did:plc:alicealicealicealice0000";

CrewMember crew(std::string member, std::vector<std::string> permissions) {
  CrewMember c;
  c.member = std::move(member);
  c.role = "write";
  c.permissions = std::move(permissions);
  c.added_at = "2026-01-01T00:00:00.000Z";
  return c;
}

Captain captain(bool is_public, bool allow_all_crew) {
  Captain c;
  c.owner = kOwner;
  c.is_public = is_public;
  c.allow_all_crew = allow_all_crew;
  c.deployed_at = "2026-01-01T00:00:00.000Z";
  return c;
}

// "allow", or the refusal's status.
std::string outcome(const Captain& cap, const CrewMember* c, std::string_view caller, Access a) {
  Decision d = authorize(cap, c, caller, a);
  if (d) return "allow";
  CHECK_FALSE(d.reason.empty());
  return std::to_string(d.status) + " " + d.error;
}

}  // namespace

TEST_CASE("hold access: the full matrix of caller x hold settings x access") {
  CrewMember reader = crew(kAlice, {"blob:read"});
  CrewMember writer = crew(kAlice, {"blob:read", "blob:write"});
  CrewMember write_only = crew(kAlice, {"blob:write"});
  CrewMember admin = crew(kAlice, {"crew:admin"});

  struct Row {
    bool is_public, allow_all;
    const CrewMember* crew;
    std::string caller;
    Access access;
    std::string expected;
  };
  const std::string anon;
  const Row rows[] = {
      // public holds: anyone reads; writes need crew.
      {true, false, nullptr, anon, Access::kRead, "allow"},
      {true, false, nullptr, kAlice, Access::kRead, "allow"},
      {true, false, nullptr, anon, Access::kWrite, "401 AuthRequired"},
      {true, false, nullptr, kAlice, Access::kWrite, "403 Forbidden"},
      {true, false, &reader, kAlice, Access::kWrite, "403 Forbidden"},
      {true, false, &writer, kAlice, Access::kWrite, "allow"},
      // private holds: anonymous gets 401, non-crew 403.
      {false, false, nullptr, anon, Access::kRead, "401 AuthRequired"},
      {false, false, nullptr, kAlice, Access::kRead, "403 Forbidden"},
      {false, false, &reader, kAlice, Access::kRead, "allow"},
      {false, false, &write_only, kAlice, Access::kRead, "allow"},  // write implies read
      {false, false, &reader, kAlice, Access::kWrite, "403 Forbidden"},
      {false, false, &writer, kAlice, Access::kWrite, "allow"},
      {false, false, nullptr, kOwner, Access::kRead, "allow"},
      {false, false, nullptr, kOwner, Access::kWrite, "allow"},
      {false, false, nullptr, kOwner, Access::kAdmin, "allow"},
      // allowAllCrew: any authenticated user reads and writes, never anonymous.
      {false, true, nullptr, kAlice, Access::kRead, "allow"},
      {false, true, nullptr, kAlice, Access::kWrite, "allow"},
      {false, true, nullptr, anon, Access::kWrite, "401 AuthRequired"},
      {false, true, nullptr, anon, Access::kRead, "401 AuthRequired"},
      {false, true, nullptr, kAlice, Access::kAdmin, "403 Forbidden"},
      // admin
      {false, false, &writer, kAlice, Access::kAdmin, "403 Forbidden"},
      {false, false, &admin, kAlice, Access::kAdmin, "allow"},
      {false, false, &admin, kAlice, Access::kWrite, "allow"},
      {false, false, nullptr, anon, Access::kAdmin, "401 AuthRequired"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.is_public);
    CAPTURE(r.allow_all);
    CAPTURE(r.caller);
    CAPTURE(static_cast<int>(r.access));
    CHECK(outcome(captain(r.is_public, r.allow_all), r.crew, r.caller, r.access) == r.expected);
  }
}

TEST_CASE("hold access: a crew record only counts for its own member") {
  CrewMember writer = crew(kAlice, {"blob:write"});
  CHECK(outcome(captain(false, false), &writer, "did:plc:mallorymallorymallory000", Access::kWrite) ==
        "403 Forbidden");
}

TEST_CASE("hold records: captain and crew round-trip and read leniently") {
  Captain c = captain(true, false);
  c.region = "us-east-1";
  Captain back = Captain::from_record(c.to_record());
  CHECK(back.owner == c.owner);
  CHECK(back.is_public);
  CHECK(back.region == "us-east-1");
  CHECK(c.to_record().at("$type").as_string() == "io.atcr.hold.captain");
  CHECK_THROWS_AS(Captain::from_record(Value(Value::Map{{"public", Value(true)}})), ParseError);

  CrewMember m = crew(kAlice, {"blob:read", "blob:write"});
  m.tier = "bosun";
  CrewMember mb = CrewMember::from_record(m.to_record());
  CHECK(mb.member == kAlice);
  CHECK(mb.permissions == m.permissions);
  CHECK(mb.tier == "bosun");
  // Pre-lexicon records named the member "did".
  CHECK(CrewMember::from_record(Value(Value::Map{{"did", Value(kAlice)}, {"role", Value("admin")}})).member ==
        kAlice);
  CHECK_THROWS_AS(CrewMember::from_record(Value("nope")), ParseError);
}

TEST_CASE("hold records: crew record keys are valid and deterministic") {
  CHECK(crew_rkey(kAlice) == kAlice);
  std::string web = crew_rkey("did:web:localhost%3A8080");
  CHECK(syntax::is_valid_record_key(web));
  CHECK(web == crew_rkey("did:web:localhost%3A8080"));
  CHECK(web != crew_rkey("did:web:localhost%3A8081"));
}

TEST_CASE("datetime: records carry RFC 3339 UTC with milliseconds") {
  using namespace std::chrono;
  CHECK(format_datetime(system_clock::time_point(milliseconds(0))) == "1970-01-01T00:00:00.000Z");
  CHECK(format_datetime(system_clock::time_point(milliseconds(1760443200123))) == "2025-10-14T12:00:00.123Z");
  CHECK(syntax::is_valid_datetime(now_datetime()));
}

TEST_CASE("hold quota: usage counts each digest once per user and follows record removal") {
  Usage usage;
  usage.add({kAlice, "sha256:aa", 100});
  usage.add({kAlice, "sha256:aa", 100});  // a second image sharing the layer
  usage.add({kAlice, "sha256:bb", 50});
  usage.add({kOwner, "sha256:aa", 100});
  CHECK(usage.of(kAlice).total_bytes == 150);
  CHECK(usage.of(kAlice).unique_blobs == 2);
  CHECK(usage.added_by(kAlice, {{kAlice, "sha256:aa", 100}, {kAlice, "sha256:cc", 7}, {kAlice, "sha256:cc", 7}}) ==
        7);
  usage.remove({kAlice, "sha256:aa", 100});
  CHECK(usage.of(kAlice).total_bytes == 150);  // still referenced once
  usage.remove({kAlice, "sha256:aa", 100});
  CHECK(usage.of(kAlice).total_bytes == 50);
  CHECK(usage.of("did:plc:nobody").total_bytes == 0);
}

TEST_CASE("hold quota: limits by tier, with the owner unlimited and a fallback tier") {
  HoldConfig::Quota q;
  q.tiers = {{"deckhand", 5}, {"bosun", 50}};
  q.default_tier = "deckhand";
  CHECK_FALSE(limit_for(q, false, "bosun").bytes.has_value());  // quotas off
  q.enabled = true;
  CHECK(limit_for(q, false, "bosun").bytes == 50u);
  CHECK(limit_for(q, false, "").bytes == 5u);
  CHECK(limit_for(q, false, "admiral").tier == "deckhand");
  CHECK_FALSE(limit_for(q, true, "").bytes.has_value());
  CHECK(format_size(5'000'000'000ULL) == "5.0 GB");
  CHECK(format_size(999) == "999 B");
}

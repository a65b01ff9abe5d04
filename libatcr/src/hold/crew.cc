#include "atcr/hold/crew.h"

#include <fmt/core.h>

#include <algorithm>

#include "atcr/crypto/sha256.h"
#include "atcr/data/syntax.h"
#include "atcr/encoding/base32.h"
#include "atcr/error.h"
#include "hold/input.h"

namespace atcr::hold {

namespace {

using input::record_bool;
using input::record_string;

void put_if_set(Value::Map& map, std::string_view key, const std::string& value) {
  if (!value.empty()) map[key] = Value(value);
}

Decision allow() { return Decision{true, 200, "", ""}; }

Decision deny(int status, std::string error, std::string reason) {
  return Decision{false, status, std::move(error), std::move(reason)};
}

}  // namespace

Value Captain::to_record() const {
  Value::Map m{
      {"$type", Value(kCaptainCollection)},
      {"owner", Value(owner)},
      {"public", Value(is_public)},
      {"allowAllCrew", Value(allow_all_crew)},
      {"enableBlueskyPosts", Value(enable_bluesky_posts)},
      {"deployedAt", Value(deployed_at)},
  };
  put_if_set(m, "region", region);
  put_if_set(m, "provider", provider);
  put_if_set(m, "successor", successor);
  return Value(std::move(m));
}

Captain Captain::from_record(const Value& record) {
  if (!record.is_map()) throw ParseError("captain record: not an object");
  Captain c;
  c.owner = record_string(record, "owner");
  if (!syntax::is_valid_did(c.owner)) throw ParseError("captain record: owner is not a DID");
  c.is_public = record_bool(record, "public");
  c.allow_all_crew = record_bool(record, "allowAllCrew");
  c.enable_bluesky_posts = record_bool(record, "enableBlueskyPosts");
  c.deployed_at = record_string(record, "deployedAt");
  c.region = record_string(record, "region");
  c.provider = record_string(record, "provider");
  c.successor = record_string(record, "successor");
  return c;
}

bool CrewMember::has(std::string_view permission) const {
  return std::find(permissions.begin(), permissions.end(), permission) != permissions.end();
}

Value CrewMember::to_record() const {
  Value::Array perms;
  for (const auto& p : permissions) perms.emplace_back(p);
  Value::Map m{
      {"$type", Value(kCrewCollection)},
      {"member", Value(member)},
      {"role", Value(role)},
      {"permissions", Value(std::move(perms))},
      {"addedAt", Value(added_at)},
  };
  put_if_set(m, "tier", tier);
  return Value(std::move(m));
}

CrewMember CrewMember::from_record(const Value& record) {
  if (!record.is_map()) throw ParseError("crew record: not an object");
  CrewMember c;
  c.member = record_string(record, "member");
  if (c.member.empty()) c.member = record_string(record, "did");  // pre-lexicon records
  if (!syntax::is_valid_did(c.member)) throw ParseError("crew record: member is not a DID");
  c.role = record_string(record, "role");
  if (const Value* perms = record.find("permissions"); perms && perms->is_array()) {
    for (const Value& p : perms->as_array())
      if (p.is_string()) c.permissions.push_back(p.as_string());
  }
  c.tier = record_string(record, "tier");
  c.added_at = record_string(record, "addedAt");
  return c;
}

bool is_known_role(std::string_view role) {
  for (std::string_view known : {"owner", "admin", "write", "read", "member"})
    if (role == known) return true;
  return false;
}

std::string crew_rkey(std::string_view member_did) {
  if (syntax::is_valid_record_key(member_did)) return std::string(member_did);
  auto hash = sha256(as_bytes(member_did));
  return "crew-" + base32::encode(BytesView(hash.data(), 16));
}

Decision authorize(const Captain& captain, const CrewMember* crew, std::string_view caller, Access access) {
  if (access == Access::kRead && captain.is_public) return allow();
  if (caller.empty())
    return deny(401, "AuthRequired", "this hold needs a service token from a crew member");
  if (caller == captain.owner) return allow();

  bool is_crew = crew != nullptr && crew->member == caller;
  bool admin = is_crew && crew->has(kCrewAdmin);
  switch (access) {
    case Access::kRead:
      if (admin || (is_crew && (crew->has(kBlobRead) || crew->has(kBlobWrite)))) return allow();
      if (captain.allow_all_crew) return allow();
      return deny(403, "Forbidden", fmt::format("{} may not read from this hold (not crew)", caller));
    case Access::kWrite:
      if (admin || (is_crew && crew->has(kBlobWrite))) return allow();
      if (captain.allow_all_crew) return allow();
      return deny(403, "Forbidden",
                  fmt::format("{} may not write to this hold (needs crew with blob:write)", caller));
    case Access::kAdmin:
      if (admin) return allow();
      return deny(403, "Forbidden", fmt::format("{} is not an admin of this hold", caller));
  }
  return deny(403, "Forbidden", "unknown access");
}

}  // namespace atcr::hold

// io.atcr.hold.requestCrew: joining a hold's crew. Open to any
// authenticated user when the captain allows all crew; otherwise only the
// owner may (re)join, and everyone else is refused with
// RegistrationDisabled (an admin adds members by writing crew records).
//
// Self-service members get blob:read and blob:write at most, whatever they
// ask for: crew:admin is never granted this way. The role is one of the
// known roles (owner and admin are stored as member); anything else is 400.
#include <fmt/core.h>

#include <algorithm>

#include "atcr/data/datetime.h"
#include "hold/hold_impl.h"
#include "hold/input.h"

namespace atcr::hold {

namespace {

constexpr std::string_view kRequestCrew = "io.atcr.hold.requestCrew";

std::vector<std::string> granted_permissions(const Value& in) {
  std::vector<std::string> granted;
  const Value* asked = input::field(in, "permissions");
  if (!asked || !asked->is_array()) return {std::string(kBlobRead), std::string(kBlobWrite)};
  for (const Value& p : asked->as_array()) {
    if (!p.is_string()) input::invalid("permissions must be strings");
    const std::string& name = p.as_string();
    if (name != kBlobRead && name != kBlobWrite) continue;
    if (std::find(granted.begin(), granted.end(), name) == granted.end()) granted.push_back(name);
  }
  if (granted.empty()) granted.emplace_back(kBlobRead);
  return granted;
}

// The role to store: one of the known roles, never owner or admin (those
// come from the hold's config or an admin's write).
std::string requested_role(const Value& in) {
  std::string role = input::optional_string(in, "role", 32).value_or("member");
  if (!is_known_role(role))
    input::invalid("role must be one of \"member\", \"read\", \"write\" (or \"owner\", \"admin\": stored as \"member\")");
  return role == "owner" || role == "admin" ? "member" : role;
}

std::string crew_uri(std::string_view hold_did, std::string_view rkey) {
  return fmt::format("at://{}/{}/{}", hold_did, kCrewCollection, rkey);
}

}  // namespace

void Hold::Impl::register_crew_endpoints(xrpc::XrpcServer& server) {
  server.procedure(kRequestCrew, [this](const xrpc::ServerRequest& req) {
    std::string who = caller(req, kRequestCrew);
    if (who.empty()) throw xrpc::XrpcError(401, "AuthRequired", "requestCrew needs a service token");
    Value in = req.body.empty() ? Value(Value::Map{}) : req.json();
    std::string role = requested_role(in);
    std::vector<std::string> permissions = granted_permissions(in);

    access.ensure_current(*pds);
    Captain captain = access.captain();
    std::string rkey = crew_rkey(who);
    if (auto existing = access.crew(who)) {
      return xrpc::ServerResponse::json(Value(Value::Map{
          {"status", Value("already_member")},
          {"uri", Value(crew_uri(pds->did(), rkey))},
      }));
    }
    if (!captain.allow_all_crew && who != captain.owner)
      throw xrpc::XrpcError(403, "RegistrationDisabled", "this hold does not let users join its crew");

    CrewMember member;
    member.member = who;
    member.role = std::move(role);
    member.permissions = std::move(permissions);
    member.added_at = now_datetime();

    std::lock_guard lock(records_mu);
    if (access.crew(who)) {  // joined meanwhile
      return xrpc::ServerResponse::json(Value(Value::Map{
          {"status", Value("already_member")},
          {"uri", Value(crew_uri(pds->did(), rkey))},
      }));
    }
    bool exists = pds->get_record(kCrewCollection, rkey).has_value();
    RecordWrite write = exists ? RecordWrite::update(std::string(kCrewCollection), rkey, member.to_record())
                               : RecordWrite::create(std::string(kCrewCollection), rkey, member.to_record());
    CommitResult result = commit({write}, {member});
    Value::Map out{
        {"status", Value("created")},
        {"uri", Value(crew_uri(pds->did(), rkey))},
    };
    for (const RecordOp& op : result.ops)
      if (op.cid) out["cid"] = Value(op.cid->to_string());
    return xrpc::ServerResponse::json(Value(std::move(out)));
  });
}

}  // namespace atcr::hold

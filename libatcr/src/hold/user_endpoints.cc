// What the hold keeps about a user or an image, asked for by them or by
// whoever may manage the hold:
//
//   io.atcr.hold.getLayersForManifest  (query)     manifest (at-uri) -> {layers: [io.atcr.hold.layer records]}
//       Read access (anyone on a public hold, the crew on a private one):
//       the same records the hold's repo publishes.
//   io.atcr.hold.exportUserData        (query)     -> {exportedAt, holdDid, userDid, isCaptain, crewRecord?,
//       layerRecords, statsRecords, blueskyPosts}: the caller's own data
//       (GDPR), named by their service token; AuthRequired without one.
//       blueskyPosts: [{uri, text, createdAt}] of the hold's posts about
//       the caller's pushes.
//   io.atcr.hold.updateCrewTier        (procedure) {userDid, tierRank} -> {tierName}
//       tierRank indexes listTiers (smallest quota first). Only the hold's
//       admins (crew:admin, the owner) or registration.appview_did;
//       UserNotFound for a DID with no crew record.
#include <fmt/core.h>

#include "atcr/data/datetime.h"
#include "atcr/data/syntax.h"
#include "atcr/oci/hold_records.h"
#include <set>

#include "hold/bluesky.h"
#include "hold/hold_impl.h"
#include "hold/input.h"

namespace atcr::hold {

namespace {

constexpr std::string_view kGetLayers = "io.atcr.hold.getLayersForManifest";
constexpr std::string_view kExport = "io.atcr.hold.exportUserData";
constexpr std::string_view kUpdateTier = "io.atcr.hold.updateCrewTier";

using input::record_string;

// A record's fields as the export lists them (those present).
Value pick(const Value& record, std::initializer_list<std::string_view> keys) {
  Value::Map out;
  for (std::string_view key : keys)
    if (const Value* v = record.find(key)) out[std::string(key)] = *v;
  return Value(std::move(out));
}

// Whether `post` links to a repository page of `who` (a DID or handle).
bool links_to(const Value& post, const std::string& who) {
  const Value* facets = post.find("facets");
  if (who.empty() || !facets || !facets->is_array()) return false;
  for (const Value& facet : facets->as_array()) {
    const Value* features = facet.find("features");
    if (!features || !features->is_array()) continue;
    for (const Value& f : features->as_array())
      if (record_string(f, "uri").find("/r/" + net::url_encode(who) + "/") != std::string::npos) return true;
  }
  return false;
}

// The caller's crew record as the export shows it.
Value crew_export(const CrewMember& crew) {
  Value::Array permissions;
  for (const auto& p : crew.permissions) permissions.emplace_back(p);
  Value::Map c{{"role", Value(crew.role)},
               {"addedAt", Value(crew.added_at)},
               {"permissions", Value(std::move(permissions))}};
  if (!crew.tier.empty()) c["tier"] = Value(crew.tier);
  return Value(std::move(c));
}

}  // namespace

Value::Array Hold::Impl::posts_about(const std::string& user) {
  std::vector<std::string> logged = posts->rkeys_of(user);
  std::set<std::string> keys(logged.begin(), logged.end());
  std::string handle;
  try {
    handle = resolver->resolve(user).handle.value_or("");
  } catch (const Error&) {
    // matched by DID alone
  }
  Value::Array out;
  for_each_record(*pds, kPostCollection, [&](const pds::ListedRecord& r) {
    std::string rkey = r.uri.substr(r.uri.rfind('/') + 1);
    if (!keys.contains(rkey) && !links_to(r.value, user) && !links_to(r.value, handle)) return;
    out.push_back(Value(Value::Map{{"uri", Value(r.uri)},
                                   {"text", Value(record_string(r.value, "text"))},
                                   {"createdAt", Value(record_string(r.value, "createdAt"))}}));
  });
  return out;
}

xrpc::ServerResponse Hold::Impl::get_layers_for_manifest(const xrpc::ServerRequest& req) {
  std::string manifest = req.required_param("manifest");
  if (!syntax::is_valid_at_uri(manifest)) input::invalid("manifest must be an at:// URI");
  require(req, kGetLayers, Access::kRead);
  Value::Array layers;
  for_each_record(*pds, oci::kLayerCollection, [&](const pds::ListedRecord& r) {
    if (record_string(r.value, "manifest") == manifest) layers.push_back(r.value);
  });
  return xrpc::ServerResponse::json(Value(Value::Map{{"layers", Value(std::move(layers))}}));
}

xrpc::ServerResponse Hold::Impl::export_user_data(const xrpc::ServerRequest& req) {
  std::string who = caller(req, kExport);
  if (who.empty()) throw xrpc::XrpcError(401, "AuthRequired", "exportUserData needs a service token");
  access.ensure_current(*pds);
  Value::Map out{
      {"exportedAt", Value(now_datetime())},
      {"holdDid", Value(pds->did())},
      {"userDid", Value(who)},
      {"isCaptain", Value(access.captain().owner == who)},
  };
  if (auto crew = access.crew(who)) out["crewRecord"] = crew_export(*crew);
  Value::Array layers, stats;
  for_each_record(*pds, oci::kLayerCollection, [&](const pds::ListedRecord& r) {
    if (record_string(r.value, "userDid") == who)
      layers.push_back(pick(r.value, {"size", "digest", "manifest", "createdAt", "mediaType"}));
  });
  for_each_record(*pds, oci::kStatsCollection, [&](const pds::ListedRecord& r) {
    if (record_string(r.value, "ownerDid") == who)
      stats.push_back(pick(r.value, {"repository", "pullCount", "pushCount", "lastPull", "lastPush", "updatedAt"}));
  });
  out["layerRecords"] = Value(std::move(layers));
  out["statsRecords"] = Value(std::move(stats));
  out["blueskyPosts"] = Value(posts_about(who));
  return xrpc::ServerResponse::json(Value(std::move(out)));
}

// updateCrewTier's tier: the name of listTiers' `tierRank`th tier.
std::string Hold::Impl::tier_at_rank(std::int64_t rank) const {
  auto tiers = ranked_tiers(config.quota);
  if (!config.quota.enabled || rank >= static_cast<std::int64_t>(tiers.size()))
    input::invalid(fmt::format("tierRank {} is not one of this hold's {} tiers (listTiers)", rank,
                               config.quota.enabled ? tiers.size() : 0));
  return tiers[static_cast<std::size_t>(rank)].first;
}

xrpc::ServerResponse Hold::Impl::update_crew_tier(const xrpc::ServerRequest& req) {
  std::string who = caller(req, kUpdateTier);
  if (who.empty()) throw xrpc::XrpcError(401, "AuthRequired", "updateCrewTier needs a service token");
  if (who != config.registration.appview_did || who.empty()) require(req, kUpdateTier, Access::kAdmin);
  Value in = req.json();
  std::string user = input::required_string(in, "userDid", 2048);
  if (!syntax::is_valid_did(user)) input::invalid("userDid is not a DID");
  const std::string tier = tier_at_rank(input::required_integer(in, "tierRank", 0, 1000));

  std::lock_guard lock(records_mu);
  std::optional<std::pair<std::string, CrewMember>> found;
  for_each_record(*pds, kCrewCollection, [&](const pds::ListedRecord& r) {
    if (found || record_string(r.value, "member") != user) return;
    try {
      found.emplace(r.uri.substr(r.uri.rfind('/') + 1), CrewMember::from_record(r.value));
    } catch (const ParseError&) {
    }
  });
  if (!found) throw xrpc::XrpcError(404, "UserNotFound", fmt::format("{} is not in this hold's crew", user));
  auto& [rkey, member] = *found;
  if (member.tier != tier) {
    member.tier = tier;
    commit({RecordWrite::update(std::string(kCrewCollection), rkey, member.to_record())});
    access.invalidate();  // a changed crew record, not an added one
  }
  return xrpc::ServerResponse::json(Value(Value::Map{{"tierName", Value(tier)}}));
}

void Hold::Impl::register_user_endpoints(xrpc::XrpcServer& server) {
  server.query(kGetLayers, [this](const xrpc::ServerRequest& req) { return get_layers_for_manifest(req); });
  server.query(kExport, [this](const xrpc::ServerRequest& req) { return export_user_data(req); });
  server.procedure(kUpdateTier, [this](const xrpc::ServerRequest& req) { return update_crew_tier(req); });
}

}  // namespace atcr::hold

// io.atcr.hold.notifyManifest, getQuota and listTiers: what the hold keeps
// about the images whose blobs it stores.
//
// A push notification writes one io.atcr.hold.layer record per blob (the
// config and each layer) and bumps the repository's io.atcr.hold.stats
// record, in one commit, after checking the pusher's quota (the blobs are
// already uploaded: an over-quota push fails at the manifest, as in ATCR).
// A pull notification only bumps the stats. Either needs the user's own
// service token (the AppView's, minted by the user's PDS): userDid must be
// its issuer.
#include <fmt/core.h>

#include <algorithm>

#include "atcr/data/datetime.h"
#include "atcr/data/syntax.h"
#include "atcr/data/tid.h"
#include "atcr/log.h"
#include "atcr/oci/hold_records.h"
#include "atcr/oci/records.h"
#include "atcr/oci/reference.h"
#include "hold/bluesky.h"
#include "hold/hold_impl.h"
#include "hold/input.h"

namespace atcr::hold {

namespace {

constexpr std::string_view kNotify = "io.atcr.hold.notifyManifest";
constexpr std::string_view kGetQuota = "io.atcr.hold.getQuota";
constexpr std::string_view kListTiers = "io.atcr.hold.listTiers";

using input::record_count;

// The stats record after one more push or pull.
Value bumped_stats(const std::optional<Record>& current, std::string_view owner, std::string_view repository,
                   bool push) {
  const Value empty{Value::Map{}};
  const Value& old = current ? current->value : empty;
  std::string now = now_datetime();
  Value::Map m{
      {"$type", Value(oci::kStatsCollection)},
      {"ownerDid", Value(owner)},
      {"repository", Value(repository)},
      {"pullCount", Value(record_count(old, "pullCount") + (push ? 0 : 1))},
      {"pushCount", Value(record_count(old, "pushCount") + (push ? 1 : 0))},
      {"updatedAt", Value(now)},
  };
  for (const char* key : {"lastPull", "lastPush"}) {
    if (const Value* v = old.is_map() ? old.find(key) : nullptr; v && v->is_string()) m[key] = *v;
  }
  m[push ? "lastPush" : "lastPull"] = Value(now);
  return Value(std::move(m));
}

RecordWrite stats_write(const std::optional<Record>& current, std::string_view owner, std::string_view repository,
                        bool push) {
  std::string rkey = oci::stats_rkey(owner, repository);
  Value record = bumped_stats(current, owner, repository, push);
  return current ? RecordWrite::update(std::string(oci::kStatsCollection), rkey, std::move(record))
                 : RecordWrite::create(std::string(oci::kStatsCollection), rkey, std::move(record));
}

// The manifest record a push's layer records point at: `manifestUri`, which
// an atcr AppView sends (the record's key is a TID it picked), when it is
// one of the pusher's manifest records; else the key older AppViews used.
std::string layer_manifest_uri(const Value& in, const std::string& user, const std::string& repository,
                               const oci::Digest& digest) {
  if (auto uri = input::optional_string(in, "manifestUri", 8192); uri && oci::manifest_rkey_of(*uri, user))
    return *uri;
  return oci::manifest_uri(user, oci::legacy_manifest_rkey(repository, digest));
}

// "push" (the default) or "pull".
std::string parse_operation(const Value& in) {
  std::string operation = input::optional_string(in, "operation", 16).value_or("push");
  if (operation != "push" && operation != "pull")
    throw xrpc::XrpcError(400, "InvalidOperation", "operation must be \"push\" or \"pull\"");
  return operation;
}

// The rest, read once the caller is known.
Notification parse_notification(const Value& in, std::string operation) {
  std::string repository = input::required_string(in, "repository", 256);
  if (!oci::is_valid_repository(repository))
    input::invalid("repository is not an OCI repository name (lowercase path components like \"app\" or \"team/app\")");
  std::string user = input::required_string(in, "userDid", 2048);
  if (!syntax::is_valid_did(user)) input::invalid("userDid is not a DID");
  std::string digest_text = input::required_string(in, "manifestDigest", 128);
  if (!oci::Digest::valid(digest_text)) input::invalid("manifestDigest is not a digest");
  std::optional<std::string> tag = input::optional_string(in, "tag", oci::kMaxTagLength);
  if (tag && !oci::is_valid_tag(*tag)) input::invalid("tag is not an OCI tag");
  bool push = operation == "push";
  return Notification{push, std::move(operation), std::move(user), std::move(repository),
                      oci::Digest::parse(digest_text), std::move(tag)};
}

oci::ManifestInfo pushed_manifest(const Value& in) {
  const Value* manifest_in = input::field(in, "manifest");
  if (!manifest_in) input::invalid("manifest is required for a push");
  try {
    return oci::ManifestInfo::from_value(*manifest_in);
  } catch (const ParseError& e) {
    input::invalid(fmt::format("manifest: {}", e.what()));
  }
}

}  // namespace

// What a push writes into the hold's repo, and what follows its commit.
struct Hold::Impl::PushWrites {
  std::vector<RecordWrite> writes;
  std::vector<LayerUse> layers;
  std::string post_uri, post_rkey;
  std::vector<oci::Descriptor> scan_layers;  // what a scan reads, in the manifest's order
  std::string manifest_uri;
  std::string tier;  // the pusher's ("" for the owner)
};

void Hold::Impl::record_layers(const Notification& n, const oci::ManifestInfo& info, PushWrites& plan) {
  std::string created_at = now_datetime();
  // The config is recorded like a layer: every blob an image uses on
  // this hold has a record, so deleteBlob never takes one still in use.
  std::vector<oci::Descriptor> used = info.layers;
  if (info.config) used.insert(used.begin(), *info.config);
  for (const oci::Descriptor& layer : used) {
    // Quota is charged for what is stored, so the blob must be here.
    auto stat = blobs->stat(layer.digest);
    if (!stat && oci::is_non_distributable(layer)) continue;  // fetched from elsewhere, not stored here
    if (!stat)
      throw xrpc::XrpcError(400, "BlobNotFound", fmt::format("layer {} was not uploaded to this hold", layer.digest.str()));
    oci::Descriptor stored = layer;
    stored.size = static_cast<std::int64_t>(stat->size);
    plan.layers.push_back({n.user, layer.digest.str(), stat->size});
    plan.writes.push_back(RecordWrite::create(
        std::string(oci::kLayerCollection), next_tid(),
        oci::layer_record(stored, n.repository, n.user, "", plan.manifest_uri, created_at)));
  }
  for (const oci::Descriptor& layer : info.layers) {
    if (!oci::is_non_distributable(layer)) plan.scan_layers.push_back(layer);
  }
}

void Hold::Impl::check_push_quota(const std::string& user, const PushWrites& plan) {
  std::optional<CrewMember> crew = access.crew(user);
  Limit limit = limit_for(config.quota, user == access.captain().owner, crew ? crew->tier : "");
  if (!limit.bytes) return;
  std::uint64_t used = access.usage(user).total_bytes;
  std::uint64_t adding = access.added_by(user, plan.layers);
  if (used + adding > *limit.bytes)
    throw xrpc::XrpcError(403, "QuotaExceeded",
                          fmt::format("this push needs {} more; {} of {} ({} tier) is used", format_size(adding),
                                      format_size(used), format_size(*limit.bytes), limit.tier));
}

void Hold::Impl::plan_push(const Value& in, const Notification& n, PushWrites& plan) {
  oci::ManifestInfo info = pushed_manifest(in);
  plan.manifest_uri = layer_manifest_uri(in, n.user, n.repository, n.manifest_digest);
  record_layers(n, info, plan);
  access.ensure_current(*pds);
  std::optional<CrewMember> crew = access.crew(n.user);
  if (n.user != access.captain().owner) plan.tier = crew && !crew->tier.empty() ? crew->tier : config.quota.default_tier;
  check_push_quota(n.user, plan);
  if (access.captain().enable_bluesky_posts) {
    plan.post_rkey = next_tid();
    plan.writes.push_back(RecordWrite::create(std::string(kPostCollection), plan.post_rkey,
                                              push_post_for(n.user, n.repository, n.tag.value_or(""), info)));
    plan.post_uri = fmt::format("at://{}/{}/{}", pds->did(), kPostCollection, plan.post_rkey);
  }
}

xrpc::ServerResponse Hold::Impl::notify_manifest(const xrpc::ServerRequest& req) {
  Value in = req.json();
  std::string operation = parse_operation(in);
  // Every notification writes to the hold's signed repo, so it needs a
  // caller, even a pull on a public hold.
  std::string who = require(req, kNotify, operation == "push" ? Access::kWrite : Access::kRead);
  if (who.empty()) throw xrpc::XrpcError(401, "AuthRequired", "notifyManifest needs a service token");
  Notification n = parse_notification(in, std::move(operation));
  // Only the user's own token (as the AppView sends it) counts for that
  // user: nobody inflates another's counters or writes records in their
  // name.
  if (who != n.user) throw xrpc::XrpcError(403, "UserMismatch", fmt::format("{} cannot notify as {}", who, n.user));

  // The blobs this push completed are durable under their names before
  // its records (and so the user's manifest, committed after this answer)
  // are: their directories' fsyncs ran in the background since.
  if (n.push) {
    try {
      store->sync_names();
    } catch (const StorageError& e) {
      log::error("hold", "{}", e.what());
      throw xrpc::XrpcError(503, "StorageUnavailable",
                            "the hold could not make this push's blobs durable; nothing was recorded, try again");
    }
  }
  PushWrites plan;
  {
    // From the blob checks to the commit: garbage collection deletes a
    // blob only under this lock, after looking for layer records again.
    std::lock_guard lock(records_mu);
    if (n.push) plan_push(in, n, plan);
    // The stats counter is read-modify-write: one writer at a time (records_mu).
    auto current = pds->get_record(oci::kStatsCollection, oci::stats_rkey(n.user, n.repository));
    // A pull counts only for a repository pushed here: no record is
    // created for a name that has nothing on this hold.
    if (!n.push && !current)
      throw xrpc::XrpcError(404, "RepositoryNotFound",
                            fmt::format("{} has not pushed {} to this hold", n.user, n.repository));
    plan.writes.push_back(stats_write(current, n.user, n.repository, n.push));
    commit(plan.writes, {}, plan.layers);
    if (!plan.post_rkey.empty()) posts->add(plan.post_rkey, n.user);
  }
  if (n.push)
    queue_scan(n.user, n.repository, n.tag.value_or(""), n.manifest_digest, plan.manifest_uri, plan.scan_layers,
               plan.tier);
  Value::Map out{
      {"success", Value(true)},
      {"operation", Value(n.operation)},
      {"statsUpdated", Value(true)},
      {"layersCreated", Value(static_cast<std::int64_t>(plan.layers.size()))},
      {"postCreated", Value(!plan.post_uri.empty())},
  };
  if (!plan.post_uri.empty()) out["postUri"] = Value(plan.post_uri);
  return xrpc::ServerResponse::json(Value(std::move(out)));
}

xrpc::ServerResponse Hold::Impl::get_quota(const xrpc::ServerRequest& req) {
  std::string user = req.required_param("userDid");
  if (!syntax::is_valid_did(user)) throw xrpc::XrpcError(400, "InvalidUserDid", "userDid is not a DID");
  // Your own usage, or anyone's for the hold's admins.
  std::string who = caller(req, kGetQuota);
  if (who != user) require(req, kGetQuota, Access::kAdmin);
  access.ensure_current(*pds);
  UserUsage usage = access.usage(user);
  std::optional<CrewMember> crew = access.crew(user);
  Limit limit = limit_for(config.quota, user == access.captain().owner, crew ? crew->tier : "");
  Value::Map out{
      {"userDid", Value(user)},
      {"uniqueBlobs", Value(static_cast<std::int64_t>(usage.unique_blobs))},
      {"totalSize", Value(static_cast<std::int64_t>(usage.total_bytes))},
  };
  if (!limit.tier.empty()) out["tier"] = Value(limit.tier);
  if (limit.bytes) out["limit"] = Value(static_cast<std::int64_t>(*limit.bytes));
  return xrpc::ServerResponse::json(Value(std::move(out)));
}

xrpc::ServerResponse Hold::Impl::list_tiers() const {
  Value::Array list;
  if (config.quota.enabled) {
    for (const auto& [name, bytes] : ranked_tiers(config.quota)) {
      list.emplace_back(Value::Map{
          {"name", Value(name)},
          {"quotaBytes", Value(static_cast<std::int64_t>(bytes))},
          {"quotaFormatted", Value(format_size(bytes))},
          {"scanOnPush", Value(config.scanner.scans(name))},
      });
    }
  }
  return xrpc::ServerResponse::json(Value(Value::Map{{"tiers", Value(std::move(list))}}));
}

void Hold::Impl::register_manifest_endpoints(xrpc::XrpcServer& server) {
  server.procedure(kNotify, [this](const xrpc::ServerRequest& req) { return notify_manifest(req); });
  server.query(kGetQuota, [this](const xrpc::ServerRequest& req) { return get_quota(req); });
  server.query(kListTiers, [this](const xrpc::ServerRequest&) { return list_tiers(); });
}

}  // namespace atcr::hold

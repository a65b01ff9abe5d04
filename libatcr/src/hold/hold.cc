#include "atcr/hold/hold.h"

#include <fmt/core.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>

#include "atcr/crypto/random.h"
#include "atcr/data/cbor.h"
#include "atcr/data/datetime.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/log.h"
#include "atcr/pds/endpoints.h"
#include "atcr/repo/repository.h"
#include "atcr/storage/filesystem_store.h"
#include "atcr/storage/s3_store.h"
#include "hold/admin/admin_panel.h"
#include "hold/bluesky.h"
#include "atcr/encoding/hex.h"
#include "hold/hold_impl.h"
#include "util/private_file.h"

namespace atcr::hold {

namespace {

pds::PdsConfig pds_config(const HoldConfig& config) {
  pds::PdsConfig p;
  p.data_dir = config.server.data_dir / "pds";
  p.public_url = config.server.public_url;
  p.did_method = config.identity.did_method;
  p.handle = config.identity.handle;
  p.plc_url = config.identity.plc_url;
  p.plc_did = config.identity.did;
  // How AppViews find the hold's endpoint; #atproto_pds is always there too.
  p.extra_services.push_back({"atcr_hold", "AtcrHoldService", config.server.public_url});
  return p;
}

// A DID as one S3 key segment: [A-Za-z0-9._-], everything else '-'
// ("did:web:localhost%3A8080" -> "did-web-localhost-3A8080").
std::string key_segment_of(std::string_view did) {
  std::string out(did);
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '-';
  return out;
}

// Where an S3 hold keeps its keys in the bucket. An explicit
// storage.prefix wins ("/" is the bucket root). Otherwise the choice made
// at the hold's first start, kept in <data_dir>/storage-prefix: its own
// "<DID>/" for a new hold, so holds sharing a bucket never see each
// other's uploads or blobs; the bucket root for a hold that already ran
// before (its blobs are there; docs/hold.md says how to move them).
std::string storage_root(const HoldConfig& config, const std::string& did) {
  if (!config.storage.prefix.empty()) return config.storage.prefix == "/" ? "" : config.storage.prefix;
  const std::filesystem::path chosen = config.server.data_dir / "storage-prefix";
  if (std::ifstream in(chosen); in) {
    std::string root;
    std::getline(in, root);
    return root == "/" ? "" : root;
  }
  const bool ran_before = std::filesystem::exists(config.server.data_dir / "uploads.sqlite");
  std::string root = ran_before ? "" : key_segment_of(did) + "/";
  util::write_private_file(chosen, (root.empty() ? "/" : root) + "\n");
  if (ran_before)
    log::warn("hold", "storage: keys stay at the bucket root (this hold predates per-hold prefixes); "
                      "never share its bucket, or move them under a storage.prefix (docs/hold.md)");
  return root;
}

std::unique_ptr<storage::BlobStore> open_store(const HoldConfig& config, const std::string& did) {
  if (config.storage.driver == HoldConfig::Driver::kFilesystem)
    // A completed blob's name is synced in the background, overlapping the
    // client's next request; notifyManifest waits for it (sync_names)
    // before a manifest that needs the blob is committed.
    return std::make_unique<storage::FilesystemStore>(config.blob_root(),
                                                      storage::FilesystemStore::NameSync::kDeferred);
  storage::S3StoreOptions options;
  options.presign = config.storage.presign;
  options.root = storage_root(config, did);
  log::info("hold", "storage: bucket {}, keys under '{}'", config.storage.s3.bucket, options.root);
  return std::make_unique<storage::S3Store>(config.storage.s3, options);
}

// The captain record as the config says it should be; deployedAt and
// anything the config does not govern (successor) carry over. The settings
// the owner changes in the admin panel keep the panel's value unless the
// config's changed since it was last applied (`last_applied`).
Captain desired_captain(const HoldConfig& config, const std::optional<Captain>& current,
                        const std::optional<CaptainSettings>& last_applied) {
  Captain c;
  if (current) c = *current;
  c.owner = config.registration.owner_did;
  CaptainSettings wanted = CaptainSettings::of(config);
  if (current && last_applied) {
    CaptainSettings kept = CaptainSettings::of(*current);
    if (wanted.is_public == last_applied->is_public) wanted.is_public = kept.is_public;
    if (wanted.allow_all_crew == last_applied->allow_all_crew) wanted.allow_all_crew = kept.allow_all_crew;
    if (wanted.bluesky_posts == last_applied->bluesky_posts) wanted.bluesky_posts = kept.bluesky_posts;
  }
  wanted.apply_to(c);
  c.region = config.registration.region;
  c.provider = config.registration.provider;
  if (c.deployed_at.empty()) c.deployed_at = now_datetime();
  return c;
}

// A 256-bit random secret, hex, kept private on disk.
std::string load_or_create_secret(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) {
    util::check_private_file(path);
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    if (text.size() == 64) return text;
  }
  std::string secret = hex::encode(random_bytes(32));
  util::write_private_file(path, secret + "\n");
  return secret;
}

CrewMember owner_crew(const std::string& owner) {
  CrewMember m;
  m.member = owner;
  m.role = "owner";
  m.permissions = {std::string(kBlobRead), std::string(kBlobWrite), std::string(kCrewAdmin)};
  m.added_at = now_datetime();
  return m;
}

// The hold's own resolver. Any request's token names an issuer to resolve:
// short timeouts, and an issuer that cannot be reached is remembered for a
// while, so a stream of such tokens costs one timeout per period (each is a
// 401).
identity::ResolverOptions resolver_options(const HoldConfig& config) {
  identity::ResolverOptions r;
  r.plc_directory = config.identity.plc_url;
  r.did_web.allow_http_localhost = config.identity.development;
  r.handles.resolver_service = config.identity.handle_resolver;
  r.handles.allow_test_handles = config.identity.development;
  r.http.connect_timeout = std::chrono::seconds(2);
  r.http.timeout = std::chrono::seconds(4);
  r.unreachable_ttl = std::chrono::seconds(30);
  return r;
}

// Users name their PDS (garbage collection reads it): a public address, or
// loopback too in development.
net::HttpOptions user_http_options(const HoldConfig& config) {
  net::HttpOptions o;
  o.timeout = std::chrono::seconds(20);
  o.connect_timeout = std::chrono::seconds(4);
  o.addresses = config.identity.development ? net::AddressPolicy::kPublicOrLoopback : net::AddressPolicy::kPublic;
  return o;
}

}  // namespace

Hold::Hold(HoldConfig config, HoldOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& h = *impl_;
  config.validate();
  h.config = std::move(config);
  std::filesystem::create_directories(h.config.server.data_dir);
  std::filesystem::permissions(h.config.server.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace);

  if (options.resolver) {
    h.resolver = options.resolver;
  } else {
    h.own_resolver = std::make_unique<identity::DirectoryResolver>(resolver_options(h.config));
    h.resolver = h.own_resolver.get();
  }

  h.pds = pds::EmbeddedPds::open(pds_config(h.config));
  h.store = open_store(h.config, h.pds->did());
  h.blobs = std::make_unique<storage::Blobs>(*h.store, h.config.storage.presign_expiry);
  storage::UploadOptions uploads;
  uploads.presign_expiry = h.config.storage.presign_expiry;
  uploads.max_part_bytes = h.config.uploads.max_part_bytes;
  h.uploads = std::make_unique<storage::Uploads>(*h.store, h.config.server.data_dir / "uploads.sqlite", uploads);

  xrpc::ServiceAuthOptions auth;
  // ATCR's AppView asks PDSes for tokens without lxm and reuses one token
  // for several calls; a present lxm must still match the method.
  auth.require_lxm = false;
  h.verifier = std::make_unique<xrpc::ServiceAuthVerifier>(*h.resolver, h.pds->did(), auth);
  h.part_urls = std::make_unique<PartUrlSigner>(h.config.server.data_dir / "part-url.key");
  h.scans = std::make_unique<ScanQueue>(h.config.server.data_dir / "scans.sqlite");
  h.posts = std::make_unique<PostLog>(h.config.server.data_dir / "posts.sqlite");
  h.gc_state = std::make_unique<GcState>(h.config.server.data_dir / "gc.sqlite");
  h.control_secret = load_or_create_secret(control_secret_path(h.config));
  h.user_http = std::make_unique<net::HttpClient>(user_http_options(h.config));

  h.bootstrap();
  h.access.ensure_current(*h.pds);
  if (h.config.admin.enabled) h.admin = std::make_unique<AdminPanel>(h);
  log::info("hold", "opened {} ({} storage{})", h.pds->did(),
            h.config.storage.driver == HoldConfig::Driver::kS3 ? "s3" : "filesystem",
            h.config.storage.presign ? ", presigned URLs" : "");
}

Hold::~Hold() = default;
Hold::Impl::Impl() = default;
Hold::Impl::~Impl() = default;

const std::string& Hold::did() const { return impl_->pds->did(); }
const HoldConfig& Hold::config() const { return impl_->config; }

std::filesystem::path Hold::control_secret_path(const HoldConfig& config) {
  return config.server.data_dir / "control.secret";
}

void Hold::Impl::bootstrap() {
  std::optional<Captain> current;
  if (auto record = pds->get_record(kCaptainCollection, kCaptainRkey)) current = Captain::from_record(record->value);
  Captain want = desired_captain(config, current, settings_last_applied());

  std::vector<RecordWrite> writes;
  if (!current) {
    writes.push_back(RecordWrite::create(std::string(kCaptainCollection), std::string(kCaptainRkey),
                                         want.to_record()));
  } else if (current->to_record() != want.to_record()) {
    writes.push_back(RecordWrite::update(std::string(kCaptainCollection), std::string(kCaptainRkey),
                                         want.to_record()));
  }
  std::string owner_rkey = crew_rkey(want.owner);
  if (!pds->get_record(kCrewCollection, owner_rkey)) {
    writes.push_back(RecordWrite::create(std::string(kCrewCollection), owner_rkey,
                                         owner_crew(want.owner).to_record()));
  }
  if (std::optional<RecordWrite> profile = profile_write()) writes.push_back(std::move(*profile));
  for (const std::string& rkey : former_owner_crew(want.owner)) {
    log::info("hold", "removing crew record {}: its member no longer owns the hold", rkey);
    writes.push_back(RecordWrite::remove(std::string(kCrewCollection), rkey));
  }
  if (!writes.empty()) pds->apply_writes(writes);
  remember_settings_applied(CaptainSettings::of(config));
  if (writes.empty()) return;
  log::info("hold", "{} captain record (owner {}, public {}, allowAllCrew {})", current ? "updated" : "created",
            want.owner, want.is_public, want.allow_all_crew);
}

// The hold account's app.bsky.actor.profile as the config says (its
// createdAt kept), if the repo's differs.
std::optional<RecordWrite> Hold::Impl::profile_write() {
  auto current = pds->get_record(kProfileCollection, "self");
  std::string created_at = now_datetime();
  if (current && current->value.is_map())
    if (const Value* c = current->value.find("createdAt"); c && c->is_string()) created_at = c->as_string();
  std::optional<Value> avatar;
  if (!config.registration.profile_avatar.empty()) {
    Avatar image = load_avatar(config.registration.profile_avatar);
    avatar = store_record_blob(image.data, image.mime_type);
    avatar_digest = oci::Digest::of(image.data).str();
    avatar_mime_type = image.mime_type;
  }
  Value want = hold_profile(config.registration, pds->handle(), created_at, avatar ? &*avatar : nullptr);
  if (!current) return RecordWrite::create(std::string(kProfileCollection), "self", std::move(want));
  if (current->value == want) return std::nullopt;
  return RecordWrite::update(std::string(kProfileCollection), "self", std::move(want));
}

// The crew records the bootstrap wrote for earlier owners (role "owner",
// another member): a hold handed to someone else stops trusting its former
// owner. Crew the former owner was given otherwise (another role) stays.
std::vector<std::string> Hold::Impl::former_owner_crew(const std::string& owner) const {
  std::vector<std::string> out;
  for_each_record(*pds, kCrewCollection, [&](const pds::ListedRecord& r) {
    CrewMember m;
    try {
      m = CrewMember::from_record(r.value);
    } catch (const ParseError&) {
      return;  // not ours to judge here; access checks skip it too
    }
    if (m.role == "owner" && m.member != owner) out.push_back(r.uri.substr(r.uri.rfind('/') + 1));
  });
  return out;
}

std::string Hold::Impl::caller(const xrpc::ServerRequest& req, std::string_view lxm) const {
  std::string token = req.bearer_token();
  if (token.empty()) return {};
  return verifier->verify(token, lxm).iss;
}

std::string Hold::Impl::require(const xrpc::ServerRequest& req, std::string_view lxm, Access access_needed) {
  std::string who = caller(req, lxm);
  access.ensure_current(*pds);
  std::optional<CrewMember> crew = who.empty() ? std::nullopt : access.crew(who);
  Decision d = authorize(access.captain(), crew ? &*crew : nullptr, who, access_needed);
  if (!d) throw xrpc::XrpcError(d.status, d.error, d.reason);
  return who;
}

std::string Hold::Impl::next_tid() {
  return tids.next().to_string();
}

CommitResult Hold::Impl::commit(const std::vector<RecordWrite>& writes, const std::vector<CrewMember>& crew_added,
                                const std::vector<LayerUse>& layers_added) {
  CommitResult result = pds->apply_writes(writes);
  access.note_commit(result.since, result.rev, crew_added, layers_added);
  return result;
}

void Hold::register_endpoints(xrpc::XrpcServer& server) {
  Impl& h = *impl_;
  pds::EndpointOptions options;
  options.authorize_write = [&h](const xrpc::ServerRequest& req) {
    h.require(req, "com.atproto.repo.deleteRecord", Access::kAdmin);
    // Without the captain record every access decision fails (500) until a
    // restart recreates it: the config governs it, so it is not deletable.
    Value body = req.json();
    const Value* collection = body.is_map() ? body.find("collection") : nullptr;
    if (collection && collection->is_string() && collection->as_string() == kCaptainCollection)
      throw xrpc::XrpcError(400, "InvalidRequest",
                            "the captain record follows the hold's configuration and cannot be deleted");
  };
  options.sessions = h.firehose_sessions;
  pds::register_endpoints(server, *h.pds, options);
  h.register_upload_endpoints(server);
  h.register_blob_endpoints(server);
  h.register_manifest_endpoints(server);
  h.register_crew_endpoints(server);
  if (h.admin) h.admin->register_routes(server);
  h.register_scan_endpoints(server);
  h.register_user_endpoints(server);
  h.register_gc_endpoints(server, *this);
}

void Hold::instrument(xrpc::Metrics& metrics) {
  Impl& h = *impl_;
  h.metrics = &metrics;
  metrics.on_scrape([&h](xrpc::Metrics& m) {
    m.set("atcr_hold_uploads_in_flight", "Blob upload sessions open on the hold.", {},
          static_cast<double>(h.uploads->count()));
    std::int64_t seq = h.pds->sequencer().current_seq();
    pds::FirehoseSessions::Snapshot firehose = h.firehose_sessions->snapshot();
    m.set("atcr_hold_firehose_seq", "The newest event on the hold's firehose (subscribeRepos).", {},
          static_cast<double>(seq));
    m.set("atcr_hold_firehose_subscribers", "Live subscribeRepos sessions.", {},
          static_cast<double>(firehose.sessions));
    m.set("atcr_hold_firehose_lag_events", "Events the slowest live subscriber has not been sent yet.", {},
          static_cast<double>(firehose.oldest_sent ? std::max<std::int64_t>(0, seq - *firehose.oldest_sent) : 0));
    h.access.ensure_current(*h.pds);
    Captain captain = h.access.captain();
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> by_tier;  // tier -> (bytes, users)
    std::vector<CrewMember> crew = h.access.crew_members();
    m.set("atcr_hold_crew_members", "Crew records on the hold.", {}, static_cast<double>(crew.size()));
    std::uint64_t total = 0;
    for (const CrewMember& member : crew) {
      Limit limit = limit_for(h.config.quota, member.member == captain.owner, member.tier);
      auto& [bytes, users] = by_tier[limit.tier.empty() ? "unlimited" : limit.tier];
      std::uint64_t used = h.access.usage(member.member).total_bytes;
      bytes += used;
      total += used;
      ++users;
    }
    for (const auto& [tier, use] : by_tier) {
      m.set("atcr_hold_quota_used_bytes", "Bytes charged to the crew of each quota tier (layer records).",
            {{"tier", tier}}, static_cast<double>(use.first));
      m.set("atcr_hold_quota_users", "Crew members in each quota tier.", {{"tier", tier}},
            static_cast<double>(use.second));
      if (auto limit = h.config.quota.tiers.find(tier); h.config.quota.enabled && limit != h.config.quota.tiers.end())
        m.set("atcr_hold_quota_limit_bytes", "Each quota tier's limit per user.", {{"tier", tier}},
              static_cast<double>(limit->second));
    }
    m.set("atcr_hold_quota_used_bytes_total", "Bytes charged to the crew in all.", {}, static_cast<double>(total));
  });
}

void Hold::Impl::report_gc(const GcReport& r) {
  if (!metrics) return;
  const xrpc::MetricLabels mode{{"mode", r.dry_run ? "dry_run" : "run"}};
  metrics->add("atcr_hold_gc_runs_total", "Garbage collections run.", mode);
  if (r.dry_run) return;
  metrics->add("atcr_hold_gc_blobs_deleted_total", "Blobs garbage collection deleted.", {},
               static_cast<double>(r.blobs_deleted));
  metrics->add("atcr_hold_gc_bytes_freed_total", "Bytes garbage collection freed.", {},
               static_cast<double>(r.bytes_freed));
  metrics->add("atcr_hold_gc_layer_records_deleted_total", "Orphaned layer records garbage collection deleted.", {},
               static_cast<double>(r.layer_records_deleted));
  metrics->add("atcr_hold_gc_uploads_removed_total", "Abandoned uploads garbage collection removed.", {},
               static_cast<double>(r.uploads_removed));
  metrics->set("atcr_hold_gc_blobs_waiting", "Unreferenced blobs waiting out the grace period (last run).", {},
               static_cast<double>(r.blobs_waiting));
  metrics->set("atcr_hold_gc_last_run_timestamp_seconds", "When the last garbage collection finished.", {},
               static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()));
}

void Hold::housekeeping() {
  Impl& h = *impl_;
  std::size_t expired = h.uploads->expire(h.config.uploads.session_ttl);
  if (expired) log::info("hold", "expired {} stale upload(s)", expired);
  h.pds->trim_events();
  if (h.config.gc.enabled && std::chrono::system_clock::now() - h.last_gc.load() >= h.config.gc.interval) gc(false);
}

void Hold::export_car(std::ostream& out) const {
  Bytes car = impl_->pds->export_car();
  out.write(reinterpret_cast<const char*>(car.data()), static_cast<std::streamsize>(car.size()));
}

std::size_t Hold::import_cars(const std::vector<Bytes>& cars) {
  Impl& h = *impl_;
  // Path -> record; a later CAR wins over an earlier one.
  std::map<std::pair<std::string, std::string>, Value> records;
  for (const Bytes& car : cars) {
    VerifiedRepo repo = read_repo_car(car);
    for (const RecordEntry& entry : repo.records) {
      if (entry.collection == kCaptainCollection) continue;  // the config governs it
      const Bytes* bytes = repo.blocks.find(entry.cid);
      if (!bytes) throw VerifyError("repo CAR lacks the record block " + entry.cid.to_string());
      records[{entry.collection, entry.rkey}] = cbor::decode(*bytes);
    }
  }
  std::vector<RecordWrite> writes;
  for (auto& [path, value] : records) {
    const auto& [collection, rkey] = path;
    auto existing = h.pds->get_record(collection, rkey);
    if (existing && existing->value == value) continue;  // already here, unchanged
    writes.push_back(existing ? RecordWrite::update(collection, rkey, std::move(value))
                              : RecordWrite::create(collection, rkey, std::move(value)));
  }
  if (writes.empty()) return 0;
  h.pds->apply_writes(writes);
  h.access.ensure_current(*h.pds);
  return writes.size();
}

}  // namespace atcr::hold

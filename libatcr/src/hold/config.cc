#include "atcr/hold/config.h"

#include <fmt/core.h>

#include <iterator>
#include <vector>

#include "atcr/data/syntax.h"
#include "hold/bluesky.h"
#include "util/text.h"
#include "util/settings.h"

namespace atcr::hold {

namespace {

using Driver = HoldConfig::Driver;

using settings::Kind;
using settings::Option;

constexpr std::string_view kEnvPrefix = "HOLD_";

using settings::format_bool;
using settings::format_bytes;
using settings::format_duration;

std::string_view driver_name(HoldConfig::Driver d) { return d == HoldConfig::Driver::kS3 ? "s3" : "filesystem"; }
std::string_view did_method_name(pds::DidMethod m) { return m == pds::DidMethod::kPlc ? "plc" : "web"; }

// scanner.scan_on_push as the config file spells it: "bosun, quartermaster".
std::string join_tiers(const std::set<std::string>& tiers) {
  std::string out;
  for (const std::string& tier : tiers) out += (out.empty() ? "" : ", ") + tier;
  return out;
}

// [server]
std::vector<Option> server_options(const HoldConfig& d) {
  return {
    {"server.public_url", Kind::kString, "",
     "The URL clients reach this hold at, e.g. \"https://hold.example.com\".\n"
     "The hold's did:web is derived from it (did:web:hold.example.com).",
     true, {"HOLD_PUBLIC_URL"}},
    {"server.host", Kind::kString, d.server.host,
     "Address to listen on. Loopback by default: put a TLS proxy in front\n"
     "(see docs/hold.md for a Caddyfile), or set 0.0.0.0 deliberately."},
    {"server.port", Kind::kInt, std::to_string(d.server.port), "Port to listen on."},
    {"server.public", Kind::kBool, format_bool(d.server.is_public),
     "Let anyone pull blobs without authentication. Pushing always needs\n"
     "the captain or a crew member with blob:write.",
     false, {"HOLD_PUBLIC"}},
    {"server.data_dir", Kind::kString, d.server.data_dir.string(),
     "Where the hold keeps its keys, its repo (SQLite) and upload state."},
    {"server.shutdown_grace", Kind::kDuration, format_duration(d.server.shutdown_grace),
     "On SIGTERM, how long in-flight requests may take to finish."},
  };
}

// [registration]
std::vector<Option> registration_options(const HoldConfig& d) {
  return {
    {"registration.owner_did", Kind::kString, "",
     "DID of the hold's owner (the captain): always allowed to push, and\n"
     "the first crew member.",
     true, {"HOLD_OWNER"}},
    {"registration.allow_all_crew", Kind::kBool, format_bool(d.registration.allow_all_crew),
     "Let any authenticated user join the crew (io.atcr.hold.requestCrew)\n"
     "and push.",
     false, {"HOLD_ALLOW_ALL_CREW"}},
    {"registration.enable_bluesky_posts", Kind::kBool, format_bool(d.registration.enable_bluesky_posts),
     "Announce each push with a Bluesky post (app.bsky.feed.post) from the\n"
     "hold's own account, linking to the image's page on registration.appview_url.",
     false, {"HOLD_BLUESKY_POSTS_ENABLED"}},
    {"registration.appview_did", Kind::kString, "",
     "An AppView's DID allowed to change crew tiers (io.atcr.hold.updateCrewTier,\n"
     "as ATCR's AppView does for billing). Empty: only the hold's admins may."},
    {"registration.region", Kind::kString, "", "Shown in the captain record (e.g. the S3 region)."},
    {"registration.provider", Kind::kString, "", "Shown in the captain record (e.g. \"fly.io\", \"aws\")."},
    {"registration.profile_display_name", Kind::kString, "",
     "The hold account's Bluesky display name. Default: the hold's handle."},
    {"registration.profile_description", Kind::kString, "", "The hold account's Bluesky profile text."},
    {"registration.profile_avatar", Kind::kString, d.registration.profile_avatar.string(),
     "A PNG or JPEG file (at most 1,000,000 bytes): the hold account's Bluesky avatar."},
    {"registration.appview_url", Kind::kString, d.registration.appview_url,
     "The AppView whose repository pages push posts link to."},
  };
}

// [admin]
std::vector<Option> admin_options(const HoldConfig& d) {
  return {
    {"admin.enabled", Kind::kBool, format_bool(d.admin.enabled),
     "The owner's web panel at <public_url>/admin (crew, settings, storage),\n"
     "signed in with ATProto OAuth."},
    {"admin.session_lifetime", Kind::kDuration, format_duration(d.admin.session_lifetime), "How long an admin sign-in lasts."},
  };
}

// [identity]
std::vector<Option> identity_options(const HoldConfig& d) {
  return {
    {"identity.did_method", Kind::kString, std::string(did_method_name(d.identity.did_method)),
     "\"web\": did:web from server.public_url. \"plc\": a did:plc registered\n"
     "with identity.plc_url (a rotation key is generated under data_dir).",
     false, {}, {"web", "plc"}},
    {"identity.did", Kind::kString, "",
     "did:plc only: adopt this existing DID instead of creating one (its\n"
     "rotation key must be in data_dir)."},
    {"identity.plc_url", Kind::kString, d.identity.plc_url, "The PLC directory (did:plc only)."},
    {"identity.handle", Kind::kString, "", "The hold's handle. Default: server.public_url's host."},
    {"identity.handle_resolver", Kind::kString, "",
     "A service answering com.atproto.identity.resolveHandle (e.g. a PDS),\n"
     "asked when DNS and https://<handle>/.well-known/atproto-did find no DID\n"
     "(the admin panel's sign-in and crew forms take handles)."},
    {"identity.development", Kind::kBool, format_bool(d.identity.development),
     "Development on loopback: resolve callers' did:web on localhost /\n"
     "127.0.0.1 over plain http, accept .test handles and http PDSes at\n"
     "the admin sign-in. Never on a public hold: any request's\n"
     "token could make the hold fetch from its own loopback."},
  };
}

// [storage]
std::vector<Option> storage_options(const HoldConfig& d) {
  return {
    {"storage.driver", Kind::kString, std::string(driver_name(d.storage.driver)), "Where blobs live.", false, {"STORAGE_DRIVER"},
     {"s3", "filesystem"}},
    {"storage.path", Kind::kString, "", "filesystem driver: the blob root. Default: <data_dir>/blobs."},
    {"storage.endpoint", Kind::kString, "",
     "s3 driver: the S3 endpoint, e.g. \"https://s3.us-east-1.amazonaws.com\"\n"
     "or \"http://127.0.0.1:7480\".",
     false, {"S3_ENDPOINT"}},
    {"storage.bucket", Kind::kString, "", "s3 driver: the bucket.", false, {"S3_BUCKET"}},
    {"storage.region", Kind::kString, d.storage.s3.region, "s3 driver: the region.", false, {"AWS_REGION"}},
    {"storage.access_key_id", Kind::kString, "", "s3 driver: credentials.", false, {"AWS_ACCESS_KEY_ID"}},
    {"storage.secret_access_key", Kind::kString, "", "s3 driver: credentials.", false,
     {"AWS_SECRET_ACCESS_KEY"}},
    {"storage.path_style", Kind::kBool, format_bool(d.storage.s3.path_style),
     "s3 driver: address the bucket as <endpoint>/<bucket> (most S3-compatible\n"
     "servers) instead of <bucket>.<endpoint-host> (AWS virtual hosts)."},
    {"storage.prefix", Kind::kString, "",
     "s3 driver: keep every key under this prefix (ending in '/'), like\n"
     "Distribution's rootdirectory; \"/\" is the bucket root. Empty: the hold's\n"
     "own, \"<its DID>/\", chosen at its first start and kept in\n"
     "<data_dir>/storage-prefix (a hold that ran before keeps the root).\n"
     "Garbage collection and upload housekeeping treat everything under it as\n"
     "this hold's: never give two holds sharing a bucket the same prefix."},
    {"storage.pull_zone", Kind::kString, "",
     "s3 driver: a CDN base URL swapped into presigned download URLs."},
    {"storage.disable_presigned_urls", Kind::kBool, format_bool(!d.storage.presign),
     "s3 driver: send blob bytes through the hold instead of handing out\n"
     "presigned S3 URLs (when clients cannot reach the bucket).",
     false, {"DISABLE_PRESIGNED_URLS"}},
    {"storage.presign_expiry", Kind::kDuration, format_duration(d.storage.presign_expiry), "How long a presigned URL stays valid."},
  };
}

// [uploads]
std::vector<Option> uploads_options(const HoldConfig& d) {
  return {
    {"uploads.session_ttl", Kind::kDuration, format_duration(d.uploads.session_ttl),
     "Unfinished uploads older than this are aborted and their data removed."},
    {"uploads.max_part_size", Kind::kBytes, format_bytes(d.uploads.max_part_bytes), "The largest part accepted through the hold."},
  };
}

// [quota]
std::vector<Option> quota_options(const HoldConfig& d) {
  return {
    {"quota.enabled", Kind::kBool, format_bool(d.quota.enabled),
     "Enforce per-user storage quotas (checked when a manifest is pushed).\n"
     "The owner is never limited."},
    {"quota.tiers", Kind::kSizeMap, settings::format_size_map(d.quota.tiers),
     "Tier name = quota. A crew record's tier picks one."},
    {"quota.default_tier", Kind::kString, d.quota.default_tier, "The tier of crew members without one."},
  };
}

// [scanner]
std::vector<Option> scanner_options(const HoldConfig& d) {
  return {
    {"scanner.secret", Kind::kString, "",
     "The secret a vulnerability scanner (atcr-scanner) presents in\n"
     "X-Scanner-Secret to take scan jobs (io.atcr.hold.subscribeScanJobs)\n"
     "and read blobs. Empty: scanning is off.",
     false, {"HOLD_SCANNER_SECRET"}},
    {"scanner.scan_on_push", Kind::kString, join_tiers(d.scanner.scan_on_push),
     "Tiers whose pushes are queued for scanning, comma-separated\n"
     "(\"bosun, quartermaster\"); \"*\" scans every push, the owner's too."},
    {"scanner.job_timeout", Kind::kDuration, format_duration(d.scanner.job_timeout),
     "How long a scanner may take over one job before it is handed out again."},
  };
}

// [gc]
std::vector<Option> gc_options(const HoldConfig& d) {
  return {
    {"gc.enabled", Kind::kBool, format_bool(d.gc.enabled),
     "Collect garbage every gc.interval: blobs no layer record, no manifest\n"
     "in any user's PDS and no upload refers to, layer records whose manifest\n"
     "is gone, abandoned uploads. `atcr-hold gc [--dry-run]` runs it by hand."},
    {"gc.interval", Kind::kDuration, format_duration(d.gc.interval), "How often a scheduled collection runs."},
    {"gc.grace_period", Kind::kDuration, format_duration(d.gc.grace_period),
     "How long a blob stays unreferenced (seen by two runs this far apart)\n"
     "before it is deleted; also the age a layer record must reach."},
  };
}

// [log]
std::vector<Option> log_options(const HoldConfig& d) {
  return {
    {"log.level", Kind::kString, std::string(log::name(d.log.level)), "Log verbosity. SIGUSR1 toggles debug for 30 minutes.", false, {},
     {"debug", "info", "warn", "error"}},
  };
}

// The schema, section by section; every default comes from a
// default-constructed HoldConfig.
const std::vector<Option>& schema() {
  static const std::vector<Option> options = settings::with_metrics(settings::sections<HoldConfig>(
      HoldConfig(), {server_options, registration_options, admin_options, identity_options, storage_options,
                     uploads_options, quota_options, scanner_options, gc_options, log_options}));
  return options;
}

// ATCR's names for the hold's settings (its Viper keys, which are also
// HOLD_<SECTION>_<NAME> variables, and its older .env names).
const settings::Compat& compat() {
  static const settings::Compat c = {
      {
          {"server.addr", "server.host", "server.port"},  // HOLD_SERVER_ADDR=":8080"
          {"server.base_url", "server.public_url"},
          {"database.path", "server.data_dir"},
          {"database.dir", "server.data_dir"},  // HOLD_DATABASE_DIR
          {"database.did_method", "identity.did_method"},
          {"database.did", "identity.did"},
          {"database.plc_directory_url", "identity.plc_url"},
          {"database.key_path", ""},  // HOLD_DATABASE_KEY_PATH: our keys live in data_dir
          {"database.rotation_key_path", ""},
          {"HOLD_KEY_PATH", ""},
          {"storage.access_key", "storage.access_key_id"},
          {"storage.secret_key", "storage.secret_access_key"},
          {"storage.root_dir", "storage.path"},
          {"STORAGE_ROOT_DIR", "storage.path"},
          {"registration.profile_avatar_url", ""},
          {"health.*", ""},
      },
      {"HOLD_BENCH"},  // set by bench/hold.sh for itself
  };
  return c;
}

using settings::base_url;
using settings::invalid;

// Reading a loaded config, section by section (the schema's order).
void read_server(const settings::Settings& s, HoldConfig& c) {
  c.server.public_url = base_url("server.public_url", s.str("server.public_url"));
  c.server.host = s.str("server.host");
  c.server.port = settings::port(s, "server.port");
  c.server.is_public = s.boolean("server.public");
  c.server.data_dir = s.str("server.data_dir");
  c.server.shutdown_grace = s.duration("server.shutdown_grace");
  c.admin.enabled = s.boolean("admin.enabled");
  c.admin.session_lifetime = s.duration("admin.session_lifetime");
}

void read_registration(const settings::Settings& s, HoldConfig& c) {
  c.registration.owner_did = s.str("registration.owner_did");
  c.registration.allow_all_crew = s.boolean("registration.allow_all_crew");
  c.registration.enable_bluesky_posts = s.boolean("registration.enable_bluesky_posts");
  c.registration.appview_did = s.str("registration.appview_did");
  c.registration.region = s.str("registration.region");
  c.registration.provider = s.str("registration.provider");
  c.registration.profile_display_name = s.str("registration.profile_display_name");
  c.registration.profile_description = s.str("registration.profile_description");
  c.registration.profile_avatar = s.str("registration.profile_avatar");
  c.registration.appview_url = base_url("registration.appview_url", s.str("registration.appview_url"));
}

void read_identity(const settings::Settings& s, HoldConfig& c) {
  c.identity.did_method = s.str("identity.did_method") == "plc" ? pds::DidMethod::kPlc : pds::DidMethod::kWeb;
  c.identity.did = s.str("identity.did");
  c.identity.plc_url = base_url("identity.plc_url", s.str("identity.plc_url"));
  c.identity.handle = s.str("identity.handle");
  c.identity.handle_resolver = base_url("identity.handle_resolver", s.str("identity.handle_resolver"));
  c.identity.development = s.boolean("identity.development");
}

void read_storage(const settings::Settings& s, HoldConfig& c) {
  c.storage.driver = s.str("storage.driver") == "filesystem" ? Driver::kFilesystem : Driver::kS3;
  c.storage.path = s.str("storage.path");
  s3::S3Config& s3 = c.storage.s3;
  s3.endpoint = base_url("storage.endpoint", s.str("storage.endpoint"));
  s3.bucket = s.str("storage.bucket");
  s3.region = s.str("storage.region");
  s3.credentials.access_key_id = s.str("storage.access_key_id");
  s3.credentials.secret_access_key = s.str("storage.secret_access_key");
  s3.path_style = s.boolean("storage.path_style");
  s3.pull_zone = base_url("storage.pull_zone", s.str("storage.pull_zone"));
  c.storage.prefix = s.str("storage.prefix");
  c.storage.presign = c.storage.driver == Driver::kS3 && !s.boolean("storage.disable_presigned_urls");
  c.storage.presign_expiry = s.duration("storage.presign_expiry");
  c.uploads.session_ttl = s.duration("uploads.session_ttl");
  c.uploads.max_part_bytes = s.bytes("uploads.max_part_size");
}

// scanner.scan_on_push as join_tiers writes it: "bosun, quartermaster".
std::set<std::string> split_tiers(std::string_view list) {
  std::set<std::string> tiers;
  for (std::string_view rest = list; !rest.empty();) {
    std::size_t comma = rest.find(',');
    std::string_view tier = util::trim(rest.substr(0, comma));
    if (!tier.empty()) tiers.insert(std::string(tier));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return tiers;
}

// [quota], [scanner] and [gc].
void read_policies(const settings::Settings& s, HoldConfig& c) {
  c.quota.enabled = s.boolean("quota.enabled");
  c.quota.tiers = s.size_map("quota.tiers");
  c.quota.default_tier = s.str("quota.default_tier");
  c.scanner.secret = s.str("scanner.secret");
  c.scanner.scan_on_push = split_tiers(s.str("scanner.scan_on_push"));
  c.scanner.job_timeout = s.duration("scanner.job_timeout");
  c.gc.enabled = s.boolean("gc.enabled");
  c.gc.interval = s.duration("gc.interval");
  c.gc.grace_period = s.duration("gc.grace_period");
}

}  // namespace

HoldConfig HoldConfig::load(const std::optional<std::filesystem::path>& file, EnvLookup env,
                            const std::vector<std::string>& env_names) {
  settings::Settings s = settings::load_program(schema(), kEnvPrefix, compat(), file, env, env_names);
  HoldConfig c;
  c.warnings = s.warnings();
  read_server(s, c);
  read_registration(s, c);
  read_identity(s, c);
  read_storage(s, c);
  read_policies(s, c);
  settings::MetricsSettings metrics = settings::metrics_settings(s);
  c.metrics.enabled = metrics.enabled;
  c.metrics.addr = metrics.addr;
  c.log.level = *log::parse_level(s.str("log.level"));  // one of the schema's choices
  c.validate();
  return c;
}

std::filesystem::path HoldConfig::blob_root() const {
  return storage.path.empty() ? server.data_dir / "blobs" : storage.path;
}

void HoldConfig::validate() const {
  if (server.public_url.empty()) invalid("server.public_url", "must be set (the URL clients reach this hold at)");
  if (base_url("server.public_url", server.public_url) != server.public_url)
    invalid("server.public_url", "must have no trailing '/'");
  if (server.port < 0 || server.port > 65535) invalid("server.port", "must be a TCP port (0-65535)");
  if (server.data_dir.empty()) invalid("server.data_dir", "must not be empty");
  if (!syntax::is_valid_did(registration.owner_did))
    invalid("registration.owner_did", fmt::format("'{}' is not a DID", registration.owner_did));
  if (!registration.appview_did.empty() && !syntax::is_valid_did(registration.appview_did))
    invalid("registration.appview_did", fmt::format("'{}' is not a DID", registration.appview_did));
  if (!registration.profile_avatar.empty()) load_avatar(registration.profile_avatar);  // throws naming the key
  if (admin.session_lifetime.count() < 60) invalid("admin.session_lifetime", "must be at least 1m");
  if (!identity.did.empty() && !identity.did.starts_with("did:plc:"))
    invalid("identity.did", "only a did:plc can be adopted (a did:web follows server.public_url)");
  if (storage.driver == Driver::kS3) {
    for (auto [key, value] : {std::pair{"storage.endpoint", &storage.s3.endpoint},
                              std::pair{"storage.bucket", &storage.s3.bucket},
                              std::pair{"storage.access_key_id", &storage.s3.credentials.access_key_id},
                              std::pair{"storage.secret_access_key", &storage.s3.credentials.secret_access_key}}) {
      if (value->empty()) invalid(key, "must be set when storage.driver = \"s3\"");
    }
  }
  if (!storage.prefix.empty() && storage.prefix.back() != '/') invalid("storage.prefix", "must end in '/'");
  if (storage.presign_expiry.count() < 1 || storage.presign_expiry > std::chrono::hours(24 * 7))
    invalid("storage.presign_expiry", "must be between 1s and 7d (S3's limit)");
  if (uploads.max_part_bytes == 0) invalid("uploads.max_part_size", "must be positive");
  if (quota.enabled && !quota.tiers.contains(quota.default_tier))
    invalid("quota.default_tier", fmt::format("'{}' is not one of quota.tiers", quota.default_tier));
  if (scanner.job_timeout.count() < 1) invalid("scanner.job_timeout", "must be at least 1s");
  if (gc.interval.count() < 1) invalid("gc.interval", "must be at least 1s");
  settings::check_metrics_addr(metrics.addr);
}

std::string HoldConfig::template_toml() {
  return settings::render_template(schema(), kEnvPrefix, "atcr-hold configuration", compat());
}

}  // namespace atcr::hold

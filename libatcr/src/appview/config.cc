#include "atcr/appview/config.h"

#include <fmt/core.h>

#include <vector>

#include "atcr/data/syntax.h"
#include "atcr/db/database.h"
#include "util/settings.h"
#include "util/text.h"

namespace atcr::appview {

namespace {

using settings::Kind;
using settings::Option;

constexpr std::string_view kEnvPrefix = "ATCR_";

using settings::format_bool;
using settings::format_bytes;
using settings::format_duration;

// [server]
std::vector<Option> server_options(const AppviewConfig& d) {
  return {
    {"server.default_hold_did", Kind::kString, "",
     "The hold (did:web:hold.example.com) that stores the blobs of users whose\n"
     "io.atcr.sailor.profile names no defaultHold. New users' profiles get it.",
     true, {"ATCR_DEFAULT_HOLD_DID"}},
    {"server.host", Kind::kString, d.server.host,
     "Address to listen on. Loopback by default: put a TLS proxy in front,\n"
     "or set 0.0.0.0 deliberately."},
    {"server.port", Kind::kInt, std::to_string(d.server.port), "Port to listen on."},
    {"server.public_url", Kind::kString, d.server.public_url,
     "The URL clients reach the registry at (scheme://host[:port]). The token\n"
     "realm is <public_url>/auth/token.",
     false, {"ATCR_BASE_URL"}},
    {"server.data_dir", Kind::kString, d.server.data_dir.string(),
     "Where the AppView keeps its token signing key and SQLite databases\n"
     "(appview.sqlite: sessions, pushed repositories; index.sqlite: the index)."},
    {"server.service", Kind::kString, "",
     "The `service` of the Bearer challenge and the `aud` of registry tokens.\n"
     "Default: public_url's host[:port]."},
    {"server.blob_delete", Kind::kBool, format_bool(d.server.blob_delete),
     "Whether owners may DELETE blobs (/v2/<name>/blobs/<digest>): their hold\n"
     "drops their references and the bytes once no image uses them. false\n"
     "answers 405 UNSUPPORTED."},
  };
}

// [identity]
std::vector<Option> identity_options(const AppviewConfig& d) {
  return {
    {"identity.plc_url", Kind::kString, d.identity.plc_url, "The PLC directory that resolves did:plc."},
    {"identity.handle_resolver", Kind::kString, "",
     "A service answering com.atproto.identity.resolveHandle (e.g. a PDS),\n"
     "asked when DNS and https://<handle>/.well-known/atproto-did find no DID."},
    {"identity.development", Kind::kBool, format_bool(d.identity.development),
     "Development on loopback: accept .test handles, and did:web holds on\n"
     "localhost / 127.0.0.1 over plain http. Never on a public registry."},
  };
}

// [auth]
std::vector<Option> auth_options(const AppviewConfig& d) {
  return {
    {"auth.token_lifetime", Kind::kDuration, format_duration(d.auth.token_lifetime), "How long a registry token (JWT) stays valid."},
    {"auth.device_code_ttl", Kind::kDuration, format_duration(d.auth.device_code_ttl),
     "How long a `docker-credential-atcr login` code waits for approval in the browser."},
    {"auth.device_poll_interval", Kind::kDuration, format_duration(d.auth.device_poll_interval),
     "The interval the credential helper is told to poll at while it waits\n"
     "(polling faster is answered slow_down)."},
    {"auth.oauth_scope", Kind::kString, d.auth.oauth_scope,
     "The OAuth scopes the AppView asks users' PDSes for (space-separated,\n"
     "must include atproto). The client is confidential (client_id\n"
     "<public_url>/client-metadata.json, key data_dir/oauth-client.key) when\n"
     "public_url is https, the loopback development client when it is\n"
     "http://127.0.0.1 or http://localhost."},
    {"auth.web_session_lifetime", Kind::kDuration, format_duration(d.auth.web_session_lifetime), "How long a browser sign-in lasts."},
  };
}

// [cache]
std::vector<Option> cache_options(const AppviewConfig& d) {
  return {
    {"cache.identity_ttl", Kind::kDuration, format_duration(d.cache.identity_ttl), "How long handle -> DID -> PDS answers are kept."},
    {"cache.tag_ttl", Kind::kDuration, format_duration(d.cache.tag_ttl),
     "How long a tag -> digest resolution is kept (our own pushes update it\n"
     "at once; this bounds how stale a tag written elsewhere may look)."},
    {"cache.manifest_entries", Kind::kInt, std::to_string(d.cache.manifest_entries),
     "Manifests kept in memory by digest (immutable, verified on fetch)."},
    {"cache.hold_ttl", Kind::kDuration, format_duration(d.cache.hold_ttl),
     "How long a repository's hold, a hold's public flag and crew approvals\n"
     "are kept."},
  };
}

// [uploads]
std::vector<Option> uploads_options(const AppviewConfig& d) {
  return {
    {"uploads.part_size", Kind::kBytes, format_bytes(d.uploads.part_size),
     "Blob uploads reach the hold in parts of this size (at least 5MiB)."},
    {"uploads.session_ttl", Kind::kDuration, format_duration(d.uploads.session_ttl), "Uploads idle longer than this are aborted."},
    {"uploads.max_sessions_per_user", Kind::kInt, std::to_string(d.uploads.max_sessions_per_user),
     "Upload sessions one user may have in progress; past it a new upload is\n"
     "refused (429 TOOMANYREQUESTS) until one ends or idles out."},
    {"uploads.max_sessions", Kind::kInt, std::to_string(d.uploads.max_sessions),
     "Upload sessions in progress in all (each may keep up to part_size bytes\n"
     "on disk under data_dir/uploads)."},
    {"uploads.storage_origins", Kind::kString, "",
     "Storage endpoints a hold's part URLs may name besides the hold itself,\n"
     "comma-separated origins (\"http://127.0.0.1:7480\"): trusted as they are,\n"
     "loopback and private addresses included. Any other origin must be https\n"
     "on a public address (a hold is whoever a user names; its URLs must not\n"
     "reach this host's network)."},
  };
}

// [index]
std::vector<Option> index_options(const AppviewConfig& d) {
  return {
    {"index.relays", Kind::kString, "",
     "Relays whose firehose (com.atproto.sync.subscribeRepos) feeds the network\n"
     "index (the catalog and the web UI), comma-separated base URLs\n"
     "(\"https://relay1.us-east.bsky.network\"). A relay is trusted to report\n"
     "any account's status; commits are verified whatever their source."},
    {"index.pdses", Kind::kString, "",
     "PDSes and holds whose own firehoses feed the index, comma-separated base\n"
     "URLs (\"https://pds.example.com, https://hold.example.com\"). Each is\n"
     "followed from its first event, and believed about its own accounts only."},
    {"index.backfill", Kind::kBool, format_bool(d.index.backfill),
     "On first start, list every repo of each source (listRepos) and index it\n"
     "(getRepo, verified). `atcr-appview backfill` does it again on demand."},
  };
}

// [install]
std::vector<Option> install_options(const AppviewConfig&) {
  return {
    {"install.helper_binary", Kind::kString, "",
     "The docker-credential-atcr binary that /install.sh installs for users:\n"
     "a path on this host (served at /install/docker-credential-atcr) or an\n"
     "http(s) URL. Empty: /install says it is not set up."},
  };
}

// [database]
std::vector<Option> database_options(const AppviewConfig& d) {
  return {
    {"database.url", Kind::kString, d.database.url,
     "Empty: the AppView keeps its state in data_dir/appview.sqlite (one\n"
     "instance). A postgres:// URL (postgres://user:password@host:5432/db):\n"
     "several instances behind a load balancer share it: sessions, device\n"
     "secrets, uploads, the token key, the network index (docs/scale-out.md)."},
  };
}

// [log]
std::vector<Option> log_options(const AppviewConfig& d) {
  return {
    {"log.level", Kind::kString, std::string(log::name(d.log.level)), "Log verbosity.", false, {},
     {"debug", "info", "warn", "error"}},
  };
}

// Every default comes from a default-constructed AppviewConfig.
const std::vector<Option>& schema() {
  static const std::vector<Option> options = settings::with_metrics(settings::sections<AppviewConfig>(
      AppviewConfig(), {server_options, identity_options, auth_options, cache_options, uploads_options,
                        index_options, install_options, database_options, log_options}));
  return options;
}

// ATCR's names for the AppView's settings (its Viper keys, which are also
// ATCR_<SECTION>_<NAME> variables, and its older .env names).
const settings::Compat& compat() {
  static const settings::Compat c = {
      {
          {"server.addr", "server.host", "server.port"},  // ATCR_SERVER_ADDR=":5000"
          {"ATCR_HTTP_ADDR", "server.host", "server.port"},
          {"server.base_url", "server.public_url"},  // ATCR_SERVER_BASE_URL
          {"ATCR_SERVICE_NAME", "server.service"},
          {"ATCR_TOKEN_EXPIRATION", "auth.token_lifetime"},  // seconds
          {"server.debug_addr", ""},
          {"ATCR_DEBUG_ADDR", ""},
          {"ATCR_AUTH_CERT_PATH", ""},  // our signing key lives in data_dir
          {"ATCR_BACKFILL_INTERVAL", ""},
          {"ATCR_RELAY_ENDPOINT", "index.relays"},
          {"jetstream.backfill_enabled", "index.backfill"},
          {"JETSTREAM_URL", ""},
          {"ui.*", ""},  // ATCR_UI_ENABLED, ATCR_UI_DATABASE_PATH: our database lives in data_dir
          {"jetstream.*", ""},
          {"health.*", ""},
          {"db.*", ""},
      },
      // Variables the project's scripts and tests set for themselves.
      {"ATCR_APPVIEW_", "ATCR_BENCH", "ATCR_BROWSER_", "ATCR_BUILD", "ATCR_CACHE", "ATCR_CREDENTIALS_FILE",
       "ATCR_DEMO_", "ATCR_E2E_", "ATCR_FIXTURE_DIR", "ATCR_FUZZ_", "ATCR_HOLD_", "ATCR_INSTALL_DIR", "ATCR_NODE",
       "ATCR_NPM", "ATCR_PDS_", "ATCR_PG_", "ATCR_PLC_", "ATCR_PORT", "ATCR_REGISTRY_", "ATCR_S3_", "ATCR_SKIP_",
       "ATCR_SOURCE_ROOT", "ATCR_TEST_", "ATCR_UPLOAD_COLUMNS", "ATCR_VERIFY_JWT", "ATCR_VERSION"},
  };
  return c;
}

using settings::base_url;
using settings::invalid;

// A comma-separated list of origins ("https://host[:port]", no path).
std::vector<std::string> origin_list(const settings::Settings& s, const std::string& key) {
  std::vector<std::string> out;
  for (std::string_view rest = s.str(key); !rest.empty();) {
    std::string_view item = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), item.size() + 1));
    item = util::strip_trailing_slashes(util::trim(item));
    if (item.empty()) continue;
    if (!(item.starts_with("http://") || item.starts_with("https://")) ||
        item.find_first_of("/?#@", item.find("://") + 3) != std::string_view::npos)
      invalid(key, "each entry is an origin like https://host.example.com[:port]");
    out.emplace_back(item);
  }
  return out;
}

}  // namespace

AppviewConfig AppviewConfig::load(const std::optional<std::filesystem::path>& file, EnvLookup env,
                                  const std::vector<std::string>& env_names) {
  settings::Settings s = settings::load_program(schema(), kEnvPrefix, compat(), file, env, env_names);
  AppviewConfig c;
  c.warnings = s.warnings();

  c.server.default_hold_did = s.str("server.default_hold_did");
  c.server.host = s.str("server.host");
  c.server.port = settings::port(s, "server.port");
  c.server.public_url = base_url("server.public_url", s.str("server.public_url"));
  c.server.data_dir = s.str("server.data_dir");
  c.server.service = s.str("server.service");
  c.server.service = c.service_name();

  c.database.url = s.str("database.url");
  c.server.blob_delete = s.boolean("server.blob_delete");

  c.identity.plc_url = base_url("identity.plc_url", s.str("identity.plc_url"));
  c.identity.handle_resolver = base_url("identity.handle_resolver", s.str("identity.handle_resolver"));
  c.identity.development = s.boolean("identity.development");

  c.auth.token_lifetime = s.duration("auth.token_lifetime");
  c.auth.device_code_ttl = s.duration("auth.device_code_ttl");
  c.auth.device_poll_interval = s.duration("auth.device_poll_interval");
  c.auth.oauth_scope = s.str("auth.oauth_scope");
  c.auth.web_session_lifetime = s.duration("auth.web_session_lifetime");

  c.cache.identity_ttl = s.duration("cache.identity_ttl");
  c.cache.tag_ttl = s.duration("cache.tag_ttl");
  std::int64_t entries = s.integer("cache.manifest_entries");
  if (entries < 0) invalid("cache.manifest_entries", "must not be negative");
  c.cache.manifest_entries = static_cast<std::size_t>(entries);
  c.cache.hold_ttl = s.duration("cache.hold_ttl");

  c.uploads.part_size = s.bytes("uploads.part_size");
  c.uploads.session_ttl = s.duration("uploads.session_ttl");
  for (auto [key, field] : {std::pair{"uploads.max_sessions_per_user", &c.uploads.max_sessions_per_user},
                            std::pair{"uploads.max_sessions", &c.uploads.max_sessions}}) {
    std::int64_t v = s.integer(key);
    if (v < 1) invalid(key, "must be at least 1");
    *field = static_cast<std::size_t>(v);
  }

  c.uploads.storage_origins = origin_list(s, "uploads.storage_origins");
  c.index.relays = origin_list(s, "index.relays");
  c.index.pdses = origin_list(s, "index.pdses");
  c.index.backfill = s.boolean("index.backfill");

  c.install.helper_binary = s.str("install.helper_binary");

  settings::MetricsSettings metrics = settings::metrics_settings(s);
  c.metrics.enabled = metrics.enabled;
  c.metrics.addr = metrics.addr;
  c.log.level = *log::parse_level(s.str("log.level"));  // one of the schema's choices
  c.validate();
  return c;
}

std::string AppviewConfig::service_name() const {
  if (!server.service.empty()) return server.service;
  std::string authority;
  base_url("server.public_url", server.public_url, &authority);
  return authority;
}

void AppviewConfig::validate() const {
  if (!syntax::is_valid_did(server.default_hold_did))
    invalid("server.default_hold_did", fmt::format("'{}' is not a DID", server.default_hold_did));
  if (server.port < 0 || server.port > 65535) invalid("server.port", "must be a TCP port (0-65535)");
  if (server.public_url.empty()) invalid("server.public_url", "must not be empty");
  if (base_url("server.public_url", server.public_url) != server.public_url)
    invalid("server.public_url", "must have no trailing '/'");
  if (server.data_dir.empty()) invalid("server.data_dir", "must not be empty");
  if (service_name().find_first_of("\"\\ ") != std::string::npos)
    invalid("server.service", "must not contain quotes, backslashes or spaces");

  if (auth.token_lifetime.count() < 10 || auth.token_lifetime > std::chrono::hours(24))
    invalid("auth.token_lifetime", "must be between 10s and 24h");
  if (auth.device_code_ttl.count() < 10 || auth.device_code_ttl > std::chrono::hours(1))
    invalid("auth.device_code_ttl", "must be between 10s and 1h");
  if (auth.device_poll_interval.count() < 1 || auth.device_poll_interval > std::chrono::minutes(1))
    invalid("auth.device_poll_interval", "must be between 1s and 1m");
  if (auth.oauth_scope != "atproto" && !auth.oauth_scope.starts_with("atproto ") &&
      auth.oauth_scope.find(" atproto") == std::string::npos)
    invalid("auth.oauth_scope", "must include atproto");
  if (auth.web_session_lifetime.count() < 60) invalid("auth.web_session_lifetime", "must be at least 1m");

  if (uploads.part_size < (5ULL << 20) || uploads.part_size > (1ULL << 30))
    invalid("uploads.part_size", "must be between 5MiB and 1GiB");
  if (uploads.session_ttl.count() < 1) invalid("uploads.session_ttl", "must be positive");
  if (uploads.max_sessions_per_user < 1) invalid("uploads.max_sessions_per_user", "must be at least 1");
  if (uploads.max_sessions < 1) invalid("uploads.max_sessions", "must be at least 1");
  for (const std::string& item : uploads.storage_origins) {
    if (!(item.starts_with("http://") || item.starts_with("https://")) ||
        item.find_first_of("/?#@", item.find("://") + 3) != std::string::npos)
      invalid("uploads.storage_origins", "each entry is an origin like https://s3.example.com[:port]");
  }
  if (install.helper_binary.find_first_of("\r\n") != std::string::npos)
    invalid("install.helper_binary", "must be one line");
  settings::check_metrics_addr(metrics.addr);
  if (!database.url.empty() && !db::is_postgres_url(database.url))
    invalid("database.url", "must be a postgres:// URL (or empty for SQLite in data_dir)");
}

std::string AppviewConfig::template_toml() {
  return settings::render_template(schema(), kEnvPrefix, "atcr-appview configuration", compat());
}

}  // namespace atcr::appview

// The AppView's construction and the plumbing its endpoints share:
// authentication, error mapping, identity and hold resolution, caches.
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <future>

#include "appview/appview_impl.h"
#include "appview/shared_secrets.h"
#include "atcr/crypto/random.h"
#include "atcr/crypto/keys.h"
#include "atcr/data/syntax.h"
#include "atcr/identity/did_web.h"
#include "atcr/log.h"
#include "atcr/oci/records.h"
#include "atcr/xrpc/client.h"
#include "atcr/xrpc/error.h"
#include "atcr/version.h"
#include "util/text.h"

namespace atcr::appview {

namespace {

constexpr auto kServiceTokenReuse = std::chrono::seconds(45);  // PDS tokens last 60 s
constexpr std::size_t kCacheEntries = 10000;

// The AppView's outgoing calls: its timeouts and User-Agent.
net::HttpOptions http_options() {
  net::HttpOptions o;
  o.timeout = std::chrono::seconds(30);
  o.connect_timeout = std::chrono::seconds(5);
  o.user_agent = "atcr-appview/" ATCR_VERSION;
  return o;
}

std::shared_ptr<const net::HttpClient> default_http() { return std::make_shared<const net::HttpClient>(http_options()); }

// Calls to holds users named: public addresses only (loopback too in
// development), checked after DNS for every connection.
std::shared_ptr<const net::HttpClient> make_hold_http(const AppviewConfig& c) {
  net::HttpOptions o = http_options();
  o.addresses = c.identity.development ? net::AddressPolicy::kPublicOrLoopback : net::AddressPolicy::kPublic;
  return std::make_shared<const net::HttpClient>(o);
}

// Part URLs outside a hold's own origin: https on public addresses only
// (checked after DNS, for every connection), unless the operator listed
// the origin.
std::shared_ptr<const PartDestinations> make_part_destinations(const AppviewConfig& c) {
  net::HttpOptions o = http_options();
  o.addresses = net::AddressPolicy::kPublic;
  auto d = std::make_shared<PartDestinations>();
  d->http = std::make_shared<const net::HttpClient>(o);
  d->trusted_origins = c.uploads.storage_origins;
  return d;
}

identity::ResolverOptions resolver_options(const AppviewConfig& c) {
  identity::ResolverOptions o;
  o.plc_directory = c.identity.plc_url;
  o.ttl = c.cache.identity_ttl;
  o.handles.resolver_service = c.identity.handle_resolver;
  o.handles.allow_test_handles = c.identity.development;
  o.did_web.allow_http_localhost = c.identity.development;
  return o;
}

std::string upstream_message(const xrpc::XrpcError& e) {
  return e.message().empty() ? e.error() : e.error() + ": " + e.message();
}


// A name ImageName::parse refused. Without an identity ("registry/app",
// "app") it names nobody's repository: DENIED, saying what names look like
// (docker retries NAME_INVALID five times, but not DENIED). Other mistakes
// stay NAME_INVALID.
[[noreturn]] void refuse_name(std::string_view name, const oci::RegistryError& error) {
  auto slash = name.find('/');
  bool has_identity = slash != std::string_view::npos;
  if (has_identity) {
    try {
      oci::normalize_identity(name.substr(0, slash));
    } catch (const oci::RegistryError&) {
      has_identity = false;
    }
  }
  if (has_identity) throw error;
  throw registry_error(oci::ErrorCode::kDenied,
                       error.message() + ": names on this registry are <handle>/<repository> "
                                         "(e.g. alice.bsky.social/app) or <did>/<repository>");
}

// The confidential client (key generated on first run) on an https public
// URL, the loopback client on http://127.0.0.1 / localhost.
// Its key (a confidential client's) is data_dir/oauth-client.key, or the
// shared database's when instances share one.
std::unique_ptr<oauth::Client> make_oauth_client(const AppviewConfig& c, identity::Resolver& resolver,
                                                 std::shared_ptr<const net::HttpClient> http, db::Database& database) {
  oauth::ClientOptions o;
  o.base_url = c.server.public_url;
  o.scope = c.auth.oauth_scope;
  o.allow_http = c.identity.development;
  if (!oauth::is_loopback_url(c.server.public_url))
    o.client_key = database.shared() ? shared_key(database, "oauth-client", KeyType::kP256)
                                     : PrivateKey::load_or_generate((c.server.data_dir / "oauth-client.key").string(),
                                                                    KeyType::kP256);
  return std::make_unique<oauth::Client>(std::move(o), resolver, std::move(http));
}

// Instances sharing a database share the index too: followers read what the
// leader's firehose consumer writes, and pulls add up in one table.
std::unique_ptr<index::Index> open_network_index(const AppviewConfig& c, const std::shared_ptr<db::Database>& database) {
  return database->shared() ? index::Index::open(database) : index::Index::open(c.server.data_dir / "index.sqlite");
}

}  // namespace

oci::RegistryError from_upstream(const xrpc::XrpcError& e) {
  if (e.status() == 401 || e.status() == 403)
    return registry_error(oci::ErrorCode::kDenied, "the hold refused: " + upstream_message(e));
  if (e.status() == 429) return registry_error(oci::ErrorCode::kTooManyRequests, upstream_message(e));
  if (e.status() == 507)
    return registry_error(oci::ErrorCode::kUnavailable,
                          "the hold's storage is full: this upload was not stored; try again later or ask the "
                          "hold's operator",
                          507);
  return registry_error(oci::ErrorCode::kUnavailable,
                        fmt::format("upstream answered {}: {}", e.status(), upstream_message(e)), 502);
}

namespace {

// The config as the AppView runs it: validated, its derived defaults filled.
AppviewConfig checked(AppviewConfig c) {
  c.validate();
  c.server.service = c.service_name();
  return c;
}

// The AppView's state: data_dir (created, owner-only) /appview.sqlite, or
// the shared database of database.url.
std::shared_ptr<db::Database> open_state(const AppviewConfig& config) {
  std::filesystem::create_directories(config.server.data_dir);
  std::filesystem::permissions(config.server.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace);
  std::string db_path = (config.server.data_dir / "appview.sqlite").string();
  auto database = db::open(config.database.url.empty() ? db_path : config.database.url);
  if (database->shared()) log::info("appview", "state in {} (shared)", db::redact_url(config.database.url));
  return database;
}

// The registry tokens' signing key. A token one instance issues must
// verify on all: with a shared database they share the key.
PrivateKey registry_token_key(const AppviewConfig& config, db::Database& database) {
  if (database.shared()) return shared_key(database, "registry-token", KeyType::kP256);
  return PrivateKey::load_or_generate((config.server.data_dir / "registry-token.key").string(), KeyType::kP256);
}

// Browser sessions, their cookie key shared with the other instances when
// the database is.
std::unique_ptr<web::WebSessions> make_web_sessions(const AppviewConfig& config,
                                                    const std::shared_ptr<db::Database>& database) {
  bool secure_cookies = config.server.public_url.rfind("https://", 0) == 0;
  if (database->shared()) {
    Bytes cookie_key = shared_secret(*database, "web-session", [] { return random_bytes(32); });
    return std::make_unique<web::WebSessions>(database, std::move(cookie_key), secure_cookies,
                                              config.auth.web_session_lifetime, web::appview_site());
  }
  return std::make_unique<web::WebSessions>((config.server.data_dir / "appview.sqlite").string(),
                                            config.server.data_dir / "web-session.key", secure_cookies,
                                            config.auth.web_session_lifetime, web::appview_site());
}

}  // namespace

Appview::Impl::Impl(AppviewConfig c, AppviewOptions options)
    : config(checked(std::move(c))),
      resolver(options.resolver),
      http(options.http ? options.http : default_http()),
      part_destinations(make_part_destinations(config)),
      hold_http(make_hold_http(config)),
      names(config.cache.identity_ttl, kCacheEntries),
      tags(config.cache.tag_ttl, kCacheEntries),
      tag_lists(config.cache.tag_ttl, kCacheEntries),
      manifests(std::chrono::hours(24), config.cache.manifest_entries),
      manifest_rkeys(std::chrono::hours(24), kCacheEntries),
      tid_keyed(std::chrono::hours(24), kCacheEntries),
      missing_manifests(config.cache.tag_ttl, kCacheEntries),
      repo_holds(config.cache.hold_ttl, kCacheEntries),
      push_holds(config.cache.hold_ttl, kCacheEntries),
      public_holds(config.cache.hold_ttl, 1000),
      crew(config.cache.hold_ttl, kCacheEntries),
      service_tokens(kServiceTokenReuse, kCacheEntries),
      logins(std::chrono::minutes(5), kCacheEntries),
      hold_blobs(config.cache.hold_ttl, kCacheEntries) {
  if (!resolver) {
    own_resolver = std::make_unique<identity::DirectoryResolver>(resolver_options(config));
    resolver = own_resolver.get();
  }
  database = open_state(config);
  issuer = std::make_unique<RegistryTokenIssuer>(registry_token_key(config, *database), config.server.public_url,
                                                 config.server.service);
  store = std::make_unique<SessionStore>(database, http);
  network_index = open_network_index(config, database);
  devices = std::make_unique<DeviceStore>(database,
                                          DeviceStore::Options{.code_ttl = config.auth.device_code_ttl,
                                                               .interval = config.auth.device_poll_interval,
                                                               .clock = {}});
  pulls = std::make_unique<PullWindow>(database->shared() ? database : nullptr, kPullWindow);
  spill_dir = config.server.data_dir / "uploads";
  std::filesystem::create_directories(spill_dir);
  realm = config.server.public_url + std::string(kTokenPath);
  web_sessions = make_web_sessions(config, database);
  oauth_sessions =
      std::make_unique<web::OAuthStore>(database, make_oauth_client(config, *resolver, http, *database), http);
  hold_health = std::make_unique<web::HoldHealth>();
  avatars = std::make_unique<web::AvatarCache>(http);
  oauth_sessions->on_end([this](const std::string& did) { web_sessions->end_all(did); });
  if (options.follow_network) follow_network();
}

void Appview::Impl::follow_network() {
  if (config.index.relays.empty() && config.index.pdses.empty()) return;
  auto make_feed = [this] { return std::make_unique<IndexFeed>(config, *network_index, *resolver, http); };
  if (database->shared()) {
    feed_leader = std::make_unique<FeedLeader>(*database, make_feed);
  } else {
    index_feed = make_feed();
  }
}

Appview::Impl::~Impl() {
  feed_leader.reset();
  index_feed.reset();
}

Appview::Appview(AppviewConfig config, AppviewOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(options))) {}

Appview::~Appview() = default;

const AppviewConfig& Appview::config() const { return impl_->config; }

void Appview::register_endpoints(xrpc::XrpcServer& server) {
  impl_->register_web(server);
  impl_->register_auth(server);
  impl_->register_device_flow(server);
  impl_->register_install(server);
  impl_->register_device_pages(server);
  impl_->register_lists(server);  // /v2/_catalog before the <name> patterns
  impl_->register_uploads(server);
  impl_->register_blobs(server);
  impl_->register_manifests(server);
}

namespace {

// The index's firehose consumer, per source: connected, the last seq, and
// its lag (how far behind the source's clock it handled the last event;
// the age of that event, which also grows while a source is quiet).
void firehose_metrics(xrpc::Metrics& m, const std::vector<index::SourceStatus>& sources) {
  using namespace std::chrono;
  auto now = system_clock::now();
  for (const index::SourceStatus& s : sources) {
    xrpc::MetricLabels source{{"source", s.url}};
    m.set("atcr_index_firehose_connected", "Whether the index's firehose consumer is connected to the source.", source,
          s.connected ? 1 : 0);
    m.set("atcr_index_firehose_seq", "The seq of the last firehose event the index handled from the source.", source,
          static_cast<double>(s.seq));
    m.set("atcr_index_firehose_events", "Firehose events the index handled from the source since start.", source,
          static_cast<double>(s.events));
    if (!s.event_time || !s.handled_at) continue;
    m.set("atcr_index_firehose_lag_seconds",
          "How far behind the source the index handled its last firehose event (handled at minus the event's time).",
          source, duration<double>(*s.handled_at - *s.event_time).count());
    m.set("atcr_index_firehose_last_event_age_seconds",
          "Now minus the time of the last firehose event the index handled (grows while the source is quiet).", source,
          duration<double>(now - *s.event_time).count());
  }
}

}  // namespace

void Appview::instrument(xrpc::Metrics& metrics) {
  impl_->metrics = &metrics;
  metrics.on_scrape([impl = impl_.get()](xrpc::Metrics& m) {
    std::size_t open = 0;
    {
      std::lock_guard lock(impl->uploads_mu);
      open = impl->uploads.size();
    }
    m.set("atcr_appview_uploads_in_flight", "Blob upload sessions in use since the AppView started.", {},
          static_cast<double>(open));
    if (impl->index_feed) firehose_metrics(m, impl->index_feed->status());
    if (impl->feed_leader) firehose_metrics(m, impl->feed_leader->status());
    bool leads = impl->index_feed || (impl->feed_leader && impl->feed_leader->leading());
    m.set("atcr_appview_index_leader", "1 if this instance follows the network index's sources.", {},
          leads ? 1.0 : 0.0);
  });
}

void Appview::housekeeping() {
  try {
    impl_->expire_uploads();
  } catch (const Error& e) {
    log::error("appview", "expiring idle uploads: {}", e.what());
  }
  for (auto* cache : {&impl_->names, &impl_->tags, &impl_->repo_holds, &impl_->push_holds,
                      &impl_->service_tokens, &impl_->manifest_rkeys})
    cache->expire();
  impl_->logins.expire();
  impl_->hold_blobs.expire();
  impl_->missing_manifests.expire();
  try {
    impl_->devices->expire();
  } catch (const StorageError& e) {
    log::warn("appview", "forgetting expired device codes: {}", e.what());
  }
  try {
    impl_->pulls->expire();
  } catch (const StorageError& e) {
    log::warn("appview", "forgetting expired pulls: {}", e.what());
  }
}

// ---- errors and authentication -------------------------------------------

oci::Digest digest_param(const std::string& text) {
  if (!oci::Digest::valid(text))
    throw registry_error(oci::ErrorCode::kDigestInvalid, fmt::format("'{}' is not a digest", text.substr(0, 80)));
  return oci::Digest::parse(text);
}

oci::Digest pushed_digest(const std::string& text) {
  oci::Digest digest = digest_param(text);
  if (digest.algorithm() != "sha256")
    throw registry_error(oci::ErrorCode::kDigestInvalid,
                         fmt::format("{} digests are not supported here: ATCR's lexicons limit digests to 128 "
                                     "characters; push with sha256",
                                     digest.algorithm()));
  return digest;
}

xrpc::ServerResponse Appview::Impl::error_response(const xrpc::ServerRequest& req, const std::string& scope_actions,
                                                   const oci::RegistryError& error) {
  int status = error.http_status();
  auto response = xrpc::ServerResponse::text(oci::error_body(error), "application/json", status);
  if (status == 401 && req.path == kTokenPath) {
    // The token endpoint takes Basic credentials: a Bearer challenge here
    // (with insufficient_scope) made clients report "requested access to
    // the resource is denied" (docker shows only that) instead of our
    // message, e.g. what to run after a device was revoked.
    response.header("WWW-Authenticate", fmt::format("Basic realm=\"{}\", charset=\"UTF-8\"", config.server.service));
  } else if (status == 401) {
    std::string scope;
    if (!req.path_params.empty() && !scope_actions.empty())
      scope = format_scope({"repository", req.path_params[0], {}}) + scope_actions;
    // A request that already carried a token (anonymous, or for other
    // repositories) needs more scope, not just a token: say so (RFC 6750
    // §3.1), or containerd retries the same token and gives up.
    bool sent_token = !req.header("authorization").empty();
    response.header("WWW-Authenticate", bearer_challenge(realm, config.server.service, scope, sent_token));
  }
  return response;
}

namespace {

// Runs `f`, turning every failure into a RegistryError. (`State` is
// Appview::Impl, deduced: the type is private to Appview.)
template <class State, class F>
xrpc::ServerResponse guarded(State& impl, const xrpc::ServerRequest& req, const std::string& scope, F&& f) {
  try {
    try {
      return f();
    } catch (const xrpc::XrpcError& e) {
      log::warn("appview", "{} {}: upstream {}", req.method, req.path, e.what());
      throw from_upstream(e);
    } catch (const net::HttpError& e) {
      log::warn("appview", "{} {}: {}", req.method, req.path, e.what());
      if (std::string_view(e.what()).find("not a public address") != std::string_view::npos)
        throw registry_error(oci::ErrorCode::kUnavailable,
                             "the hold named for this repository is on a private or loopback address, which this "
                             "registry does not call",
                             502);
      throw registry_error(oci::ErrorCode::kUnavailable, "a backend could not be reached", 503);
    } catch (const identity::ResolutionError& e) {
      throw registry_error(oci::ErrorCode::kNameUnknown, e.what());
    } catch (const TokenError& e) {
      throw registry_error(oci::ErrorCode::kUnauthorized, e.what());
    } catch (const oauth::SessionEnded& e) {
      throw registry_error(oci::ErrorCode::kUnauthorized, std::string(e.what()) + ": sign in again");
    }
  } catch (const oci::RegistryError& e) {
    return impl.error_response(req, scope, e);
  } catch (const ParseError& e) {
    // Malformed answers from a PDS or hold (client input is checked as
    // RegistryErrors before it gets this far).
    log::warn("appview", "{} {}: {}", req.method, req.path, e.what());
    return impl.error_response(req, scope, registry_error(oci::ErrorCode::kUnavailable, e.what(), 502));
  } catch (const Error& e) {
    log::error("appview", "{} {}: {}", req.method, req.path, e.what());
    return impl.error_response(req, scope, registry_error(oci::ErrorCode::kUnknown, "internal error"));
  }
}

}  // namespace

xrpc::Handler Appview::Impl::guard(std::string scope_actions, xrpc::Handler handler) {
  return [this, scope_actions = std::move(scope_actions), handler = std::move(handler)](const xrpc::ServerRequest& req) {
    auto r = guarded(*this, req, scope_actions, [&] { return handler(req); });
    r.header("Docker-Distribution-API-Version", "registry/2.0");
    return r;
  };
}

xrpc::StreamHandler Appview::Impl::guard_stream(std::string scope_actions, xrpc::StreamHandler handler) {
  return [this, scope_actions = std::move(scope_actions), handler = std::move(handler)](
             const xrpc::ServerRequest& req, xrpc::BodyReader& body) {
    auto r = guarded(*this, req, scope_actions, [&] { return handler(req, body); });
    r.header("Docker-Distribution-API-Version", "registry/2.0");
    return r;
  };
}

std::optional<RegistryClaims> Appview::Impl::claims_of(const xrpc::ServerRequest& req) {
  std::string auth = req.header("authorization");
  if (auth.empty()) return std::nullopt;
  if (!util::iequals_ascii(std::string_view(auth).substr(0, 7), "Bearer ")) {
    // Basic credentials belong at the token realm, not here.
    throw registry_error(oci::ErrorCode::kUnauthorized, "use a Bearer token from the realm in WWW-Authenticate");
  }
  try {
    return issuer->verify(std::string_view(auth).substr(7));
  } catch (const TokenError& e) {
    throw registry_error(oci::ErrorCode::kUnauthorized, e.what());
  }
}

Caller Appview::Impl::authorize(const xrpc::ServerRequest& req, const Target& target, std::string_view action) {
  Caller caller{claims_of(req)};
  const std::string name = target.str();
  if (action == "pull") {
    // Manifests are public records; blob reads follow the hold's rules
    // later. A token for another repository counts as anonymous.
    if (caller.claims && !caller.claims->allows(name, "pull") && !caller.claims->allows(name, "push"))
      caller.claims.reset();
    return caller;
  }
  bool granted = caller.claims && (caller.claims->allows(name, action) ||
                                   (action == "delete" && caller.claims->allows(name, "push")));
  if (!caller.claims || caller.anonymous())
    throw registry_error(oci::ErrorCode::kUnauthorized,
                         fmt::format("authentication required to {} {}: log in with your handle and an app password "
                                     "(docker login {} or docker-credential-atcr login {})",
                                     action, name, config.server.service, config.server.service));
  if (caller.did() != target.did)
    throw registry_error(oci::ErrorCode::kDenied,
                         fmt::format("only {} may {} {}", target.name.identity, action, name));
  if (!granted)
    throw registry_error(oci::ErrorCode::kUnauthorized, fmt::format("the token does not grant {} on {}", action, name));
  return caller;
}

// ---- identities ----------------------------------------------------------

std::pair<std::string, std::string> Appview::Impl::resolve_identity(const std::string& identity) {
  if (auto hit = names.get(identity)) {
    auto space = hit->find(' ');
    return {hit->substr(0, space), hit->substr(space + 1)};
  }
  identity::Identity id;
  try {
    if (identity.starts_with("did:")) {
      id.did = identity;
      id.document = resolver->resolve_did(identity);
    } else {
      id = resolver->resolve(identity);
    }
  } catch (const identity::ResolutionError& e) {
    throw registry_error(oci::ErrorCode::kNameUnknown, fmt::format("{} does not resolve: {}", identity, e.what()));
  } catch (const ParseError& e) {
    throw registry_error(oci::ErrorCode::kNameUnknown, fmt::format("{} does not resolve: {}", identity, e.what()));
  }
  auto pds = id.document.pds_endpoint();
  if (!pds) throw registry_error(oci::ErrorCode::kNameUnknown, fmt::format("{} has no PDS", identity));
  std::string pds_url(util::strip_trailing_slashes(*pds));
  names.put(identity, id.did + " " + pds_url);
  return {id.did, pds_url};
}

Target Appview::Impl::resolve_name(std::string_view raw_name) {
  std::string name(raw_name);
  // The server percent-decodes paths, so did:web:host%3Aport arrives as
  // did:web:host:port; put the escape back before parsing.
  if (name.starts_with("did:web:")) {
    auto slash = name.find('/');
    auto colon = name.find(':', 8);
    if (colon != std::string::npos && colon < slash) name.replace(colon, 1, "%3A");
  }
  Target t;
  try {
    t.name = oci::ImageName::parse(name);
  } catch (const oci::RegistryError& e) {
    refuse_name(name, e);
  }
  std::tie(t.did, t.pds_url) = resolve_identity(t.name.identity);
  return t;
}

std::shared_ptr<xrpc::PdsSession> Appview::Impl::session_of(const std::string& did) {
  auto session = oauth_session_of(did);
  if (!session) session = store->get(did);
  if (!session)
    throw registry_error(oci::ErrorCode::kUnauthorized,
                         fmt::format("no PDS session for {}: log in again (docker login)", did));
  return session;
}

// ---- holds ---------------------------------------------------------------

HoldClient Appview::Impl::hold_client(const std::string& hold_did) {
  identity::DidDocument doc;
  try {
    doc = resolver->resolve_did(hold_did);
  } catch (const identity::ResolutionError& e) {
    throw registry_error(oci::ErrorCode::kUnavailable, fmt::format("hold {} does not resolve: {}", hold_did, e.what()));
  } catch (const ParseError& e) {
    throw registry_error(oci::ErrorCode::kUnavailable, fmt::format("hold {} does not resolve: {}", hold_did, e.what()));
  }
  std::optional<std::string> url;
  if (auto s = doc.service("atcr_hold"); s && (s->endpoint.starts_with("https://") || s->endpoint.starts_with("http://")))
    url = s->endpoint;
  if (!url) url = doc.pds_endpoint();
  if (!url) throw registry_error(oci::ErrorCode::kUnavailable, fmt::format("hold {} names no endpoint", hold_did));
  HoldRef ref{hold_did, std::string(util::strip_trailing_slashes(*url))};
  return HoldClient(ref, http_for(ref));
}

std::shared_ptr<const net::HttpClient> Appview::Impl::http_for(const HoldRef& hold) const {
  if (hold.did == config.server.default_hold_did) return http;
  const auto& listed = config.uploads.storage_origins;
  if (std::find(listed.begin(), listed.end(), oauth::url_origin(hold.url)) != listed.end()) return http;
  return hold_http;
}

namespace {

// A profile's defaultHold: a DID, or (older records) a URL.
std::optional<std::string> hold_did_of(const Value& value) {
  if (!value.is_string()) return std::nullopt;
  const std::string& s = value.as_string();
  if (syntax::is_valid_did(s)) return s;
  for (std::string_view scheme : {"https://", "http://"}) {
    if (!s.starts_with(scheme)) continue;
    std::string host = s.substr(scheme.size());
    if (auto slash = host.find('/'); slash != std::string::npos) host.resize(slash);
    if (auto colon = host.find(':'); colon != std::string::npos) host.replace(colon, 1, "%3A");
    std::string did = "did:web:" + host;
    if (syntax::is_valid_did(did)) return did;
  }
  return std::nullopt;
}

}  // namespace

std::string Appview::Impl::push_hold(const std::string& did, const std::string& pds_url) {
  if (auto hit = push_holds.get(did)) return *hit;
  Target t;
  t.did = did;
  t.pds_url = pds_url;
  std::string hold = config.server.default_hold_did;
  if (auto profile = get_record(t, "io.atcr.sailor.profile", "self")) {
    if (const Value* h = profile->find("defaultHold"))
      if (auto d = hold_did_of(*h)) hold = *d;
  }
  push_holds.put(did, hold);
  return hold;
}

std::string Appview::Impl::pull_hold(const Target& t) {
  std::string key = t.did + "/" + t.name.repository;
  if (auto hit = repo_holds.get(key)) return *hit;
  std::optional<std::string> hold = store->repository_hold(t.did, t.name.repository);
  if (!hold) {
    // The hold of the repository's latest manifest (ATCR pulls from where
    // the blobs were pushed, not from the owner's current default).
    std::string latest;
    for (const Value& v : list_records(t, oci::kManifestCollection)) {
      const Value* repo = v.find("repository");
      if (!repo || !repo->is_string() || repo->as_string() != t.name.repository) continue;
      const Value* created = v.find("createdAt");
      std::string when = created && created->is_string() ? created->as_string() : "";
      std::optional<std::string> did;
      if (const Value* h = v.find("holdDid")) did = hold_did_of(*h);
      if (!did)
        if (const Value* h = v.find("holdEndpoint")) did = hold_did_of(*h);
      if (did && (!hold || when > latest)) {
        hold = did;
        latest = when;
      }
    }
  }
  if (!hold) hold = push_hold(t.did, t.pds_url);
  repo_holds.put(key, *hold);
  return *hold;
}

bool Appview::Impl::hold_is_public(const HoldClient& hold) {
  if (auto hit = public_holds.get(hold.hold().did)) return *hit;
  bool pub = false;
  try {
    pub = hold.is_public();
  } catch (const xrpc::XrpcError& e) {
    // No readable captain record: treat the hold as private (reads then
    // carry the caller's token, which a public hold accepts too).
    log::warn("appview", "captain record of {}: {}", hold.hold().did, e.what());
  }
  public_holds.put(hold.hold().did, pub);
  return pub;
}

std::string Appview::Impl::service_token(const std::string& did, const std::string& hold_did, const std::string& lxm) {
  // The session first: a remembered token must not outlive an ended session.
  auto session = session_of(did);
  std::string key = did + " " + hold_did + " " + lxm;
  if (auto hit = service_tokens.get(key)) return *hit;
  std::string token;
  try {
    token = session->get_service_auth(hold_did, lxm);
  } catch (const xrpc::XrpcError& e) {
    if (e.error() == "ExpiredToken" || e.error() == "InvalidToken" || e.status() == 401) {
      store->drop(did);
      oauth_sessions->drop(did);
      throw registry_error(oci::ErrorCode::kUnauthorized,
                           fmt::format("the PDS session of {} has ended: log in again", did));
    }
    throw;
  }
  service_tokens.put(key, token);
  return token;
}

void Appview::Impl::prefetch_service_tokens(const std::string& did, const std::string& hold_did,
                                            std::initializer_list<std::string_view> lxms) {
  std::vector<std::future<void>> fetches;
  for (std::string_view lxm : lxms) {
    if (service_tokens.get(did + " " + hold_did + " " + std::string(lxm))) continue;
    fetches.push_back(std::async(std::launch::async, [this, &did, &hold_did, lxm] {
      try {
        service_token(did, hold_did, std::string(lxm));
      } catch (const Error&) {
        // The call that needs the token asks again and reports it.
      }
    }));
  }
  for (auto& f : fetches) f.get();
}

std::string Appview::Impl::read_token(const HoldClient& hold, const Caller& caller) {
  if (hold_is_public(hold) || caller.anonymous()) return {};
  return service_token(caller.did(), hold.hold().did, "com.atproto.sync.getBlob");
}

void Appview::Impl::ensure_crew(const std::string& did, const HoldClient& hold) {
  std::string key = did + " " + hold.hold().did;
  if (crew.get(key)) return;
  try {
    std::string status = hold.request_crew(service_token(did, hold.hold().did, "io.atcr.hold.requestCrew"));
    log::debug("appview", "requestCrew {} on {}: {}", did, hold.hold().did, status);
    crew.put(key, true);
  } catch (const xrpc::XrpcError& e) {
    // Not fatal: the owner or an admin may have added the user already;
    // the upload itself says whether writing is allowed. Remember the
    // refusal briefly so every blob does not ask again.
    log::info("appview", "requestCrew {} on {}: {}", did, hold.hold().did, e.what());
    crew.put(key, false, std::chrono::seconds(60));
  }
}

// ---- records ---------------------------------------------------------------

std::optional<Value> Appview::Impl::get_record(const Target& t, std::string_view collection, const std::string& rkey) {
  xrpc::XrpcClient pds(t.pds_url, http);
  try {
    Value out = pds.query("com.atproto.repo.getRecord",
                          xrpc::Params{{"repo", t.did}, {"collection", std::string(collection)}, {"rkey", rkey}});
    const Value* value = out.find("value");
    if (!value || !value->is_map()) throw ParseError(fmt::format("getRecord {}/{}: no value", collection, rkey));
    return *value;
  } catch (const xrpc::XrpcError& e) {
    if (e.error() == "RecordNotFound" || e.status() == 404) return std::nullopt;
    throw;
  }
}

std::vector<RecordEntry> Appview::Impl::list_record_entries(const Target& t, std::string_view collection,
                                                            int max_pages) {
  xrpc::XrpcClient pds(t.pds_url, http);
  std::vector<RecordEntry> out;
  std::string cursor;
  for (int page = 0; page < max_pages; ++page) {
    xrpc::Params params{{"repo", t.did}, {"collection", std::string(collection)}, {"limit", "100"}};
    if (!cursor.empty()) params.add("cursor", cursor);
    Value r = pds.query("com.atproto.repo.listRecords", params);
    const Value* records = r.find("records");
    if (!records || !records->is_array()) break;
    for (const Value& rec : records->as_array()) {
      const Value* v = rec.find("value");
      const Value* uri = rec.find("uri");
      if (!v || !v->is_map() || !uri || !uri->is_string()) continue;
      const std::string& u = uri->as_string();
      out.push_back({u.substr(u.rfind('/') + 1), *v});
    }
    const Value* next = r.find("cursor");
    if (!next || !next->is_string() || next->as_string().empty() || records->as_array().empty()) break;
    cursor = next->as_string();
  }
  return out;
}

std::vector<Value> Appview::Impl::list_records(const Target& t, std::string_view collection) {
  std::vector<Value> out;
  for (RecordEntry& e : list_record_entries(t, collection)) out.push_back(std::move(e.value));
  return out;
}

namespace {

// The manifest record's repository and digest; nullopt if malformed.
std::optional<std::pair<std::string, oci::Digest>> manifest_identity(const Value& value) {
  try {
    oci::ManifestRecord r = oci::ManifestRecord::from_value(value);
    return std::pair{r.repository, r.digest};
  } catch (const ParseError&) {
    return std::nullopt;
  }
}

}  // namespace

void Appview::Impl::remember_manifest_key(const std::string& did, const std::string& repository,
                                          const oci::Digest& digest, const std::string& rkey) {
  std::string key = manifest_cache_key(did, repository, digest);
  manifest_rkeys.put(key, rkey);
  missing_manifests.erase(key);
}

std::optional<RecordEntry> Appview::Impl::find_manifest_record(const Target& t, const oci::Digest& digest,
                                                               bool scan) {
  const std::string& repo = t.name.repository;
  auto is_it = [&](const Value& v) {
    auto id = manifest_identity(v);
    return id && id->first == repo && id->second == digest;
  };
  const std::string key = manifest_cache_key(t.did, repo, digest);
  if (auto rkey = manifest_rkeys.get(key)) {
    if (auto v = get_record(t, oci::kManifestCollection, *rkey); v && is_it(*v)) return RecordEntry{*rkey, *v};
    manifest_rkeys.erase(key);
  }
  // A user whose records all had TID keys at login has none under the
  // legacy key: only older AppViews write them. (Should one write it
  // since, a push of that digest adds a second record; pulls read either,
  // a delete removes both, and a scan still finds it.)
  if (!tid_keyed.get(t.did)) {
    std::string legacy = oci::legacy_manifest_rkey(repo, digest);
    if (auto v = get_record(t, oci::kManifestCollection, legacy); v && is_it(*v)) {
      manifest_rkeys.put(key, legacy);
      return RecordEntry{legacy, *v};
    }
  }
  if (!scan || missing_manifests.get(key)) return std::nullopt;
  std::optional<RecordEntry> found;
  for (RecordEntry& e : list_record_entries(t, oci::kManifestCollection, kManifestScanPages)) {
    auto id = manifest_identity(e.value);
    if (!id) continue;
    remember_manifest_key(t.did, id->first, id->second, e.rkey);
    if (!found && id->first == repo && id->second == digest) found = std::move(e);
  }
  if (!found) missing_manifests.put(key, true);
  return found;
}

void Appview::Impl::index_own_records(const Target& t, const std::vector<index::RecordChange>& changes) {
  // A handle in the name resolved to this DID (and back), so it is the
  // DID's handle now.
  bool by_handle = !t.name.identity.starts_with("did:");
  try {
    network_index->set_identity(t.did, by_handle ? t.name.identity : "", t.pds_url);
    network_index->apply_all(changes);
  } catch (const StorageError& e) {
    // The records are in the user's repo: the request succeeded, and the
    // firehose (or a backfill) brings them to the index.
    log::warn("appview", "indexing {}'s records: {}", t.str(), e.what());
  }
}

index::Index& Appview::index() { return *impl_->network_index; }

void Appview::backfill(const std::function<void(const index::BackfillProgress&)>& progress,
                       const std::atomic<bool>* cancel) {
  index::Ingester ingester(*impl_->network_index, *impl_->resolver, impl_->http);
  IndexFeed::backfill_all(impl_->config, ingester, progress, cancel, true);
}

void Appview::Impl::migrate_manifest_keys(const xrpc::PdsSession& session, const std::string& did,
                                          const std::string& pds_url) {
  Target t;
  t.did = did;
  t.pds_url = pds_url;
  try {
    std::vector<RecordEntry> legacy;
    for (RecordEntry& e : list_record_entries(t, oci::kManifestCollection)) {
      if (!syntax::is_valid_tid(e.rkey)) {
        legacy.push_back(std::move(e));
      } else if (auto id = manifest_identity(e.value)) {
        remember_manifest_key(did, id->first, id->second, e.rkey);
      }
    }
    if (legacy.empty()) {
      tid_keyed.put(did, true);
      return;
    }
    std::vector<RecordEntry> tags = list_record_entries(t, oci::kTagCollection);
    // A few manifests per commit (applyWrites takes at most 200 writes).
    constexpr std::size_t kPerCommit = 20;
    for (std::size_t i = 0; i < legacy.size(); i += kPerCommit) {
      std::vector<xrpc::WriteOp> writes;
      for (std::size_t j = i; j < std::min(legacy.size(), i + kPerCommit); ++j) {
        const RecordEntry& old = legacy[j];
        std::string rkey = tids.next().to_string();
        writes.push_back(xrpc::WriteOp::create(std::string(oci::kManifestCollection), old.value, rkey));
        writes.push_back(xrpc::WriteOp::remove(std::string(oci::kManifestCollection), old.rkey));
        std::string old_uri = oci::manifest_uri(did, old.rkey);
        for (RecordEntry& tag : tags) {
          const Value* uri = tag.value.find("manifest");
          if (!uri || !uri->is_string() || uri->as_string() != old_uri) continue;
          Value::Map updated = tag.value.as_map();
          updated["manifest"] = Value(oci::manifest_uri(did, rkey));
          tag.value = Value(std::move(updated));
          writes.push_back(xrpc::WriteOp::update(std::string(oci::kTagCollection), tag.rkey, tag.value));
        }
        if (auto id = manifest_identity(old.value)) remember_manifest_key(did, id->first, id->second, rkey);
      }
      session.apply_writes(writes);
    }
    tid_keyed.put(did, true);
    log::info("appview", "{}: re-keyed {} manifest records to TIDs", did, legacy.size());
  } catch (const Error& e) {
    log::warn("appview", "{}: re-keying manifest records: {}", did, e.what());
  }
}

std::optional<oci::Digest> Appview::Impl::resolve_tag(const Target& t, const std::string& tag) {
  std::string key = t.did + "/" + t.name.repository + ":" + tag;
  if (auto hit = tags.get(key)) return oci::Digest::parse(*hit);
  auto record = get_record(t, oci::kTagCollection, oci::tag_rkey(t.name.repository, tag));
  if (!record) return std::nullopt;
  oci::TagRecord tr = oci::TagRecord::from_value(*record);
  if (tr.repository != t.name.repository || tr.tag != tag) return std::nullopt;
  auto digest = tr.digest();
  if (digest) {
    tags.put(key, digest->str());
    // The tag names its manifest's record: no search for it.
    if (auto rkey = oci::manifest_rkey_of(tr.manifest_uri, t.did))
      remember_manifest_key(t.did, t.name.repository, *digest, *rkey);
  }
  return digest;
}

void Appview::Impl::forget_repo_caches(const Target& t) {
  std::string prefix = t.did + "/" + t.name.repository;
  tags.erase_prefix(prefix + ":");
  tag_lists.erase(prefix);
  manifests.erase_prefix(prefix + "@");
  manifest_rkeys.erase_prefix(prefix + "@");
  missing_manifests.erase_prefix(prefix + "@");
}

std::optional<CachedManifest> Appview::Impl::fetch_manifest(const Target& t, const oci::Digest& digest) {
  std::string key = manifest_cache_key(t.did, t.name.repository, digest);
  if (auto hit = manifests.get(key)) return hit;
  auto found = find_manifest_record(t, digest, true);
  if (!found) return std::nullopt;
  oci::ManifestRecord record = oci::ManifestRecord::from_value(found->value);
  if (!record.manifest_blob)
    throw registry_error(oci::ErrorCode::kManifestUnknown,
                         fmt::format("the record of {} has no manifestBlob", digest.str()));
  xrpc::XrpcClient pds(t.pds_url, http);
  xrpc::XrpcResponse blob = pds.query_raw(
      "com.atproto.sync.getBlob", xrpc::Params{{"did", t.did}, {"cid", record.manifest_blob->to_string()}});
  // The PDS is not trusted with content addressing: the bytes must be the
  // manifest the digest names, or a client would run something else.
  oci::Digest actual = oci::Digest::of(blob.body);
  if (actual != digest)
    throw registry_error(oci::ErrorCode::kManifestInvalid,
                         fmt::format("the manifest blob in {}'s PDS hashes to {}, not {}: refusing to serve it",
                                     t.did, actual.str(), digest.str()),
                         502);
  CachedManifest m;
  m.bytes = to_string(blob.body);
  m.media_type = record.media_type;
  if (m.media_type.empty()) m.media_type = oci::Manifest::parse(m.bytes, "").media_type;
  if (record.subject) m.subject_digest = record.subject->digest.str();
  manifests.put(key, m);
  return m;
}

}  // namespace atcr::appview

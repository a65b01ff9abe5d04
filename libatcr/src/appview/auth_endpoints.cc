// GET /auth/token (the distribution token flow) and GET /v2/ (the API
// version check every client starts with).
//
// /auth/token with Basic credentials, handle or DID and either
//  - a device secret of docker-credential-atcr (device_endpoints.cc): it
//    must be one of that DID's devices, and the user's OAuth session (the
//    browser sign-in the device was approved under) must still stand: an
//    app-password session does not count, and logging out (which revokes
//    the grant) stops every device; the token says auth_method "oauth";
//  - an app password: the user's PDS is resolved and asked to create a
//    session; the session is kept (SQLite) so pushes can write records and
//    get hold service tokens; the user's io.atcr.sailor.profile is created
//    if missing; auth_method "app_password".
// The token grants push/delete only on repositories under the user's own
// identity, pull everywhere. Without credentials: pull-only. Wrong
// credentials are 401 UNAUTHORIZED saying what to do.
#include <fmt/core.h>

#include "appview/appview_impl.h"
#include "atcr/crypto/sha256.h"
#include "atcr/data/datetime.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"
#include "atcr/log.h"
#include "atcr/xrpc/error.h"
#include "util/text.h"

namespace atcr::appview {

namespace {

struct BasicCredentials {
  std::string user;
  std::string password;
};

std::optional<BasicCredentials> basic_credentials(const xrpc::ServerRequest& req) {
  std::string auth = req.header("authorization");
  if (auth.size() < 6) return std::nullopt;
  if (!util::iequals_ascii(std::string_view(auth).substr(0, 6), "Basic ")) return std::nullopt;
  std::string decoded;
  try {
    decoded = to_string(base64::decode(std::string_view(auth).substr(6)));
  } catch (const ParseError&) {
    throw registry_error(oci::ErrorCode::kUnauthorized, "malformed Basic credentials");
  }
  // A DID has colons of its own: "did:plc:abc:secret" splits after the
  // DID (atproto's did:plc and did:web have exactly two).
  auto colon = decoded.find(':', decoded.starts_with("did:") ? decoded.find(':', 4) + 1 : 0);
  if (colon == std::string::npos || colon == 0)
    throw registry_error(oci::ErrorCode::kUnauthorized, "Basic credentials need user:password");
  return BasicCredentials{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

}  // namespace

void Appview::Impl::register_auth(xrpc::XrpcServer& server) {
  server.route("GET", "/v2/?", guard("", [this](const xrpc::ServerRequest& req) {
    auto claims = claims_of(req);
    if (!claims) throw registry_error(oci::ErrorCode::kUnauthorized, "authentication required");
    return xrpc::ServerResponse::text("{}", "application/json");
  }));

  server.route("GET", std::string(kTokenPath),
               guard("", [this](const xrpc::ServerRequest& req) { return issue_token(req); }));
}

xrpc::ServerResponse Appview::Impl::issue_token(const xrpc::ServerRequest& req) {
  auto service = req.param("service");
  if (service && *service != config.server.service)
    throw registry_error(oci::ErrorCode::kDenied,
                         fmt::format("this registry is service '{}', not '{}'", config.server.service, *service));
  std::vector<AccessEntry> requested = parse_scopes(req.param_all("scope"));

  std::string did, auth_method;
  if (auto creds = basic_credentials(req)) {
    if (std::string_view(creds->password).starts_with(kDeviceSecretPrefix)) {
      did = device_login(creds->user, creds->password);
      auth_method = "oauth";
    } else {
      did = password_login(creds->user, creds->password);
      auth_method = "app_password";
    }
  }

  std::vector<AccessEntry> granted;
  for (AccessEntry& e : requested) {
    if (e.type == "registry" && e.name == "catalog") {
      granted.push_back({"registry", "catalog", {"*"}});
      continue;
    }
    if (e.type != "repository") continue;
    std::vector<std::string> actions;
    bool owner = false;
    if (!did.empty()) {
      try {
        Target t = resolve_name(e.name);
        owner = t.did == did;
      } catch (const oci::RegistryError&) {
        continue;  // an invalid or unknown name gets nothing
      }
    }
    for (const std::string& a : e.actions) {
      if (a == "pull" || (owner && (a == "push" || a == "delete" || a == "*"))) actions.push_back(a);
    }
    if (!actions.empty()) granted.push_back({e.type, e.name, std::move(actions)});
  }

  std::string token = issuer->mint(did, granted, config.auth.token_lifetime, auth_method);
  Value body(Value::Map{
      {"token", Value(token)},
      {"access_token", Value(token)},
      {"expires_in", Value(static_cast<std::int64_t>(config.auth.token_lifetime.count()))},
      {"issued_at", Value(now_datetime())},
  });
  return xrpc::ServerResponse::json(body);
}

LoginIdentity Appview::Impl::resolve_login(const std::string& user) {
  LoginIdentity id;
  try {
    id.identity = oci::normalize_identity(user);
  } catch (const oci::RegistryError&) {
    throw registry_error(oci::ErrorCode::kUnauthorized, "the user name must be a handle or a DID");
  }
  try {
    std::tie(id.did, id.pds_url) = resolve_identity(id.identity);
  } catch (const oci::RegistryError& e) {
    throw registry_error(oci::ErrorCode::kUnauthorized, e.message());
  }
  return id;
}

std::string Appview::Impl::password_login(const std::string& user, const std::string& password) {
  // Clients ask for a token per operation: one login per credentials
  // and few minutes spares the PDS (and its createSession rate limit and
  // password hashing). A remembered login counts only while the session it
  // made is still the DID's live one (a login with another password
  // replaces it; a refused refresh ends it), and the PDS still refreshes
  // it: a revoked app password's refresh tokens are revoked with it, while
  // its access token would go on working for hours.
  std::string key = hex::encode(sha256(as_bytes(user + ":" + password)));
  if (auto hit = logins.get(key)) {
    auto live = store->get(hit->did);
    if (live && live == hit->session.lock()) {
      try {
        live->refresh();
        return hit->did;
      } catch (const xrpc::XrpcError& e) {
        // Refused: the session has ended (on_refresh_refused); log in anew.
        log::info("appview", "the remembered login of {} no longer stands: {}", hit->did, e.message());
      }
    }
    logins.erase(key);
  }
  auto [identity, did, pds_url] = resolve_login(user);
  std::optional<xrpc::PdsSession> session;
  try {
    session = xrpc::PdsSession::create(pds_url, identity, password, http);
  } catch (const xrpc::XrpcError& e) {
    if (e.status() == 401 || e.status() == 400)
      throw registry_error(oci::ErrorCode::kUnauthorized,
                           fmt::format("the PDS refused the login of {}: {}", identity, e.message()));
    throw;
  }
  if (session->did() != did)
    throw registry_error(oci::ErrorCode::kUnauthorized, fmt::format("the PDS logged in {} as {}", identity, session->did()));
  auto shared = store->adopt(std::move(*session), pds_url);
  ensure_profile(*shared, did, pds_url);
  migrate_manifest_keys(*shared, did, pds_url);
  logins.put(key, {did, shared});
  return did;
}

std::string Appview::Impl::device_login(const std::string& user, const std::string& secret) {
  const std::string again = fmt::format("run: docker-credential-atcr login {}", config.server.service);
  std::string did = resolve_login(user).did;
  if (!devices->check_secret(did, secret))
    throw registry_error(oci::ErrorCode::kUnauthorized,
                         fmt::format("this device is not signed in as {} (it was revoked, or the secret is wrong); {}",
                                     user, again));
  if (!oauth_sessions->alive(did))
    throw registry_error(oci::ErrorCode::kUnauthorized,
                         fmt::format("{} is not signed in on this registry with ATProto OAuth (the sign-in ended, "
                                     "was logged out or revoked; device secrets work only while it stands); {}",
                                     user, again));
  return did;
}

void Appview::Impl::ensure_profile(const xrpc::PdsSession& session, const std::string& did,
                                   const std::string& pds_url) {
  Target t;
  t.did = did;
  t.pds_url = pds_url;
  if (get_record(t, "io.atcr.sailor.profile", "self")) return;
  Value::Map profile{{"$type", Value("io.atcr.sailor.profile")}, {"createdAt", Value(now_datetime())}};
  if (!config.server.default_hold_did.empty()) profile["defaultHold"] = Value(config.server.default_hold_did);
  try {
    session.put_record("io.atcr.sailor.profile", "self", Value(std::move(profile)));
  } catch (const xrpc::XrpcError& e) {
    // Login still works: pushes fall back to the default hold.
    log::warn("appview", "creating the sailor profile of {}: {}", did, e.what());
  }
}

}  // namespace atcr::appview

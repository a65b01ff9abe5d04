// The OAuth client: discovery, PAR, the code exchange and refreshes (see
// atcr/oauth/client.h).
#include "atcr/oauth/client.h"

#include <fmt/core.h>

#include <algorithm>
#include <utility>

#include "atcr/crypto/sha256.h"
#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/encoding/hex.h"
#include "atcr/oauth/jose.h"
#include "atcr/xrpc/client.h"
#include "atcr/xrpc/service_auth.h"
#include "util/text.h"

namespace atcr::oauth {

namespace {

constexpr std::string_view kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr std::int64_t kDefaultTokenLifetime = 3600;
constexpr std::size_t kMaxNonces = 10000;

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The host[:port] part of an http(s) URL.
std::string_view authority_of(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme + 3);
  return rest.substr(0, rest.find_first_of("/?#"));
}

std::string_view host_of(std::string_view authority) {
  if (starts_with(authority, "[")) return authority.substr(0, authority.find(']') + 1);
  return authority.substr(0, authority.find(':'));
}

const Value* field(const Value& map, std::string_view name) { return map.is_map() ? map.find(name) : nullptr; }

std::string string_field(const Value& map, std::string_view name) {
  const Value* v = field(map, name);
  return v != nullptr && v->is_string() ? v->as_string() : std::string();
}

bool array_has(const Value& map, std::string_view name, std::string_view item) {
  const Value* v = field(map, name);
  if (v == nullptr || !v->is_array()) return false;
  for (const Value& e : v->as_array())
    if (e.is_string() && e.as_string() == item) return true;
  return false;
}

bool scope_has(std::string_view scope, std::string_view wanted) {
  while (!scope.empty()) {
    auto space = scope.find(' ');
    if (scope.substr(0, space) == wanted) return true;
    if (space == std::string_view::npos) break;
    scope.remove_prefix(space + 1);
  }
  return false;
}

Value parse_object(const net::HttpResponse& response) {
  try {
    Value v = json::parse(response.text());
    if (v.is_map()) return v;
  } catch (const ParseError&) {
  }
  return Value();
}

}  // namespace

OAuthError::OAuthError(std::string error, std::string description, int status)
    : Error(fmt::format("oauth: {}{}{}", error, description.empty() ? "" : ": ", description)),
      error_(std::move(error)),
      description_(std::move(description)),
      status_(status) {}

bool is_loopback_url(std::string_view url) {
  if (!starts_with(url, "http://")) return false;
  std::string_view host = host_of(authority_of(url));
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

std::string url_origin(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, scheme + 3)) + std::string(authority_of(url));
}

Client::Client(ClientOptions options, identity::Resolver& resolver, std::shared_ptr<const net::HttpClient> http)
    : options_(std::move(options)), resolver_(resolver), http_(std::move(http)) {
  options_.base_url = std::string(util::strip_trailing_slashes(options_.base_url));
  if (!http_) http_ = std::make_shared<const net::HttpClient>();
  if (!scope_has(options_.scope, "atproto"))
    throw ParseError(fmt::format("oauth: scope \"{}\" lacks \"atproto\"", options_.scope));
  if (is_loopback_url(options_.base_url)) {
    // The loopback client: atproto wants the redirect on 127.0.0.1 (the
    // port is ours), and the client_id on "localhost" without a port.
    confidential_ = false;
    std::string_view authority = authority_of(options_.base_url);
    std::string_view host = host_of(authority);
    redirect_uri_ = "http://127.0.0.1" + std::string(authority.substr(host.size())) + options_.redirect_path;
    client_id_ = "http://localhost?redirect_uri=" + net::url_encode(redirect_uri_) +
                 "&scope=" + net::url_encode(options_.scope);
  } else if (starts_with(options_.base_url, "https://") && !authority_of(options_.base_url).empty()) {
    confidential_ = true;
    if (!options_.client_key || options_.client_key->type() != KeyType::kP256)
      throw ParseError("oauth: a confidential client needs a P-256 client key");
    client_id_ = options_.base_url + "/client-metadata.json";
    redirect_uri_ = options_.base_url + options_.redirect_path;
    // A stable name for the key: a new key gets a new kid.
    key_id_ = hex::encode(BytesView(sha256(options_.client_key->public_key().compressed())).first(8));
  } else {
    throw ParseError(fmt::format(
        "oauth: base URL \"{}\" is neither https:// (confidential client) nor http on loopback", options_.base_url));
  }
}

Value Client::metadata() const {
  Value::Map m{
      {"client_id", Value(client_id_)},
      {"client_name", Value(options_.client_name)},
      {"client_uri", Value(options_.base_url)},
      {"application_type", Value(confidential_ ? "web" : "native")},
      {"grant_types", Value(Value::Array{Value("authorization_code"), Value("refresh_token")})},
      {"response_types", Value(Value::Array{Value("code")})},
      {"redirect_uris", Value(Value::Array{Value(redirect_uri_)})},
      {"scope", Value(options_.scope)},
      {"dpop_bound_access_tokens", Value(true)},
      {"token_endpoint_auth_method", Value(confidential_ ? "private_key_jwt" : "none")},
  };
  if (confidential_) {
    m.emplace("token_endpoint_auth_signing_alg", Value("ES256"));
    m.emplace("jwks", jwks());
  }
  return Value(std::move(m));
}

Value Client::jwks() const {
  Value::Array keys;
  if (confidential_) keys.push_back(public_jwk(options_.client_key->public_key(), key_id_));
  return Value(Value::Map{{"keys", Value(std::move(keys))}});
}

void Client::check_url(std::string_view url, std::string_view what) const {
  bool ok = (starts_with(url, "https://") || (options_.allow_http && starts_with(url, "http://"))) &&
            !authority_of(url).empty();
  if (!ok) throw OAuthError("invalid_metadata", fmt::format("{} \"{}\" is not an https URL", what, url));
}

Value Client::get_json(const std::string& url, std::string_view what) const {
  net::HttpResponse r = http_->get(url, {{"Accept", "application/json"}});
  if (!r.ok()) throw OAuthError("invalid_metadata", fmt::format("{} ({}) answered {}", what, url, r.status));
  Value v = parse_object(r);
  if (v.is_null()) throw OAuthError("invalid_metadata", fmt::format("{} ({}) is not a JSON object", what, url));
  return v;
}

AuthServer Client::server_of_pds(const std::string& pds_url) const {
  check_url(pds_url, "PDS");
  Value resource = get_json(pds_url + "/.well-known/oauth-protected-resource", "the PDS's resource metadata");
  const Value* servers = field(resource, "authorization_servers");
  if (servers == nullptr || !servers->is_array() || servers->as_array().empty() ||
      !servers->as_array()[0].is_string())
    throw OAuthError("invalid_metadata", fmt::format("the PDS {} names no authorization server", pds_url));
  return server_metadata(std::string(util::strip_trailing_slashes(servers->as_array()[0].as_string())));
}

AuthServer Client::server_metadata(const std::string& issuer) const {
  check_url(issuer, "authorization server");
  Value meta = get_json(issuer + "/.well-known/oauth-authorization-server", "the authorization server's metadata");
  if (util::strip_trailing_slashes(string_field(meta, "issuer")) != issuer)
    throw OAuthError("issuer_mismatch", fmt::format("the authorization server {} calls itself \"{}\"", issuer,
                                                    string_field(meta, "issuer")));
  AuthServer s{issuer, string_field(meta, "pushed_authorization_request_endpoint"),
               string_field(meta, "authorization_endpoint"), string_field(meta, "token_endpoint"),
               string_field(meta, "revocation_endpoint")};
  check_url(s.par_endpoint, "PAR endpoint");
  check_url(s.authorization_endpoint, "authorization endpoint");
  check_url(s.token_endpoint, "token endpoint");
  if (!s.revocation_endpoint.empty()) check_url(s.revocation_endpoint, "revocation endpoint");
  if (!array_has(meta, "code_challenge_methods_supported", "S256"))
    throw OAuthError("invalid_metadata", fmt::format("{} does not support PKCE S256", issuer));
  if (!array_has(meta, "dpop_signing_alg_values_supported", "ES256"))
    throw OAuthError("invalid_metadata", fmt::format("{} does not support ES256 DPoP", issuer));
  if (confidential_ && !array_has(meta, "token_endpoint_auth_methods_supported", "private_key_jwt"))
    throw OAuthError("invalid_metadata", fmt::format("{} does not support private_key_jwt", issuer));
  return s;
}

Discovery Client::discover(std::string_view input) const {
  Discovery d;
  if (starts_with(input, "https://") || starts_with(input, "http://")) {
    d.pds_url = std::string(util::strip_trailing_slashes(input));
    // A URL typed by anyone is fetched from here: outside development,
    // never an address on this host or network.
    std::string_view host = host_of(authority_of(d.pds_url));
    if (!options_.allow_http && (is_loopback_url("http://" + std::string(authority_of(d.pds_url))) ||
                                 host.find_first_not_of("0123456789.") == std::string_view::npos ||
                                 host.empty() || host.front() == '[' || host.find('.') == std::string_view::npos))
      throw OAuthError("invalid_request", fmt::format("\"{}\" is not a PDS on the internet", input));
  } else {
    identity::Identity id = resolver_.resolve(input);
    d.did = id.did;
    d.handle = id.handle.value_or("");
    auto pds = id.document.pds_endpoint();
    if (!pds) throw OAuthError("invalid_identity", fmt::format("{} names no PDS", id.did));
    d.pds_url = std::string(util::strip_trailing_slashes(*pds));
  }
  d.server = server_of_pds(d.pds_url);
  return d;
}

std::string Client::nonce_for(std::string_view url) const {
  std::lock_guard lock(nonce_mu_);
  auto it = nonces_.find(url_origin(url));
  return it == nonces_.end() ? std::string() : it->second;
}

void Client::remember_nonce(std::string_view url, std::string_view nonce) const {
  if (nonce.empty() || nonce.size() > 1024) return;
  std::lock_guard lock(nonce_mu_);
  // One entry per server this AppView talks to; a flood of sign-ins naming
  // made-up servers must not grow it without bound (a lost nonce costs one
  // use_dpop_nonce round trip).
  if (nonces_.size() >= kMaxNonces) nonces_.clear();
  nonces_[url_origin(url)] = std::string(nonce);
}

std::string Client::client_auth_params(const AuthServer& server) const {
  if (!confidential_) return {};
  return "&" + xrpc::Params{{"client_assertion_type", std::string(kAssertionType)},
                            {"client_assertion", make_client_assertion(*options_.client_key, key_id_, client_id_,
                                                                       server.issuer)}}
                   .encode();
}

net::HttpResponse Client::post_dpop(const std::string& url, const std::function<std::string()>& form_body,
                                    const PrivateKey& dpop_key) const {
  for (int attempt = 0;; ++attempt) {
    std::string proof = make_dpop_proof(dpop_key, {.htm = "POST", .url = url, .nonce = nonce_for(url)});
    // Built per attempt: a client assertion (jti) is single-use.
    net::HttpResponse r = http_->post(url, "application/x-www-form-urlencoded", as_bytes(form_body()),
                                      {{"DPoP", proof}, {"Accept", "application/json"}});
    remember_nonce(url, r.header("dpop-nonce"));
    if (r.ok()) return r;
    Value err = parse_object(r);
    std::string code = string_field(err, "error");
    if (code == "use_dpop_nonce" && attempt == 0 && !r.header("dpop-nonce").empty()) continue;
    throw OAuthError(code.empty() ? "server_error" : code, string_field(err, "error_description"), r.status);
  }
}

PendingAuthorization Client::start(std::string_view input) const {
  Discovery d = discover(input);
  Pkce pkce = make_pkce();
  PendingAuthorization p{random_token(24), d, pkce.verifier, PrivateKey::generate(KeyType::kP256), {},
                         xrpc::unix_now()};
  xrpc::Params form{{"client_id", client_id_},           {"response_type", "code"},
                    {"code_challenge", pkce.challenge}, {"code_challenge_method", "S256"},
                    {"state", p.state},                 {"redirect_uri", redirect_uri_},
                    {"scope", options_.scope}};
  if (!d.handle.empty() || !d.did.empty()) form.add("login_hint", d.handle.empty() ? d.did : d.handle);
  net::HttpResponse r = post_dpop(
      d.server.par_endpoint, [&] { return form.encode() + client_auth_params(d.server); }, p.dpop_key);
  std::string request_uri = string_field(parse_object(r), "request_uri");
  if (request_uri.empty()) throw OAuthError("invalid_par_response", "the PAR response has no request_uri");
  p.authorization_url = d.server.authorization_endpoint + "?" +
                        xrpc::Params{{"client_id", client_id_}, {"request_uri", request_uri}}.encode();
  return p;
}

TokenSet Client::finish(const PendingAuthorization& pending, const CallbackParams& cb) const {
  if (!cb.error.empty()) throw OAuthError(cb.error, cb.error_description);
  if (cb.state != pending.state) throw OAuthError("invalid_state", "the callback's state is not this request's");
  if (cb.iss != pending.discovery.server.issuer)
    throw OAuthError("issuer_mismatch", fmt::format("the callback comes from \"{}\", not {}", cb.iss,
                                                    pending.discovery.server.issuer));
  if (cb.code.empty()) throw OAuthError("invalid_request", "the callback has no code");
  xrpc::Params form{{"grant_type", "authorization_code"}, {"code", cb.code},
                    {"redirect_uri", redirect_uri_},      {"code_verifier", pending.code_verifier},
                    {"client_id", client_id_}};
  return token_request(form, pending.discovery, pending.dpop_key);
}

TokenSet Client::refresh(const TokenSet& tokens, const PrivateKey& dpop_key) const {
  Discovery expected{tokens.did, tokens.handle, tokens.pds_url, {tokens.issuer, {}, {}, tokens.token_endpoint, {}}};
  xrpc::Params form{{"grant_type", "refresh_token"}, {"refresh_token", tokens.refresh_token},
                    {"client_id", client_id_}};
  return token_request(form, expected, dpop_key);
}

void Client::revoke(const TokenSet& tokens, const PrivateKey& dpop_key) const {
  AuthServer server = server_metadata(tokens.issuer);
  if (server.revocation_endpoint.empty())
    throw OAuthError("unsupported_revocation", fmt::format("{} names no revocation endpoint", tokens.issuer));
  bool refresh = !tokens.refresh_token.empty();
  xrpc::Params form{{"token", refresh ? tokens.refresh_token : tokens.access_token},
                    {"token_type_hint", refresh ? "refresh_token" : "access_token"},
                    {"client_id", client_id_}};
  post_dpop(server.revocation_endpoint, [&] { return form.encode() + client_auth_params(server); }, dpop_key);
}

TokenSet Client::token_request(const xrpc::Params& form, const Discovery& expected,
                               const PrivateKey& dpop_key) const {
  net::HttpResponse r = post_dpop(
      expected.server.token_endpoint, [&] { return form.encode() + client_auth_params(expected.server); }, dpop_key);
  Value v = parse_object(r);
  TokenSet t;
  t.access_token = string_field(v, "access_token");
  t.refresh_token = string_field(v, "refresh_token");
  t.scope = string_field(v, "scope");
  t.did = string_field(v, "sub");
  std::string type = string_field(v, "token_type");
  type = util::ascii_lower(type);
  if (t.access_token.empty() || type != "dpop")
    throw OAuthError("invalid_token_response", "the token response has no DPoP-bound access_token");
  if (!scope_has(t.scope, "atproto"))
    throw OAuthError("invalid_token_response", fmt::format("the granted scope \"{}\" lacks atproto", t.scope));
  if (!syntax::is_valid_did(t.did))
    throw OAuthError("invalid_token_response", fmt::format("sub \"{}\" is not a DID", t.did));
  if (!expected.did.empty() && t.did != expected.did)
    throw OAuthError("subject_mismatch", fmt::format("the grant is for {}, not {}", t.did, expected.did));
  const Value* expires_in = field(v, "expires_in");
  std::int64_t lifetime = expires_in != nullptr && expires_in->is_integer() ? expires_in->as_integer()
                                                                             : kDefaultTokenLifetime;
  t.expires_at = xrpc::unix_now() + std::clamp<std::int64_t>(lifetime, 1, 365 * 86400);
  t.issuer = expected.server.issuer;
  t.token_endpoint = expected.server.token_endpoint;
  t.handle = expected.handle;
  t.pds_url = expected.pds_url;
  if (expected.server.par_endpoint.empty()) return t;  // a refresh: the account was checked at sign-in

  // The account's own PDS must name this authorization server, whatever
  // the user typed: an authorization server speaks only for its accounts.
  identity::Identity id = resolver_.resolve(t.did);
  auto pds = id.document.pds_endpoint();
  if (!pds) throw OAuthError("subject_mismatch", fmt::format("{} names no PDS", t.did));
  t.pds_url = std::string(util::strip_trailing_slashes(*pds));
  t.handle = id.handle.value_or("");
  std::string issuer = t.pds_url == expected.pds_url ? expected.server.issuer : server_of_pds(t.pds_url).issuer;
  if (t.pds_url != expected.pds_url && issuer != expected.server.issuer)
    throw OAuthError("issuer_mismatch",
                     fmt::format("{}'s PDS is served by {}, not {}", t.did, issuer, expected.server.issuer));
  return t;
}

}  // namespace atcr::oauth

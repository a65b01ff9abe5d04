// PdsSession: token handling (login, refresh, retry on expiry). The repo
// calls built on it are in session_repo.cc.
#include "atcr/xrpc/session.h"

#include <fmt/core.h>

#include <mutex>
#include <utility>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "xrpc/session_impl.h"

namespace atcr::xrpc {

namespace {

bool is_expired_token(const XrpcError& e) {
  return (e.status() == 400 || e.status() == 401) && e.error() == "ExpiredToken";
}

const std::string& required_string(const Value& v, std::string_view field, std::string_view what) {
  const Value* f = v.is_map() ? v.find(field) : nullptr;
  if (f == nullptr || !f->is_string() || f->as_string().empty())
    throw ParseError(fmt::format("{}: response has no \"{}\" string", what, field));
  return f->as_string();
}

Value parse_json(const XrpcResponse& response, std::string_view nsid) {
  try {
    return response.json();
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("xrpc {}: response is not valid JSON: {}", nsid, e.what()));
  }
}

SessionTokens parse_tokens(const Value& v, std::string_view what) {
  SessionTokens t{required_string(v, "did", what), required_string(v, "handle", what),
                  required_string(v, "accessJwt", what), required_string(v, "refreshJwt", what)};
  syntax::validate_did(t.did);
  return t;
}

}  // namespace

std::string PdsSession::Impl::access_jwt() const {
  std::lock_guard lock(mu);
  return tokens.access_jwt;
}

void PdsSession::Impl::refresh_locked() {
  std::string refresh_jwt;
  {
    std::lock_guard lock(mu);
    refresh_jwt = tokens.refresh_jwt;
  }
  // Outside `mu`: calls keep reading the old access token meanwhile.
  Value out;
  try {
    out = client.procedure("com.atproto.server.refreshSession", Value(), {}, {.bearer = refresh_jwt});
  } catch (const XrpcError& e) {
    std::function<void(const XrpcError&)> refused;
    {
      std::lock_guard lock(mu);
      refused = on_refresh_refused;
    }
    if (refused) refused(e);
    throw;
  }
  SessionTokens fresh = parse_tokens(out, "com.atproto.server.refreshSession");
  std::function<void(const SessionTokens&)> callback;
  {
    std::lock_guard lock(mu);
    if (fresh.did != tokens.did)
      throw ParseError(fmt::format("com.atproto.server.refreshSession: session of {} refreshed as {}",
                                   tokens.did, fresh.did));
    tokens = fresh;
    callback = on_refresh;
  }
  if (callback) callback(fresh);
}

void PdsSession::Impl::refresh_if_current(const std::string& expired_access) {
  std::lock_guard refreshing(refresh_mu);
  // Another thread may have refreshed while we waited: then its token is
  // the one to retry with, and refreshing again would waste a refresh token.
  if (access_jwt() != expired_access) return;
  refresh_locked();
}

XrpcResponse PdsSession::Impl::authed(
    const std::function<XrpcResponse(const std::string& access)>& send) {
  std::string access = access_jwt();
  try {
    return send(access);
  } catch (const XrpcError& e) {
    if (!is_expired_token(e)) throw;
  }
  refresh_if_current(access);
  return send(access_jwt());
}

PdsSession::PdsSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PdsSession::PdsSession(PdsSession&&) noexcept = default;
PdsSession& PdsSession::operator=(PdsSession&&) noexcept = default;
PdsSession::~PdsSession() = default;

PdsSession PdsSession::create(std::string pds_url, std::string_view identifier,
                              std::string_view password,
                              std::shared_ptr<const net::HttpClient> http,
                              std::string_view auth_factor_token) {
  XrpcClient client(std::move(pds_url), std::move(http));
  Value::Map input{{"identifier", Value(identifier)}, {"password", Value(password)}};
  if (!auth_factor_token.empty()) input.emplace("authFactorToken", Value(auth_factor_token));
  Value out = client.procedure("com.atproto.server.createSession", Value(std::move(input)));
  SessionTokens tokens = parse_tokens(out, "com.atproto.server.createSession");
  return PdsSession(std::make_unique<Impl>(std::move(client), std::move(tokens)));
}

PdsSession PdsSession::resume(std::string pds_url, SessionTokens tokens,
                              std::shared_ptr<const net::HttpClient> http) {
  syntax::validate_did(tokens.did);
  if (tokens.access_jwt.empty() || tokens.refresh_jwt.empty())
    throw ParseError("xrpc session: cannot resume without both tokens");
  XrpcClient client(std::move(pds_url), std::move(http));
  return PdsSession(std::make_unique<Impl>(std::move(client), std::move(tokens)));
}

PdsSession PdsSession::with_authorizer(std::string pds_url, std::string did, std::string handle,
                                       std::shared_ptr<CallAuthorizer> authorizer,
                                       std::shared_ptr<const net::HttpClient> http) {
  syntax::validate_did(did);
  if (!authorizer) throw ParseError("xrpc session: no authorizer");
  XrpcClient client(std::move(pds_url), std::move(http));
  auto impl = std::make_unique<Impl>(std::move(client), SessionTokens{std::move(did), std::move(handle), {}, {}});
  impl->authorizer = std::move(authorizer);
  return PdsSession(std::move(impl));
}

SessionTokens PdsSession::tokens() const {
  std::lock_guard lock(impl_->mu);
  return impl_->tokens;
}

std::string PdsSession::did() const {
  std::lock_guard lock(impl_->mu);
  return impl_->tokens.did;
}

std::string PdsSession::handle() const {
  std::lock_guard lock(impl_->mu);
  return impl_->tokens.handle;
}

const XrpcClient& PdsSession::client() const { return impl_->client; }

void PdsSession::on_refresh(std::function<void(const SessionTokens&)> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->on_refresh = std::move(callback);
}

void PdsSession::on_refresh_refused(std::function<void(const XrpcError&)> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->on_refresh_refused = std::move(callback);
}

void PdsSession::refresh() {
  if (impl_->authorizer) return;
  std::lock_guard refreshing(impl_->refresh_mu);
  impl_->refresh_locked();
}

XrpcResponse PdsSession::call(std::string_view http_method, std::string_view nsid,
                              const Params& params, BytesView body,
                              std::string_view content_type, const CallOptions& options) const {
  if (impl_->authorizer) {
    std::string url = impl_->client.url(nsid, params);
    return impl_->authorizer->authorize(http_method, url, [&](const net::Headers& auth) {
      CallOptions with_auth = options;
      with_auth.headers.insert(with_auth.headers.end(), auth.begin(), auth.end());
      return impl_->client.call(http_method, nsid, params, body, content_type, with_auth);
    });
  }
  return impl_->authed([&](const std::string& access) {
    CallOptions with_token = options;
    with_token.bearer = access;
    return impl_->client.call(http_method, nsid, params, body, content_type, with_token);
  });
}

Value PdsSession::query(std::string_view nsid, const Params& params,
                        const CallOptions& options) const {
  return parse_json(call("GET", nsid, params, {}, {}, options), nsid);
}

Value PdsSession::procedure(std::string_view nsid, const Value& input, const Params& params,
                            const CallOptions& options) const {
  std::string body = input.is_null() ? std::string() : json::serialize(input);
  return parse_json(call("POST", nsid, params, as_bytes(body), "application/json", options), nsid);
}

}  // namespace atcr::xrpc

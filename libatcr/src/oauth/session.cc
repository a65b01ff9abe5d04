// OAuth sessions: DPoP-signed calls, nonce retries, single-flight refresh
// (see atcr/oauth/session.h).
#include "atcr/oauth/session.h"

#include <fmt/core.h>

#include "atcr/oauth/jose.h"
#include "atcr/xrpc/service_auth.h"

namespace atcr::oauth {

namespace {

constexpr std::int64_t kRefreshMargin = 60;  // seconds before expiry

std::string header_of(const net::Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers)
    if (key == name) return value;
  return {};
}

}  // namespace

Session::Session(const Client& client, TokenSet tokens, PrivateKey dpop_key)
    : client_(client), dpop_key_(std::move(dpop_key)), tokens_(std::move(tokens)) {}

TokenSet Session::tokens() const {
  std::lock_guard lock(mu_);
  return tokens_;
}

bool Session::ended() const {
  std::lock_guard lock(mu_);
  return ended_;
}

void Session::on_refresh(std::function<void(const TokenSet&)> callback) {
  std::lock_guard lock(mu_);
  on_refresh_ = std::move(callback);
}

void Session::on_end(std::function<void(const std::string&)> callback) {
  std::lock_guard lock(mu_);
  on_end_ = std::move(callback);
}

std::string Session::access_token() const {
  std::lock_guard lock(mu_);
  if (ended_) throw SessionEnded("session_ended", fmt::format("the OAuth session of {} has ended", tokens_.did));
  return tokens_.access_token;
}

void Session::end(const std::string& why) {
  std::function<void(const std::string&)> callback;
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = true;
    callback = on_end_;
  }
  if (callback) callback(why);
}

void Session::refresh() {
  std::lock_guard refreshing(refresh_mu_);
  refresh_locked();
}

void Session::refresh_if_expiring() {
  std::string access = access_token();
  std::int64_t expires_at;
  {
    std::lock_guard lock(mu_);
    expires_at = tokens_.expires_at;
  }
  if (expires_at - kRefreshMargin <= xrpc::unix_now()) refresh_if_current(access);
}

void Session::refresh_if_current(const std::string& stale_access) {
  std::lock_guard refreshing(refresh_mu_);
  // Another call may have refreshed while we waited: its token is the one
  // to use, and refreshing again would spend the new refresh token.
  if (access_token() != stale_access) return;
  refresh_locked();
}

void Session::refresh_locked() {
  TokenSet current = tokens();
  TokenSet fresh;
  try {
    fresh = client_.refresh(current, dpop_key_);
  } catch (const OAuthError& e) {
    // The authorization server refused the grant (invalid_grant, revoked
    // client...): retrying will not make it better.
    if (e.status() >= 400 && e.status() < 500) {
      end(e.what());
      throw SessionEnded("session_ended",
                         fmt::format("refreshing the OAuth session of {}: {}", current.did, e.what()));
    }
    throw;
  }
  std::function<void(const TokenSet&)> callback;
  {
    std::lock_guard lock(mu_);
    tokens_ = fresh;
    callback = on_refresh_;
  }
  if (callback) callback(fresh);
}

xrpc::XrpcResponse Session::authorize(std::string_view http_method, const std::string& url,
                                      const std::function<xrpc::XrpcResponse(const net::Headers&)>& send) {
  refresh_if_expiring();
  std::string access = access_token();
  bool nonce_retried = false;
  bool refreshed = false;
  for (;;) {
    net::Headers auth{
        {"Authorization", "DPoP " + access},
        {"DPoP", make_dpop_proof(dpop_key_, {.htm = std::string(http_method), .url = url,
                                             .nonce = client_.nonce_for(url), .access_token = access})},
    };
    try {
      xrpc::XrpcResponse r = send(auth);
      client_.remember_nonce(url, r.header("dpop-nonce"));
      return r;
    } catch (const xrpc::XrpcError& e) {
      std::string nonce = header_of(e.headers(), "dpop-nonce");
      client_.remember_nonce(url, nonce);
      if (e.status() != 401) throw;
      std::string challenge = header_of(e.headers(), "www-authenticate");
      if (!nonce_retried && !nonce.empty() && challenge.find("use_dpop_nonce") != std::string::npos) {
        nonce_retried = true;
        continue;
      }
      // Only a token the PDS calls expired or invalid is worth a refresh
      // (refresh tokens are single-use); other 401s are the answer.
      bool stale_token = challenge.find("invalid_token") != std::string::npos || e.error() == "ExpiredToken" ||
                         e.error() == "InvalidToken" || e.error() == "invalid_token";
      if (refreshed || !stale_token) throw;
      refreshed = true;
      refresh_if_current(access);
      access = access_token();
    }
  }
}

xrpc::PdsSession Session::pds_session(std::shared_ptr<const net::HttpClient> http) {
  TokenSet t = tokens();
  return xrpc::PdsSession::with_authorizer(t.pds_url, t.did, t.handle, shared_from_this(), std::move(http));
}

}  // namespace atcr::oauth

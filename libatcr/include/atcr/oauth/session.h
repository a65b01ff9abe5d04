// An OAuth session with a user's PDS: the DPoP-bound tokens of one account,
// signing every call with a fresh DPoP proof (with `ath` and the PDS's
// nonce), refreshed before they expire. It is an xrpc::CallAuthorizer, so
// pds_session() gives an xrpc::PdsSession that writes records and asks for
// service auth exactly as an app-password session does.
//
//   auto s = std::make_shared<oauth::Session>(client, tokens, dpop_key);
//   s->on_refresh([&](const oauth::TokenSet& t) { save(t); });
//   xrpc::PdsSession pds = s->pds_session(http);
//   pds.put_record("io.atcr.sailor.profile", "self", profile);
//
// Refresh: before a call when the access token expires within a minute, or
// once after the PDS refuses it as expired/invalid. Concurrent calls share
// one refresh (single-flight): refresh tokens are single-use. A refused
// refresh (revoked, expired grant) ends the session: ended() turns true,
// on_end runs once, and every call then throws SessionEnded.
//
// Nonces: a 401 with WWW-Authenticate `error="use_dpop_nonce"` is retried
// once with the DPoP-Nonce it carried.
//
// Thread-safe; the Client must outlive the session.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "atcr/crypto/keys.h"
#include "atcr/oauth/client.h"
#include "atcr/xrpc/session.h"

namespace atcr::oauth {

// Calls through a session whose grant is gone: sign in again.
class SessionEnded : public OAuthError {
 public:
  using OAuthError::OAuthError;
};

class Session : public xrpc::CallAuthorizer, public std::enable_shared_from_this<Session> {
 public:
  Session(const Client& client, TokenSet tokens, PrivateKey dpop_key);

  TokenSet tokens() const;
  const PrivateKey& dpop_key() const { return dpop_key_; }
  bool ended() const;

  // Set before sharing the session between threads. on_refresh runs under
  // the refresh lock (saves happen in order); neither may call the session.
  void on_refresh(std::function<void(const TokenSet&)> callback);
  void on_end(std::function<void(const std::string& why)> callback);

  // Refreshes now (single-flight). Throws SessionEnded if refused.
  void refresh();
  // Refreshes if the access token expires within a minute (what every call
  // does first): a grant revoked at the authorization server shows up here
  // as SessionEnded once the token it last issued runs out.
  void refresh_if_expiring();

  xrpc::XrpcResponse authorize(std::string_view http_method, const std::string& url,
                               const std::function<xrpc::XrpcResponse(const net::Headers&)>& send) override;

  // A PdsSession on the account's PDS whose calls this session signs.
  xrpc::PdsSession pds_session(std::shared_ptr<const net::HttpClient> http = nullptr);

 private:
  std::string access_token() const;
  void refresh_if_current(const std::string& stale_access);
  void refresh_locked();  // needs refresh_mu_
  void end(const std::string& why);

  const Client& client_;
  const PrivateKey dpop_key_;
  mutable std::mutex mu_;  // guards tokens_, ended_, callbacks
  TokenSet tokens_;
  bool ended_ = false;
  std::function<void(const TokenSet&)> on_refresh_;
  std::function<void(const std::string&)> on_end_;
  std::mutex refresh_mu_;
};

}  // namespace atcr::oauth

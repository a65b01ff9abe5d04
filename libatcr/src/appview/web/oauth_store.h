// Internal: the AppView's OAuth state.
//   - authorizations in flight (start -> callback): web::PendingLogins, in
//     the same database (any instance sharing it may take the callback);
//   - users' OAuth sessions, in the oauth_sessions table of the AppView's
//     database (appview.sqlite, or database.url's)
//     (DID, handle, PDS, authorization server, tokens, DPoP key, expiry),
//     saved again after every refresh, deleted when the grant ends.
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "atcr/net/http_client.h"
#include "atcr/oauth/client.h"
#include "atcr/oauth/session.h"
#include "atcr/xrpc/session.h"
#include "atcr/db/database.h"
#include "web/oauth_login.h"

namespace atcr::appview::web {

class OAuthStore {
 public:
  OAuthStore(const std::string& db_path, std::unique_ptr<oauth::Client> client,
             std::shared_ptr<const net::HttpClient> http);
  OAuthStore(std::shared_ptr<db::Database> database, std::unique_ptr<oauth::Client> client,
             std::shared_ptr<const net::HttpClient> http);

  const oauth::Client& client() const { return *client_; }

  using Pending = atcr::web::PendingLogin;
  void put_pending(const Pending& pending) { pending_.put(pending); }
  // Removes and returns the authorization of `state` (nullopt if unknown,
  // used or expired; atomic across instances).
  std::optional<Pending> take_pending(const std::string& state) { return pending_.take(state); }

  // Keeps a fresh grant and returns its PDS session. The DID's older grant
  // it replaces is revoked at its authorization server (best effort).
  std::shared_ptr<xrpc::PdsSession> adopt(const oauth::TokenSet& tokens, const PrivateKey& dpop_key);
  // The DID's OAuth-backed PDS session (from memory, else resumed from the
  // database); nullptr if it has none or its grant ended.
  std::shared_ptr<xrpc::PdsSession> get(const std::string& did);
  // Whether the DID has a session whose grant still stands: one whose
  // access token is about to expire is refreshed first, so a grant revoked
  // at the authorization server counts as ended within the token's
  // lifetime. A refresh that fails for another reason (the server is
  // unreachable) leaves the session standing.
  bool alive(const std::string& did);
  // Forgets the DID's session (logout everywhere, revoked grant).
  void drop(const std::string& did);
  // Logout: forgets the DID's session and revokes its grant at the
  // authorization server (RFC 7009), so its tokens stop working there too.
  // A failed revocation is logged, not thrown: the session is gone here
  // either way. False if the DID had no session.
  bool revoke(const std::string& did);
  // Called with the DID when a session's grant ends (refresh refused).
  void on_end(std::function<void(const std::string& did)> callback) { on_end_ = std::move(callback); }

 private:
  struct Live {
    std::shared_ptr<oauth::Session> oauth;
    std::shared_ptr<xrpc::PdsSession> pds;
  };
  void save(const oauth::TokenSet& t, const PrivateKey& dpop_key);
  // RFC 7009 for the session's grant; failures are logged.
  void revoke_at_server(const std::string& did, const oauth::Session& session);
  // The DID's session, from memory else the database (nullopt if none).
  std::optional<Live> live(const std::string& did);
  Live install(const oauth::TokenSet& t, const PrivateKey& dpop_key);
  // Whether `session` is still the DID's current one (not dropped, not
  // replaced by a newer sign-in).
  bool current(const std::string& did, const std::shared_ptr<oauth::Session>& session);
  void ended(const std::string& did, const std::shared_ptr<oauth::Session>& session);

  std::unique_ptr<oauth::Client> client_;
  std::shared_ptr<const net::HttpClient> http_;
  std::function<void(const std::string&)> on_end_;
  std::shared_ptr<db::Database> db_;
  std::mutex mu_;
  std::map<std::string, Live> live_;
  atcr::web::PendingLogins pending_;
};

}  // namespace atcr::appview::web

#include "appview/web/oauth_store.h"

#include "atcr/encoding/hex.h"
#include "atcr/log.h"
#include "atcr/xrpc/service_auth.h"

namespace atcr::appview::web {

namespace {

// Version 1 is the schema of the releases before migrations were numbered.
constexpr const char* kSchemaV1 = R"(
CREATE TABLE IF NOT EXISTS oauth_sessions (
  did TEXT PRIMARY KEY,
  handle TEXT NOT NULL,
  pds_url TEXT NOT NULL,
  issuer TEXT NOT NULL,
  token_endpoint TEXT NOT NULL,
  scope TEXT NOT NULL,
  access_token TEXT NOT NULL,
  refresh_token TEXT NOT NULL,
  dpop_key TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
)";
constexpr db::Migration kMigrations[] = {{1, kSchemaV1}};

}  // namespace

OAuthStore::OAuthStore(const std::string& db_path, std::unique_ptr<oauth::Client> client,
                       std::shared_ptr<const net::HttpClient> http)
    : OAuthStore(db::open(db_path), std::move(client), std::move(http)) {}

OAuthStore::OAuthStore(std::shared_ptr<db::Database> database, std::unique_ptr<oauth::Client> client,
                       std::shared_ptr<const net::HttpClient> http)
    : client_(std::move(client)), http_(std::move(http)), db_(std::move(database)), pending_(db_) {
  db_->migrate("appview.oauth", kMigrations);
}

void OAuthStore::save(const oauth::TokenSet& t, const PrivateKey& dpop_key) {
  db_->exec(
      "INSERT INTO oauth_sessions (did, handle, pds_url, issuer, token_endpoint, scope, access_token, "
      "refresh_token, dpop_key, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (did) DO UPDATE SET handle = excluded.handle, pds_url = excluded.pds_url, "
      "issuer = excluded.issuer, token_endpoint = excluded.token_endpoint, scope = excluded.scope, "
      "access_token = excluded.access_token, refresh_token = excluded.refresh_token, "
      "dpop_key = excluded.dpop_key, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
      {t.did, t.handle, t.pds_url, t.issuer, t.token_endpoint, t.scope, t.access_token, t.refresh_token,
       hex::encode(dpop_key.secret()), t.expires_at, xrpc::unix_now()});
}

OAuthStore::Live OAuthStore::install(const oauth::TokenSet& t, const PrivateKey& dpop_key) {
  auto session = std::make_shared<oauth::Session>(*client_, t, dpop_key);
  std::weak_ptr<oauth::Session> weak = session;
  // Refresh tokens are single-use: an unsaved one is a lost login. A
  // session dropped meanwhile (logout) stays gone.
  session->on_refresh([this, dpop_key, weak](const oauth::TokenSet& fresh) {
    if (!current(fresh.did, weak.lock())) return;
    try {
      save(fresh, dpop_key);
    } catch (const StorageError& e) {
      log::error("appview", "saving the refreshed OAuth session of {}: {}", fresh.did, e.what());
    }
  });
  session->on_end([this, did = t.did, weak](const std::string& why) {
    log::info("appview", "the OAuth session of {} ended: {}", did, why);
    ended(did, weak.lock());
  });
  auto pds = std::make_shared<xrpc::PdsSession>(session->pds_session(http_));
  std::lock_guard lock(mu_);
  return live_[t.did] = Live{session, pds};
}

bool OAuthStore::current(const std::string& did, const std::shared_ptr<oauth::Session>& session) {
  std::lock_guard lock(mu_);
  auto it = live_.find(did);
  return it != live_.end() && it->second.oauth == session;
}

void OAuthStore::ended(const std::string& did, const std::shared_ptr<oauth::Session>& session) {
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(did);
    // Only if it is still this session (not a newer login's).
    if (it == live_.end() || it->second.oauth != session) return;
    live_.erase(it);
  }
  // With a shared database another instance may have refreshed the grant
  // (refresh tokens are single-use) or signed the user in again since this
  // one loaded it: the saved session then stands, and the next use resumes it.
  auto saved = db_->exec("SELECT refresh_token FROM oauth_sessions WHERE did = ?", {did});
  if (session && !saved.empty() && saved.front().text(0) != session->tokens().refresh_token) return;
  db_->exec("DELETE FROM oauth_sessions WHERE did = ?", {did});
  if (on_end_) on_end_(did);
}

std::shared_ptr<xrpc::PdsSession> OAuthStore::adopt(const oauth::TokenSet& tokens, const PrivateKey& dpop_key) {
  auto replaced = live(tokens.did);
  save(tokens, dpop_key);
  auto pds = install(tokens, dpop_key).pds;
  // One grant per account here: the one replaced is used by nothing now.
  if (replaced) revoke_at_server(tokens.did, *replaced->oauth);
  return pds;
}

std::shared_ptr<xrpc::PdsSession> OAuthStore::get(const std::string& did) {
  auto l = live(did);
  return l && !l->oauth->ended() ? l->pds : nullptr;
}

bool OAuthStore::alive(const std::string& did) {
  auto l = live(did);
  if (!l) return false;
  try {
    l->oauth->refresh_if_expiring();
  } catch (const oauth::SessionEnded&) {
    return false;
  } catch (const Error& e) {
    log::warn("appview", "refreshing the OAuth session of {}: {}", did, e.what());
  }
  return !l->oauth->ended();
}

bool OAuthStore::revoke(const std::string& did) {
  auto l = live(did);
  if (!l) return false;
  drop(did);
  revoke_at_server(did, *l->oauth);
  return true;
}

void OAuthStore::revoke_at_server(const std::string& did, const oauth::Session& session) {
  oauth::TokenSet t = session.tokens();
  try {
    client_->revoke(t, session.dpop_key());
    log::info("appview", "an OAuth grant of {} was revoked at {}", did, t.issuer);
  } catch (const Error& e) {
    log::warn("appview", "revoking an OAuth grant of {} at {}: {}", did, t.issuer, e.what());
  }
}

std::optional<OAuthStore::Live> OAuthStore::live(const std::string& did) {
  {
    std::lock_guard lock(mu_);
    if (auto it = live_.find(did); it != live_.end()) return it->second;
  }
  auto found = db_->exec(
      "SELECT handle, pds_url, issuer, token_endpoint, scope, access_token, refresh_token, "
      "dpop_key, expires_at FROM oauth_sessions WHERE did = ?",
      {did});
  if (found.empty()) return std::nullopt;
  const db::Row& r = found.front();
  oauth::TokenSet t{did, r.text(0), r.text(1), r.text(2), r.text(3), r.text(4), r.text(5), r.text(6), r.integer(8)};
  std::string key_hex = r.text(7);
  try {
    return install(t, PrivateKey::from_bytes(KeyType::kP256, hex::decode(key_hex)));
  } catch (const ParseError& e) {
    log::error("appview", "the stored OAuth session of {} is unusable: {}", did, e.what());
    drop(did);
    return std::nullopt;
  }
}

void OAuthStore::drop(const std::string& did) {
  {
    std::lock_guard lock(mu_);
    live_.erase(did);
  }
  db_->exec("DELETE FROM oauth_sessions WHERE did = ?", {did});
}

}  // namespace atcr::appview::web

// The shared parts of an OAuth web sign-in (see oauth_login.h).
#include "web/oauth_login.h"

#include <fmt/core.h>

#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"
#include "atcr/log.h"
#include "atcr/xrpc/service_auth.h"
#include "util/text.h"
#include "web/web_session.h"

namespace atcr::web {

namespace {

constexpr std::int64_t kPendingTtl = 10 * 60;  // seconds
constexpr std::int64_t kMaxPending = 10000;
constexpr std::size_t kMaxAccountInput = 2048;

constexpr const char* kSchemaV1 = R"(
CREATE TABLE IF NOT EXISTS oauth_pending (
  state_hash TEXT PRIMARY KEY,
  did TEXT NOT NULL,
  handle TEXT NOT NULL,
  pds_url TEXT NOT NULL,
  issuer TEXT NOT NULL,
  par_endpoint TEXT NOT NULL,
  authorization_endpoint TEXT NOT NULL,
  token_endpoint TEXT NOT NULL,
  revocation_endpoint TEXT NOT NULL,
  code_verifier TEXT NOT NULL,
  dpop_key TEXT NOT NULL,
  return_to TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS oauth_pending_expires ON oauth_pending (expires_at);
)";
constexpr db::Migration kMigrations[] = {{1, kSchemaV1}};

constexpr std::string_view kPendingColumns =
    "did, handle, pds_url, issuer, par_endpoint, authorization_endpoint, token_endpoint, revocation_endpoint, "
    "code_verifier, dpop_key, return_to, created_at, expires_at";

std::string state_hash(std::string_view state) { return hex::encode(sha256(as_bytes(state))); }

// A row of kPendingColumns (after state_hash) as the sign-in it keeps.
PendingLogin pending_of(const db::Row& r, std::string state) {
  oauth::Discovery d{r.text(0), r.text(1), r.text(2), {r.text(3), r.text(4), r.text(5), r.text(6), r.text(7)}};
  PrivateKey key = PrivateKey::from_bytes(KeyType::kP256, hex::decode(r.text(9)));
  return {oauth::PendingAuthorization{std::move(state), std::move(d), r.text(8), std::move(key), {}, r.integer(11)},
          r.text(10)};
}

// Makes room: expired sign-ins go, then the oldest beyond kMaxPending - 1.
void prune(db::Executor& db, std::int64_t now) {
  db.exec("DELETE FROM oauth_pending WHERE expires_at <= ?", {now});
  std::int64_t excess = db.exec("SELECT COUNT(*) FROM oauth_pending").front().integer(0) - (kMaxPending - 1);
  if (excess > 0)
    db.exec("DELETE FROM oauth_pending WHERE state_hash IN "
            "(SELECT state_hash FROM oauth_pending ORDER BY created_at LIMIT ?)",
            {excess});
}

}  // namespace

PendingLogins::PendingLogins(std::shared_ptr<db::Database> database) : db_(std::move(database)) {
  db_->migrate("web.oauth_pending", kMigrations);
}

void PendingLogins::put(const PendingLogin& pending) {
  const oauth::PendingAuthorization& a = pending.authorization;
  const oauth::Discovery& d = a.discovery;
  prune(*db_, xrpc::unix_now());
  db_->exec(fmt::format("INSERT INTO oauth_pending (state_hash, {}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        kPendingColumns),
            {state_hash(a.state), d.did, d.handle, d.pds_url, d.server.issuer, d.server.par_endpoint,
             d.server.authorization_endpoint, d.server.token_endpoint, d.server.revocation_endpoint, a.code_verifier,
             hex::encode(a.dpop_key.secret()), pending.return_to, a.created_at, a.created_at + kPendingTtl});
}

std::optional<PendingLogin> PendingLogins::take(const std::string& state) {
  if (state.empty()) return std::nullopt;
  auto found = db_->exec(fmt::format("DELETE FROM oauth_pending WHERE state_hash = ? RETURNING {}", kPendingColumns),
                         {state_hash(state)});
  if (found.empty() || found.front().integer(12) <= xrpc::unix_now()) return std::nullopt;
  try {
    return pending_of(found.front(), state);
  } catch (const ParseError& e) {
    log::error("web", "a stored sign-in in flight is unusable: {}", e.what());
    return std::nullopt;
  }
}

std::string safe_return_to(const std::string& path, const std::string& fallback) {
  if (path.empty() || path[0] != '/' || (path.size() > 1 && (path[1] == '/' || path[1] == '\\')) ||
      path.find_first_of("\r\n") != std::string::npos)
    return fallback;
  return path;
}

std::string account_input(std::string typed) {
  std::string_view input = util::trim(typed, " ");
  if (input.starts_with('@')) input.remove_prefix(1);
  return input.size() > kMaxAccountInput ? std::string() : std::string(input);
}

std::string login_form(std::string_view action, const std::string& return_to, const std::string& handle) {
  return fmt::format(
      R"(<form method="get" action="{}">)"
      R"(<p><label for="handle">Handle, DID or PDS URL</label><br>)"
      R"(<input type="text" id="handle" name="handle" value="{}" placeholder="alice.bsky.social" required autofocus></p>)"
      R"(<input type="hidden" name="return_to" value="{}">)"
      R"(<p><button type="submit" id="signin">Sign in with ATProto</button></p></form>)",
      html_escape(action), html_escape(handle), html_escape(return_to));
}

xrpc::ServerResponse client_document(const Value& document) {
  auto r = xrpc::ServerResponse::json(document);
  r.header("Cache-Control", "public, max-age=300");
  return r;
}

oauth::CallbackParams callback_params(const xrpc::ServerRequest& req) {
  return {req.param("code").value_or(""), req.param("state").value_or(""), req.param("iss").value_or(""),
          req.param("error").value_or(""), req.param("error_description").value_or("")};
}

}  // namespace atcr::web

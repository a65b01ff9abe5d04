#include "appview/pull_window.h"

#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"
#include "atcr/xrpc/service_auth.h"

namespace atcr::appview {

namespace {

constexpr std::size_t kMaxRemembered = 100000;

constexpr db::Migration kMigrations[] = {
    {1, "CREATE TABLE IF NOT EXISTS recent_pulls (key_hash TEXT PRIMARY KEY, expires_at BIGINT NOT NULL); "
        "CREATE INDEX IF NOT EXISTS recent_pulls_expires ON recent_pulls (expires_at)"}};

}  // namespace

PullWindow::PullWindow(std::shared_ptr<db::Database> database, std::chrono::seconds window, Clock clock)
    : db_(std::move(database)),
      window_(window),
      clock_(clock ? std::move(clock) : Clock(xrpc::unix_now)),
      seen_(window, kMaxRemembered) {
  if (db_) db_->migrate("appview.recent_pulls", kMigrations);
}

bool PullWindow::first(const std::string& key) {
  if (seen_.get(key)) return false;
  seen_.put(key, true);
  if (!db_) return true;
  std::int64_t now = clock_();
  // A new row, or one whose window has passed, is this instance's to count.
  return db_->exec("INSERT INTO recent_pulls (key_hash, expires_at) VALUES (?, ?) "
                   "ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at "
                   "WHERE recent_pulls.expires_at <= ?",
                   {hex::encode(sha256(as_bytes(key))), now + window_.count(), now})
             .affected == 1;
}

void PullWindow::expire() {
  seen_.expire();
  if (db_) db_->exec("DELETE FROM recent_pulls WHERE expires_at <= ?", {clock_()});
}

}  // namespace atcr::appview

#include "hold/post_log.h"

namespace atcr::hold {

PostLog::PostLog(const std::filesystem::path& file) : db_(file.string()) {
  db_.exec(
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS posts (rkey TEXT PRIMARY KEY, user_did TEXT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS posts_by_user ON posts (user_did, rkey);");
}

void PostLog::add(const std::string& rkey, const std::string& user_did) {
  std::lock_guard lock(mu_);
  sqlite::Statement(db_, "INSERT OR REPLACE INTO posts (rkey, user_did) VALUES (?, ?)").bind(1, rkey).bind(2, user_did).run();
}

std::vector<std::string> PostLog::rkeys_of(const std::string& user_did) const {
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_, "SELECT rkey FROM posts WHERE user_did = ? ORDER BY rkey");
  st.bind(1, user_did);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.column_text(0));
  return out;
}

}  // namespace atcr::hold

#include "hold/scan_queue.h"

namespace atcr::hold {

namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Statements keep their SQL text: these are literals.
#define SCAN_COLUMNS "seq, digest, repository, tag, user_did, manifest_uri, layers, priority, attempts"

QueuedScan row(sqlite::Statement& st) {
  QueuedScan j;
  j.seq = st.column_int(0);
  j.digest = st.column_text(1);
  j.repository = st.column_text(2);
  j.tag = st.column_text(3);
  j.user_did = st.column_text(4);
  j.manifest_uri = st.column_text(5);
  j.layers_json = st.column_text(6);
  j.priority = st.column_int(7);
  j.attempts = st.column_int(8);
  return j;
}

}  // namespace

ScanQueue::ScanQueue(const std::filesystem::path& file) : db_(file.string()) {
  db_.exec(
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS scan_jobs ("
      " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
      " digest TEXT NOT NULL UNIQUE,"
      " repository TEXT NOT NULL, tag TEXT NOT NULL, user_did TEXT NOT NULL,"
      " manifest_uri TEXT NOT NULL, layers TEXT NOT NULL,"
      " priority INTEGER NOT NULL DEFAULT 0,"
      " attempts INTEGER NOT NULL DEFAULT 0,"
      " out_since INTEGER)");  // when it was handed out; NULL: waiting
}

std::int64_t ScanQueue::enqueue(const QueuedScan& job) {
  std::lock_guard lock(mu_);
  // A new seq for a re-push, so a late result for the old job is told apart.
  sqlite::Transaction tx(db_);
  sqlite::Statement(db_, "DELETE FROM scan_jobs WHERE digest = ?").bind(1, job.digest).run();
  sqlite::Statement(db_,
                    "INSERT INTO scan_jobs (digest, repository, tag, user_did, manifest_uri, layers, priority)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(1, job.digest)
      .bind(2, job.repository)
      .bind(3, job.tag)
      .bind(4, job.user_did)
      .bind(5, job.manifest_uri)
      .bind(6, job.layers_json)
      .bind(7, job.priority)
      .run();
  std::int64_t seq = sqlite3_last_insert_rowid(db_.handle());
  tx.commit();
  return seq;
}

std::optional<QueuedScan> ScanQueue::take(std::chrono::seconds timeout, std::optional<QueuedScan>* abandoned) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  std::int64_t now = now_seconds();
  sqlite::Statement st(db_, "SELECT " SCAN_COLUMNS
                            " FROM scan_jobs WHERE out_since IS NULL OR out_since <= ? ORDER BY priority, seq LIMIT 1");
  st.bind(1, now - timeout.count());
  if (!st.step()) return std::nullopt;
  QueuedScan job = row(st);
  st.reset();
  if (job.attempts >= kMaxAttempts) {
    sqlite::Statement(db_, "DELETE FROM scan_jobs WHERE seq = ?").bind(1, job.seq).run();
    tx.commit();
    if (abandoned) *abandoned = job;
    return std::nullopt;
  }
  ++job.attempts;
  sqlite::Statement(db_, "UPDATE scan_jobs SET out_since = ?, attempts = ? WHERE seq = ?")
      .bind(1, now)
      .bind(2, job.attempts)
      .bind(3, job.seq)
      .run();
  tx.commit();
  return job;
}

void ScanQueue::release(std::int64_t seq) {
  std::lock_guard lock(mu_);
  sqlite::Statement(db_, "UPDATE scan_jobs SET out_since = NULL WHERE seq = ?").bind(1, seq).run();
}

void ScanQueue::remove(std::int64_t seq) {
  std::lock_guard lock(mu_);
  sqlite::Statement(db_, "DELETE FROM scan_jobs WHERE seq = ?").bind(1, seq).run();
}

std::optional<QueuedScan> ScanQueue::find(std::int64_t seq) {
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_, "SELECT " SCAN_COLUMNS " FROM scan_jobs WHERE seq = ?");
  st.bind(1, seq);
  if (!st.step()) return std::nullopt;
  return row(st);
}

std::size_t ScanQueue::size() {
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_, "SELECT COUNT(*) FROM scan_jobs");
  st.step();
  return static_cast<std::size_t>(st.column_int(0));
}

}  // namespace atcr::hold

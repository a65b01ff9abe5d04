#include "hold/gc_state.h"

#include "atcr/data/json.h"

namespace atcr::hold {

namespace {

using Clock = std::chrono::system_clock;

std::int64_t ms_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

GcState::GcState(const std::filesystem::path& path) : db_(path.string()) {
  db_.exec(
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS gc_candidates("
      "  digest TEXT PRIMARY KEY,"
      "  size INTEGER NOT NULL,"
      "  first_seen_ms INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS gc_runs("
      "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  report TEXT NOT NULL);");
}

std::map<std::string, GcState::Candidate> GcState::candidates() const {
  std::lock_guard lock(mu_);
  std::map<std::string, Candidate> out;
  sqlite::Statement q(db_, "SELECT digest, size, first_seen_ms FROM gc_candidates");
  while (q.step()) {
    out[q.column_text(0)] = Candidate{static_cast<std::uint64_t>(q.column_int(1)),
                                      Clock::time_point(std::chrono::milliseconds(q.column_int(2)))};
  }
  return out;
}

void GcState::mark(const std::map<std::string, std::uint64_t>& unreferenced,
                   const std::vector<std::string>& referenced) {
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  const std::int64_t now = ms_of(Clock::now());
  {
    sqlite::Statement ins(db_, "INSERT OR IGNORE INTO gc_candidates(digest, size, first_seen_ms) VALUES (?, ?, ?)");
    for (const auto& [digest, size] : unreferenced) {
      ins.bind(1, digest).bind(2, static_cast<std::int64_t>(size)).bind(3, now);
      ins.run();
      ins.reset();
    }
    sqlite::Statement del(db_, "DELETE FROM gc_candidates WHERE digest = ?");
    for (const std::string& digest : referenced) {
      del.bind(1, digest);
      del.run();
      del.reset();
    }
  }
  tx.commit();
}

void GcState::forget(const std::string& digest) {
  std::lock_guard lock(mu_);
  sqlite::Statement del(db_, "DELETE FROM gc_candidates WHERE digest = ?");
  del.bind(1, digest);
  del.run();
}

void GcState::record_run(const GcReport& report) {
  GcReport kept = report;
  // History shows what happened, not every item of a big run.
  constexpr std::size_t kItems = 50;
  if (kept.items.size() > kItems) kept.items.resize(kItems);
  std::string text = json::serialize(kept.to_json());
  std::lock_guard lock(mu_);
  sqlite::Statement ins(db_, "INSERT INTO gc_runs(report) VALUES (?)");
  ins.bind(1, text);
  ins.run();
  sqlite::Statement trim(db_, "DELETE FROM gc_runs WHERE id NOT IN (SELECT id FROM gc_runs ORDER BY id DESC LIMIT ?)");
  trim.bind(1, static_cast<std::int64_t>(kHistory));
  trim.run();
}

std::vector<GcReport> GcState::history() const {
  std::lock_guard lock(mu_);
  std::vector<GcReport> out;
  sqlite::Statement q(db_, "SELECT report FROM gc_runs ORDER BY id DESC");
  while (q.step()) {
    try {
      out.push_back(GcReport::from_json(json::parse(q.column_text(0))));
    } catch (const ParseError&) {
      // A row from another version: skipped, not fatal.
    }
  }
  return out;
}

void TouchedDigests::touch(const std::string& digest) {
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  last_[digest] = now;
  // Bounded: an entry only needs to outlive the gap between a client's
  // HEAD or upload and its manifest (seconds), so on overflow the ones
  // older than ten minutes go.
  constexpr std::size_t kMax = 100000;
  if (last_.size() > kMax) {
    const auto cutoff = now - std::chrono::minutes(10);
    std::erase_if(last_, [&](const auto& e) { return e.second < cutoff; });
  }
}

bool TouchedDigests::touched_since(const std::string& digest, Clock::time_point since) const {
  std::lock_guard lock(mu_);
  auto it = last_.find(digest);
  return it != last_.end() && it->second >= since;
}

void TouchedDigests::prune(Clock::time_point before) {
  std::lock_guard lock(mu_);
  std::erase_if(last_, [&](const auto& e) { return e.second < before; });
}

}  // namespace atcr::hold

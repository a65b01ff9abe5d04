#include "atcr/repo/sqlite_store.h"

#include <mutex>

#include "util/sqlite.h"

namespace atcr {

namespace {

// Blocks are appended in rowid order with a separate (repo, cid) index,
// rather than clustered by CID: a commit's few new blocks then land on the
// last data page instead of on as many random B-tree pages, which cuts the
// pages each commit writes to the WAL (and so checkpoint I/O) about fourfold.
constexpr const char* kSchema = R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA wal_autocheckpoint = 4000;
CREATE TABLE IF NOT EXISTS repo (
  id   INTEGER PRIMARY KEY,
  did  TEXT NOT NULL UNIQUE,
  head BLOB NOT NULL,
  rev  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS block (
  id   INTEGER PRIMARY KEY,
  repo INTEGER NOT NULL,
  cid  BLOB NOT NULL,
  data BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS block_by_cid ON block (repo, cid);
)sql";

}  // namespace

// One connection; SQLite statements are not thread-safe, so every use of
// them holds `mu`.
struct SqliteRepoStorage::Impl {
  explicit Impl(const std::string& path) : db(path) {}

  sqlite::Database db;
  // Initialised after `db` and before the statements, which need the tables.
  bool schema_ready = (db.exec(kSchema), true);
  std::mutex mu;
  sqlite::Statement select_head{db, "SELECT id, head, rev FROM repo WHERE did = ?1"};
  sqlite::Statement select_block{
      db, "SELECT block.data FROM block JOIN repo ON repo.id = block.repo WHERE repo.did = ?1 AND block.cid = ?2"};
  sqlite::Statement select_repos{db, "SELECT did FROM repo ORDER BY did"};
  sqlite::Statement insert_repo{db, "INSERT INTO repo (did, head, rev) VALUES (?1, ?2, ?3)"};
  sqlite::Statement update_head{db, "UPDATE repo SET head = ?2, rev = ?3 WHERE id = ?1"};
  sqlite::Statement insert_block{db, "INSERT OR IGNORE INTO block (repo, cid, data) VALUES (?1, ?2, ?3)"};
  sqlite::Statement select_block_cids{db, "SELECT cid FROM block WHERE repo = ?1"};
  sqlite::Statement delete_block{db, "DELETE FROM block WHERE repo = ?1 AND cid = ?2"};
  sqlite::Statement delete_blocks{db, "DELETE FROM block WHERE repo = ?1"};
  sqlite::Statement delete_repo{db, "DELETE FROM repo WHERE id = ?1"};

  struct Row {
    std::int64_t id;
    RepoHead head;
  };
  std::optional<Row> find(std::string_view did) {
    select_head.bind(1, did);
    std::optional<Row> row;
    if (select_head.step())
      row = Row{select_head.column_int(0),
                RepoHead{Cid::from_bytes(select_head.column_blob_view(1)), select_head.column_text(2)}};
    select_head.reset();
    return row;
  }
};

SqliteRepoStorage::SqliteRepoStorage(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
SqliteRepoStorage::~SqliteRepoStorage() = default;

std::optional<RepoHead> SqliteRepoStorage::head(std::string_view did) const {
  std::lock_guard lock(impl_->mu);
  auto row = impl_->find(did);
  if (!row) return std::nullopt;
  return row->head;
}

std::optional<Bytes> SqliteRepoStorage::get_block(std::string_view did, const Cid& cid) const {
  std::lock_guard lock(impl_->mu);
  auto& s = impl_->select_block;
  s.bind(1, did).bind_blob(2, cid.bytes());
  std::optional<Bytes> out;
  if (s.step()) out = s.column_blob(0);
  s.reset();
  return out;
}

std::vector<std::string> SqliteRepoStorage::list_repos() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  while (impl_->select_repos.step()) out.push_back(impl_->select_repos.column_text(0));
  impl_->select_repos.reset();
  return out;
}

void SqliteRepoStorage::commit(std::string_view did, const BlockMap& blocks, const std::optional<Cid>& expected,
                               const RepoHead& next) {
  std::lock_guard lock(impl_->mu);
  sqlite::Transaction tx(impl_->db);
  auto row = impl_->find(did);
  std::optional<Cid> current = row ? std::optional<Cid>(row->head.commit) : std::nullopt;
  if (current != expected)
    throw ConflictError("repo " + std::string(did) + ": head moved (expected " +
                        (expected ? expected->to_string() : "none") + ", found " +
                        (current ? current->to_string() : "none") + ")");
  std::int64_t id;
  if (row) {
    id = row->id;
    impl_->update_head.bind(1, id).bind_blob(2, next.commit.bytes()).bind(3, next.rev).run();
  } else {
    impl_->insert_repo.bind(1, did).bind_blob(2, next.commit.bytes()).bind(3, next.rev).run();
    id = sqlite3_last_insert_rowid(impl_->db.handle());
  }
  for (const auto& [cid, data] : blocks.blocks())
    impl_->insert_block.bind(1, id).bind_blob(2, cid.bytes()).bind_blob(3, data).run();
  tx.commit();
}

std::size_t SqliteRepoStorage::retain_blocks(std::string_view did, const std::unordered_set<Cid>& keep) {
  std::lock_guard lock(impl_->mu);
  sqlite::Transaction tx(impl_->db);
  auto row = impl_->find(did);
  if (!row) return 0;
  std::vector<Bytes> doomed;
  auto& s = impl_->select_block_cids;
  s.bind(1, row->id);
  while (s.step())
    if (!keep.count(Cid::from_bytes(s.column_blob_view(0)))) doomed.push_back(s.column_blob(0));
  s.reset();
  for (const Bytes& cid : doomed) impl_->delete_block.bind(1, row->id).bind_blob(2, cid).run();
  tx.commit();
  return doomed.size();
}

void SqliteRepoStorage::delete_repo(std::string_view did) {
  std::lock_guard lock(impl_->mu);
  sqlite::Transaction tx(impl_->db);
  if (auto row = impl_->find(did)) {
    impl_->delete_blocks.bind(1, row->id).run();
    impl_->delete_repo.bind(1, row->id).run();
  }
  tx.commit();
}

}  // namespace atcr

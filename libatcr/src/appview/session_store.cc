#include "appview/session_store.h"

#include <fmt/core.h>

#include <cstring>

#include "atcr/data/json.h"
#include "atcr/data/value.h"
#include "atcr/log.h"

namespace atcr::appview {

namespace {

// Version 1 is the schema of the releases before migrations were numbered
// (IF NOT EXISTS: their databases have it already).
constexpr const char* kSchemaV1 = R"(
CREATE TABLE IF NOT EXISTS sessions (
  did TEXT PRIMARY KEY,
  handle TEXT NOT NULL,
  pds_url TEXT NOT NULL,
  access_jwt TEXT NOT NULL,
  refresh_jwt TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS repositories (
  name TEXT PRIMARY KEY,
  did TEXT NOT NULL,
  repository TEXT NOT NULL,
  hold_did TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS repositories_did_repo ON repositories (did, repository);
CREATE TABLE IF NOT EXISTS uploads (
  uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  did TEXT NOT NULL,
  hold_did TEXT NOT NULL,
  hold_url TEXT NOT NULL,
  hold_upload_id TEXT NOT NULL,
  part_size BIGINT NOT NULL,
  "offset" BIGINT NOT NULL,
  parts TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_did ON uploads (did);
CREATE INDEX IF NOT EXISTS uploads_updated ON uploads (updated_at);
)";
// 2: the part being filled of an upload, in the database when it is shared
// (a chunked upload's requests may reach different instances).
constexpr const char* kSchemaV2 =
    "CREATE TABLE IF NOT EXISTS upload_spill (uuid TEXT NOT NULL, start BIGINT NOT NULL, data BLOB NOT NULL, "
    "PRIMARY KEY (uuid, start))";
constexpr const char* kSchemaV2Postgres =
    "CREATE TABLE IF NOT EXISTS upload_spill (uuid TEXT NOT NULL, start BIGINT NOT NULL, data BYTEA NOT NULL, "
    "PRIMARY KEY (uuid, start))";
// 3: the size from which an upload's chunks go to the hold as parts of
// their own (BlobUpload::stream_min; 0: the part size).
constexpr const char* kSchemaV3 = "ALTER TABLE uploads ADD COLUMN stream_min BIGINT NOT NULL DEFAULT 0";
constexpr db::Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2, kSchemaV2Postgres}, {3, kSchemaV3}};

// parts as JSON: [{"n":1,"etag":"...","size":123}, ...]
std::string parts_json(const std::vector<UploadedPartInfo>& parts) {
  Value::Array out;
  for (const auto& p : parts)
    out.push_back(Value(Value::Map{{"n", Value(std::int64_t{p.part_number})},
                                   {"etag", Value(p.etag)},
                                   {"size", Value(static_cast<std::int64_t>(p.size))}}));
  return json::serialize(Value(std::move(out)));
}

std::vector<UploadedPartInfo> parse_parts(const std::string& text) {
  std::vector<UploadedPartInfo> out;
  Value parsed = json::parse(text);
  for (const Value& v : parsed.as_array())
    out.push_back({static_cast<int>(v.at("n").as_integer()), v.at("etag").as_string(),
                   static_cast<std::uint64_t>(v.at("size").as_integer())});
  return out;
}

constexpr std::string_view kUploadColumns =
    "uuid, name, did, hold_did, hold_url, hold_upload_id, part_size, \"offset\", parts, updated_at, stream_min";

SavedUpload read_upload(const db::Row& r) {
  SavedUpload u;
  u.uuid = r.text(0);
  u.name = r.text(1);
  u.did = r.text(2);
  u.hold_did = r.text(3);
  u.hold_url = r.text(4);
  u.hold_upload_id = r.text(5);
  u.part_size = static_cast<std::uint64_t>(r.integer(6));
  u.offset = static_cast<std::uint64_t>(r.integer(7));
  u.parts = parse_parts(r.text(8));
  u.updated_at = r.integer(9);
  u.stream_min = static_cast<std::uint64_t>(r.integer(10));
  return u;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An upload's spill as rows (uuid, start, data): each append is a row.
class DatabaseSpill : public Spill {
 public:
  DatabaseSpill(std::shared_ptr<db::Database> db, std::string uuid) : db_(std::move(db)), uuid_(std::move(uuid)) {
    size_ = static_cast<std::uint64_t>(
        db_->exec("SELECT COALESCE(MAX(start + length(data)), 0) FROM upload_spill WHERE uuid = ?", {uuid_})
            .front()
            .integer(0));
  }
  std::uint64_t size() override { return size_; }
  void append(BytesView data) override {
    if (data.empty()) return;
    db_->exec("INSERT INTO upload_spill (uuid, start, data) VALUES (?, ?, ?)", {uuid_, size_, data});
    size_ += data.size();
  }
  void truncate(std::uint64_t size) override {
    cached_.reset();
    db_->transaction([&](db::Executor& tx) {
      tx.exec("DELETE FROM upload_spill WHERE uuid = ? AND start >= ?", {uuid_, size});
      auto last = tx.exec("SELECT start, data FROM upload_spill WHERE uuid = ? ORDER BY start DESC LIMIT 1", {uuid_});
      if (last.empty()) return;
      auto start = static_cast<std::uint64_t>(last.front().integer(0));
      const std::string& data = last.front().text(1);
      if (start + data.size() > size)  // the row the cut falls in
        tx.exec("UPDATE upload_spill SET data = ? WHERE uuid = ? AND start = ?",
                {as_bytes(std::string_view(data).substr(0, size - start)), uuid_, start});
    });
    size_ = std::min(size_, size);
  }
  std::size_t read(std::uint64_t at, std::span<std::uint8_t> buffer) override {
    if (!cached_ || at < cached_->first || at >= cached_->first + cached_->second.size()) {
      auto row = db_->exec(
          "SELECT start, data FROM upload_spill WHERE uuid = ? AND start <= ? ORDER BY start DESC LIMIT 1",
          {uuid_, at});
      if (row.empty()) return 0;
      cached_.emplace(static_cast<std::uint64_t>(row.front().integer(0)), row.front().text(1));
      if (at >= cached_->first + cached_->second.size()) return 0;
    }
    std::size_t from = static_cast<std::size_t>(at - cached_->first);
    std::size_t n = std::min(buffer.size(), cached_->second.size() - from);
    std::memcpy(buffer.data(), cached_->second.data() + from, n);
    return n;
  }
  void discard() noexcept override {
    try {
      db_->exec("DELETE FROM upload_spill WHERE uuid = ?", {uuid_});
    } catch (const StorageError&) {
      // delete_upload deletes the rows too.
    }
    size_ = 0;
    cached_.reset();
  }

 private:
  std::shared_ptr<db::Database> db_;
  std::string uuid_;
  std::uint64_t size_ = 0;
  std::optional<std::pair<std::uint64_t, std::string>> cached_;  // the row read last
};

}  // namespace

std::unique_ptr<Spill> SessionStore::spill(const std::string& uuid) {
  return std::make_unique<DatabaseSpill>(db_, uuid);
}

SessionStore::SessionStore(const std::string& db_path, std::shared_ptr<const net::HttpClient> http)
    : SessionStore(db::open(db_path), std::move(http)) {}

SessionStore::SessionStore(std::shared_ptr<db::Database> database, std::shared_ptr<const net::HttpClient> http)
    : http_(std::move(http)), db_(std::move(database)) {
  db_->migrate("appview.sessions", kMigrations);
}

void SessionStore::save(const xrpc::SessionTokens& t, const std::string& pds_url) {
  db_->exec("INSERT INTO sessions (did, handle, pds_url, access_jwt, refresh_jwt, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (did) DO UPDATE SET handle = excluded.handle, "
            "pds_url = excluded.pds_url, access_jwt = excluded.access_jwt, "
            "refresh_jwt = excluded.refresh_jwt, updated_at = excluded.updated_at",
            {t.did, t.handle, pds_url, t.access_jwt, t.refresh_jwt, now_seconds()});
}
std::shared_ptr<xrpc::PdsSession> SessionStore::install(xrpc::PdsSession session, const std::string& pds_url) {
  auto shared = std::make_shared<xrpc::PdsSession>(std::move(session));
  // The PDS rotates refresh tokens: an unsaved one is a lost login.
  shared->on_refresh([this, pds_url](const xrpc::SessionTokens& t) {
    try {
      save(t, pds_url);
    } catch (const StorageError& e) {
      log::error("appview", "saving the refreshed session of {}: {}", t.did, e.what());
    }
  });
  // A refresh the PDS refuses (e.g. its app password was revoked) ends the
  // session at once, not when its access token runs out (hours later).
  const xrpc::PdsSession* raw = shared.get();
  shared->on_refresh_refused([this, raw](const xrpc::XrpcError& e) {
    log::info("appview", "the PDS refused to refresh the session of {} ({}): it has ended", raw->did(), e.message());
    try {
      drop_if_current(raw->did(), raw);
    } catch (const StorageError& err) {
      log::error("appview", "ending the session of {}: {}", raw->did(), err.what());
    }
  });
  std::string did = shared->did();
  std::lock_guard lock(mu_);
  live_[did] = shared;
  return shared;
}

std::shared_ptr<xrpc::PdsSession> SessionStore::adopt(xrpc::PdsSession session, const std::string& pds_url) {
  save(session.tokens(), pds_url);
  return install(std::move(session), pds_url);
}

std::shared_ptr<xrpc::PdsSession> SessionStore::get(const std::string& did) {
  {
    std::lock_guard lock(mu_);
    if (auto it = live_.find(did); it != live_.end()) return it->second;
  }
  auto saved = db_->exec("SELECT handle, pds_url, access_jwt, refresh_jwt FROM sessions WHERE did = ?", {did});
  if (saved.empty()) return nullptr;
  const db::Row& r = saved.front();
  xrpc::SessionTokens t;
  t.did = did;
  t.handle = r.text(0);
  std::string pds_url = r.text(1);
  t.access_jwt = r.text(2);
  t.refresh_jwt = r.text(3);
  return install(xrpc::PdsSession::resume(pds_url, std::move(t), http_), pds_url);
}

void SessionStore::drop_if_current(const std::string& did, const xrpc::PdsSession* session) {
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(did);
    if (it == live_.end() || it->second.get() != session) return;  // a newer login replaced it
    live_.erase(it);
  }
  // With a shared database another instance may have refreshed the session
  // (refresh tokens are single-use) or logged the user in again since this
  // one loaded it: the token refused here is then spent, not revoked. The
  // saved session stands; the next use resumes it.
  auto saved = db_->exec("SELECT refresh_jwt FROM sessions WHERE did = ?", {did});
  if (!saved.empty() && saved.front().text(0) != session->tokens().refresh_jwt) return;
  drop(did);
}

void SessionStore::drop(const std::string& did) {
  {
    std::lock_guard lock(mu_);
    live_.erase(did);
  }
  db_->exec("DELETE FROM sessions WHERE did = ?", {did});
}

void SessionStore::add_repository(const std::string& name, const std::string& did, const std::string& repository,
                                  const std::string& hold_did) {
  db_->exec("INSERT INTO repositories (name, did, repository, hold_did, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET did = excluded.did, repository = excluded.repository, "
            "hold_did = excluded.hold_did, updated_at = excluded.updated_at",
            {name, did, repository, hold_did, now_seconds()});
}

void SessionStore::remove_repository(const std::string& name) {
  db_->exec("DELETE FROM repositories WHERE name = ?", {name});
}

std::vector<std::string> SessionStore::repositories() {
  std::vector<std::string> out;
  for (const db::Row& r : db_->exec("SELECT name FROM repositories ORDER BY name").rows) out.push_back(r.text(0));
  return out;
}

std::optional<std::string> SessionStore::repository_hold(const std::string& did, const std::string& repository) {
  auto r = db_->exec("SELECT hold_did FROM repositories WHERE did = ? AND repository = ? "
                     "ORDER BY updated_at DESC LIMIT 1",
                     {did, repository});
  if (r.empty()) return std::nullopt;
  return r.front().text(0);
}

void SessionStore::save_upload(const SavedUpload& u) {
  db_->exec("INSERT INTO uploads (uuid, name, did, hold_did, hold_url, hold_upload_id, part_size, \"offset\", "
            "parts, updated_at, stream_min) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET "
            "\"offset\" = excluded.\"offset\", parts = excluded.parts, updated_at = excluded.updated_at",
            {u.uuid, u.name, u.did, u.hold_did, u.hold_url, u.hold_upload_id, u.part_size, u.offset,
             parts_json(u.parts), now_seconds(), u.stream_min});
}

std::optional<SavedUpload> SessionStore::load_upload(const std::string& uuid) {
  auto r = db_->exec(fmt::format("SELECT {} FROM uploads WHERE uuid = ?", kUploadColumns), {uuid});
  if (r.empty()) return std::nullopt;
  return read_upload(r.front());
}

void SessionStore::delete_upload(const std::string& uuid) {
  db_->transaction([&](db::Executor& tx) {
    tx.exec("DELETE FROM uploads WHERE uuid = ?", {uuid});
    tx.exec("DELETE FROM upload_spill WHERE uuid = ?", {uuid});
  });
}

std::size_t SessionStore::count_uploads(const std::string& did) {
  auto r = did.empty() ? db_->exec("SELECT COUNT(*) FROM uploads")
                       : db_->exec("SELECT COUNT(*) FROM uploads WHERE did = ?", {did});
  return static_cast<std::size_t>(r.front().integer(0));
}

std::vector<SavedUpload> SessionStore::uploads_saved_before(std::int64_t cutoff) {
  std::vector<SavedUpload> out;
  for (const db::Row& r :
       db_->exec(fmt::format("SELECT {} FROM uploads WHERE updated_at < ?", kUploadColumns), {cutoff}).rows)
    out.push_back(read_upload(r));
  return out;
}

}  // namespace atcr::appview

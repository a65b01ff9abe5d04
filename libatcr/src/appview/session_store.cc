#include "appview/session_store.h"

#include "atcr/data/json.h"
#include "atcr/data/value.h"
#include "atcr/log.h"

namespace atcr::appview {

namespace {

constexpr const char* kSchema = R"(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS sessions (
  did TEXT PRIMARY KEY,
  handle TEXT NOT NULL,
  pds_url TEXT NOT NULL,
  access_jwt TEXT NOT NULL,
  refresh_jwt TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS repositories (
  name TEXT PRIMARY KEY,
  did TEXT NOT NULL,
  repository TEXT NOT NULL,
  hold_did TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS repositories_did_repo ON repositories (did, repository);
CREATE TABLE IF NOT EXISTS uploads (
  uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  did TEXT NOT NULL,
  hold_did TEXT NOT NULL,
  hold_url TEXT NOT NULL,
  hold_upload_id TEXT NOT NULL,
  part_size INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  parts TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_did ON uploads (did);
CREATE INDEX IF NOT EXISTS uploads_updated ON uploads (updated_at);
)";

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

#define ATCR_UPLOAD_COLUMNS "uuid, name, did, hold_did, hold_url, hold_upload_id, part_size, offset, parts, updated_at"
constexpr const char* kSelectUpload = "SELECT " ATCR_UPLOAD_COLUMNS " FROM uploads WHERE uuid = ?";
constexpr const char* kSelectUploadsBefore = "SELECT " ATCR_UPLOAD_COLUMNS " FROM uploads WHERE updated_at < ?";
#undef ATCR_UPLOAD_COLUMNS

SavedUpload read_upload(const sqlite::Statement& st) {
  SavedUpload u;
  u.uuid = st.column_text(0);
  u.name = st.column_text(1);
  u.did = st.column_text(2);
  u.hold_did = st.column_text(3);
  u.hold_url = st.column_text(4);
  u.hold_upload_id = st.column_text(5);
  u.part_size = static_cast<std::uint64_t>(st.column_int(6));
  u.offset = static_cast<std::uint64_t>(st.column_int(7));
  u.parts = parse_parts(st.column_text(8));
  u.updated_at = st.column_int(9);
  return u;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SessionStore::SessionStore(const std::string& db_path, std::shared_ptr<const net::HttpClient> http)
    : http_(std::move(http)), db_(db_path) {
  db_.exec(kSchema);
}

void SessionStore::save(const xrpc::SessionTokens& t, const std::string& pds_url) {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_,
                       "INSERT INTO sessions (did, handle, pds_url, access_jwt, refresh_jwt, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (did) DO UPDATE SET handle = excluded.handle, "
                       "pds_url = excluded.pds_url, access_jwt = excluded.access_jwt, "
                       "refresh_jwt = excluded.refresh_jwt, updated_at = excluded.updated_at");
  st.bind(1, t.did).bind(2, t.handle).bind(3, pds_url).bind(4, t.access_jwt).bind(5, t.refresh_jwt);
  st.bind(6, now_seconds());
  st.run();
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
  xrpc::SessionTokens t;
  std::string pds_url;
  {
    std::lock_guard lock(db_mu_);
    sqlite::Statement st(db_, "SELECT handle, pds_url, access_jwt, refresh_jwt FROM sessions WHERE did = ?");
    st.bind(1, did);
    if (!st.step()) return nullptr;
    t.did = did;
    t.handle = st.column_text(0);
    pds_url = st.column_text(1);
    t.access_jwt = st.column_text(2);
    t.refresh_jwt = st.column_text(3);
  }
  return install(xrpc::PdsSession::resume(pds_url, std::move(t), http_), pds_url);
}

void SessionStore::drop_if_current(const std::string& did, const xrpc::PdsSession* session) {
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(did);
    if (it == live_.end() || it->second.get() != session) return;  // a newer login replaced it
  }
  drop(did);
}

void SessionStore::drop(const std::string& did) {
  {
    std::lock_guard lock(mu_);
    live_.erase(did);
  }
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_, "DELETE FROM sessions WHERE did = ?");
  st.bind(1, did);
  st.run();
}

void SessionStore::add_repository(const std::string& name, const std::string& did, const std::string& repository,
                                  const std::string& hold_did) {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_,
                       "INSERT INTO repositories (name, did, repository, hold_did, updated_at) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET did = excluded.did, repository = excluded.repository, "
                       "hold_did = excluded.hold_did, updated_at = excluded.updated_at");
  st.bind(1, name).bind(2, did).bind(3, repository).bind(4, hold_did).bind(5, now_seconds());
  st.run();
}

void SessionStore::remove_repository(const std::string& name) {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_, "DELETE FROM repositories WHERE name = ?");
  st.bind(1, name);
  st.run();
}

std::vector<std::string> SessionStore::repositories() {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_, "SELECT name FROM repositories ORDER BY name");
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.column_text(0));
  return out;
}

std::optional<std::string> SessionStore::repository_hold(const std::string& did, const std::string& repository) {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_,
                       "SELECT hold_did FROM repositories WHERE did = ? AND repository = ? "
                       "ORDER BY updated_at DESC LIMIT 1");
  st.bind(1, did).bind(2, repository);
  if (!st.step()) return std::nullopt;
  return st.column_text(0);
}

void SessionStore::save_upload(const SavedUpload& u) {
  std::string parts = parts_json(u.parts);
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_,
                       "INSERT INTO uploads (uuid, name, did, hold_did, hold_url, hold_upload_id, part_size, offset, "
                       "parts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET "
                       "offset = excluded.offset, parts = excluded.parts, updated_at = excluded.updated_at");
  st.bind(1, u.uuid).bind(2, u.name).bind(3, u.did).bind(4, u.hold_did).bind(5, u.hold_url);
  st.bind(6, u.hold_upload_id).bind(7, static_cast<std::int64_t>(u.part_size));
  st.bind(8, static_cast<std::int64_t>(u.offset)).bind(9, parts).bind(10, now_seconds());
  st.run();
}

std::optional<SavedUpload> SessionStore::load_upload(const std::string& uuid) {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_, kSelectUpload);
  st.bind(1, uuid);
  if (!st.step()) return std::nullopt;
  return read_upload(st);
}

void SessionStore::delete_upload(const std::string& uuid) {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_, "DELETE FROM uploads WHERE uuid = ?");
  st.bind(1, uuid);
  st.run();
}

std::size_t SessionStore::count_uploads(const std::string& did) {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_, did.empty() ? "SELECT COUNT(*) FROM uploads"
                                        : "SELECT COUNT(*) FROM uploads WHERE did = ?");
  if (!did.empty()) st.bind(1, did);
  st.step();
  return static_cast<std::size_t>(st.column_int(0));
}

std::vector<SavedUpload> SessionStore::uploads_saved_before(std::int64_t cutoff) {
  std::lock_guard lock(db_mu_);
  sqlite::Statement st(db_, kSelectUploadsBefore);
  st.bind(1, cutoff);
  std::vector<SavedUpload> out;
  while (st.step()) out.push_back(read_upload(st));
  return out;
}

}  // namespace atcr::appview

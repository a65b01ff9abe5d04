// The index's schema: numbered migrations (db::Database::migrate, component
// "index"), in SQLite's dialect (FTS5 for search) and PostgreSQL's
// (tsvector with GIN indexes; BIGINT counts; text compared bytewise with
// COLLATE "C", as SQLite does). A released migration is never edited, a
// change is a new one, for both dialects.
#include "index/schema.h"

#include <fmt/core.h>

#include <array>

namespace atcr::index {

namespace {

constexpr const char* kComponent = "index";

// SQLite.
// 1: records, derived repositories, full-text search, ingestion state.
constexpr const char* kSqlite1 = R"sql(
CREATE TABLE users (
  did TEXT PRIMARY KEY,
  handle TEXT NOT NULL DEFAULT '',
  pds TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1,
  status TEXT NOT NULL DEFAULT '',
  updated_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX users_handle ON users (handle);

CREATE TABLE manifests (
  did TEXT NOT NULL,
  rkey TEXT NOT NULL,
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  created_at TEXT NOT NULL,
  hold_did TEXT NOT NULL,
  size INTEGER,
  annotations TEXT NOT NULL,
  PRIMARY KEY (did, rkey)
);
CREATE INDEX manifests_repo ON manifests (did, repository, created_at);
CREATE INDEX manifests_digest ON manifests (did, digest);

CREATE TABLE manifest_platforms (
  did TEXT NOT NULL,
  rkey TEXT NOT NULL,
  position INTEGER NOT NULL,
  digest TEXT NOT NULL,
  os TEXT NOT NULL,
  architecture TEXT NOT NULL,
  variant TEXT NOT NULL,
  PRIMARY KEY (did, rkey, position)
);

CREATE TABLE tags (
  did TEXT NOT NULL,
  rkey TEXT NOT NULL,
  repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  manifest_rkey TEXT NOT NULL,
  digest TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (did, rkey)
);
CREATE INDEX tags_repo ON tags (did, repository);

CREATE TABLE repo_pages (
  did TEXT NOT NULL,
  rkey TEXT NOT NULL,
  repository TEXT NOT NULL,
  description TEXT NOT NULL,
  avatar_cid TEXT NOT NULL,
  avatar_mime TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (did, rkey)
);
CREATE INDEX repo_pages_repo ON repo_pages (did, repository);

CREATE TABLE stars (
  did TEXT NOT NULL,
  rkey TEXT NOT NULL,
  subject_did TEXT NOT NULL,
  subject_repository TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (did, rkey)
);
CREATE INDEX stars_subject ON stars (subject_did, subject_repository);

CREATE TABLE profiles (
  did TEXT PRIMARY KEY,
  default_hold TEXT NOT NULL,
  oci_client TEXT NOT NULL,
  registry_domain TEXT NOT NULL,
  auto_remove_untagged INTEGER NOT NULL
);

CREATE TABLE hold_captains (
  hold_did TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  public INTEGER NOT NULL,
  allow_all_crew INTEGER NOT NULL,
  region TEXT NOT NULL,
  successor TEXT NOT NULL
);

CREATE TABLE hold_crew (
  hold_did TEXT NOT NULL,
  rkey TEXT NOT NULL,
  member TEXT NOT NULL,
  role TEXT NOT NULL,
  permissions TEXT NOT NULL,
  tier TEXT NOT NULL,
  PRIMARY KEY (hold_did, rkey)
);
CREATE INDEX hold_crew_member ON hold_crew (member);

CREATE TABLE hold_stats (
  hold_did TEXT NOT NULL,
  rkey TEXT NOT NULL,
  owner_did TEXT NOT NULL,
  repository TEXT NOT NULL,
  pull_count INTEGER NOT NULL,
  push_count INTEGER NOT NULL,
  PRIMARY KEY (hold_did, rkey)
);
CREATE INDEX hold_stats_repo ON hold_stats (owner_did, repository);

CREATE TABLE hold_scans (
  hold_did TEXT NOT NULL,
  rkey TEXT NOT NULL,
  digest TEXT NOT NULL,
  user_did TEXT NOT NULL,
  repository TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL,
  critical INTEGER NOT NULL,
  high INTEGER NOT NULL,
  medium INTEGER NOT NULL,
  low INTEGER NOT NULL,
  total INTEGER NOT NULL,
  scanner_version TEXT NOT NULL,
  scanned_at TEXT NOT NULL,
  PRIMARY KEY (hold_did, rkey)
);
CREATE INDEX hold_scans_digest ON hold_scans (user_did, digest);

CREATE TABLE pulls (
  did TEXT NOT NULL,
  repository TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (did, repository)
);

-- Derived from manifests, tags and pages by refresh_repository().
CREATE TABLE repositories (
  id INTEGER PRIMARY KEY,
  did TEXT NOT NULL,
  repository TEXT NOT NULL,
  description TEXT NOT NULL,
  last_push TEXT NOT NULL,
  latest_tag TEXT NOT NULL,
  hold_did TEXT NOT NULL,
  UNIQUE (did, repository)
);
CREATE INDEX repositories_last_push ON repositories (last_push);

-- rowid = repositories.id
CREATE VIRTUAL TABLE repo_search USING fts5 (handle, repository, description, readme,
                                             tokenize = 'unicode61 remove_diacritics 2');

CREATE TABLE repo_state (
  did TEXT PRIMARY KEY,
  rev TEXT NOT NULL,
  commit_cid TEXT NOT NULL,
  data_cid TEXT NOT NULL
);
-- Ingestion progress: firehose cursors ("cursor <url>"), backfill position.
CREATE TABLE markers (name TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql";

// 2: search holds the repositories of active accounts only (counts
// need no join); hidden accounts' entries return when they are active.
constexpr const char* kSqlite2 = R"sql(
DELETE FROM repo_search WHERE rowid IN
  (SELECT r.id FROM repositories r JOIN users u ON u.did = r.did WHERE u.active = 0);
)sql";

// 3: the index's tables named apart from the AppView's own (which share a
// PostgreSQL database with them when instances scale out).
constexpr const char* kSqlite3 = R"sql(
ALTER TABLE users RENAME TO index_users;
ALTER TABLE manifests RENAME TO index_manifests;
ALTER TABLE manifest_platforms RENAME TO index_manifest_platforms;
ALTER TABLE tags RENAME TO index_tags;
ALTER TABLE repo_pages RENAME TO index_repo_pages;
ALTER TABLE stars RENAME TO index_stars;
ALTER TABLE profiles RENAME TO index_profiles;
ALTER TABLE hold_captains RENAME TO index_hold_captains;
ALTER TABLE hold_crew RENAME TO index_hold_crew;
ALTER TABLE hold_stats RENAME TO index_hold_stats;
ALTER TABLE hold_scans RENAME TO index_hold_scans;
ALTER TABLE pulls RENAME TO index_pulls;
ALTER TABLE repositories RENAME TO index_repositories;
ALTER TABLE repo_search RENAME TO index_search;
ALTER TABLE repo_state RENAME TO index_repo_state;
ALTER TABLE markers RENAME TO index_markers;
)sql";

// PostgreSQL: schema 1 as SQLite's 1 to 3 leave it (search holds active
// accounts' repositories only; every name starts with index_), so its 2 and
// 3 have nothing to do.
constexpr const char* kPostgres1 = R"sql(
CREATE TABLE index_users (
  did TEXT COLLATE "C" PRIMARY KEY,
  handle TEXT COLLATE "C" NOT NULL DEFAULT '',
  pds TEXT COLLATE "C" NOT NULL DEFAULT '',
  active SMALLINT NOT NULL DEFAULT 1,
  status TEXT COLLATE "C" NOT NULL DEFAULT '',
  updated_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX index_users_handle ON index_users (lower(handle));

CREATE TABLE index_manifests (
  did TEXT COLLATE "C" NOT NULL,
  rkey TEXT COLLATE "C" NOT NULL,
  repository TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  media_type TEXT COLLATE "C" NOT NULL,
  created_at TEXT COLLATE "C" NOT NULL,
  hold_did TEXT COLLATE "C" NOT NULL,
  size BIGINT,
  annotations TEXT NOT NULL,
  PRIMARY KEY (did, rkey)
);
CREATE INDEX index_manifests_repo ON index_manifests (did, repository, created_at);
CREATE INDEX index_manifests_digest ON index_manifests (did, digest);

CREATE TABLE index_manifest_platforms (
  did TEXT COLLATE "C" NOT NULL,
  rkey TEXT COLLATE "C" NOT NULL,
  position BIGINT NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  os TEXT NOT NULL,
  architecture TEXT NOT NULL,
  variant TEXT NOT NULL,
  PRIMARY KEY (did, rkey, position)
);

CREATE TABLE index_tags (
  did TEXT COLLATE "C" NOT NULL,
  rkey TEXT COLLATE "C" NOT NULL,
  repository TEXT COLLATE "C" NOT NULL,
  tag TEXT COLLATE "C" NOT NULL,
  manifest_rkey TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  updated_at TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (did, rkey)
);
CREATE INDEX index_tags_repo ON index_tags (did, repository);

CREATE TABLE index_repo_pages (
  did TEXT COLLATE "C" NOT NULL,
  rkey TEXT COLLATE "C" NOT NULL,
  repository TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL,
  avatar_cid TEXT NOT NULL,
  avatar_mime TEXT NOT NULL,
  updated_at TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (did, rkey)
);
CREATE INDEX index_repo_pages_repo ON index_repo_pages (did, repository);

CREATE TABLE index_stars (
  did TEXT COLLATE "C" NOT NULL,
  rkey TEXT COLLATE "C" NOT NULL,
  subject_did TEXT COLLATE "C" NOT NULL,
  subject_repository TEXT COLLATE "C" NOT NULL,
  created_at TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (did, rkey)
);
CREATE INDEX index_stars_subject ON index_stars (subject_did, subject_repository);

CREATE TABLE index_profiles (
  did TEXT COLLATE "C" PRIMARY KEY,
  default_hold TEXT NOT NULL,
  oci_client TEXT NOT NULL,
  registry_domain TEXT NOT NULL,
  auto_remove_untagged SMALLINT NOT NULL
);

CREATE TABLE index_hold_captains (
  hold_did TEXT COLLATE "C" PRIMARY KEY,
  owner TEXT NOT NULL,
  public SMALLINT NOT NULL,
  allow_all_crew SMALLINT NOT NULL,
  region TEXT NOT NULL,
  successor TEXT NOT NULL
);

CREATE TABLE index_hold_crew (
  hold_did TEXT COLLATE "C" NOT NULL,
  rkey TEXT COLLATE "C" NOT NULL,
  member TEXT COLLATE "C" NOT NULL,
  role TEXT NOT NULL,
  permissions TEXT NOT NULL,
  tier TEXT NOT NULL,
  PRIMARY KEY (hold_did, rkey)
);
CREATE INDEX index_hold_crew_member ON index_hold_crew (member);

CREATE TABLE index_hold_stats (
  hold_did TEXT COLLATE "C" NOT NULL,
  rkey TEXT COLLATE "C" NOT NULL,
  owner_did TEXT COLLATE "C" NOT NULL,
  repository TEXT COLLATE "C" NOT NULL,
  pull_count BIGINT NOT NULL,
  push_count BIGINT NOT NULL,
  PRIMARY KEY (hold_did, rkey)
);
CREATE INDEX index_hold_stats_repo ON index_hold_stats (owner_did, repository);

CREATE TABLE index_hold_scans (
  hold_did TEXT COLLATE "C" NOT NULL,
  rkey TEXT COLLATE "C" NOT NULL,
  digest TEXT COLLATE "C" NOT NULL,
  user_did TEXT COLLATE "C" NOT NULL,
  repository TEXT COLLATE "C" NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL,
  critical BIGINT NOT NULL,
  high BIGINT NOT NULL,
  medium BIGINT NOT NULL,
  low BIGINT NOT NULL,
  total BIGINT NOT NULL,
  scanner_version TEXT NOT NULL,
  scanned_at TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (hold_did, rkey)
);
CREATE INDEX index_hold_scans_digest ON index_hold_scans (user_did, digest);

-- Pulls every instance served (count_pull), added up here.
CREATE TABLE index_pulls (
  did TEXT COLLATE "C" NOT NULL,
  repository TEXT COLLATE "C" NOT NULL,
  count BIGINT NOT NULL,
  PRIMARY KEY (did, repository)
);

CREATE TABLE index_repositories (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  did TEXT COLLATE "C" NOT NULL,
  repository TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL,
  last_push TEXT COLLATE "C" NOT NULL,
  latest_tag TEXT COLLATE "C" NOT NULL,
  hold_did TEXT COLLATE "C" NOT NULL,
  UNIQUE (did, repository)
);
CREATE INDEX index_repositories_last_push ON index_repositories (last_push);

-- id = index_repositories.id; names: handle (B), repository (A), description (C);
-- doc: names and the README (D). See search_table.cc.
CREATE TABLE index_search (
  id BIGINT PRIMARY KEY,
  names TSVECTOR NOT NULL,
  doc TSVECTOR NOT NULL
);
CREATE INDEX index_search_names ON index_search USING GIN (names);
CREATE INDEX index_search_doc ON index_search USING GIN (doc);

CREATE TABLE index_repo_state (
  did TEXT COLLATE "C" PRIMARY KEY,
  rev TEXT NOT NULL,
  commit_cid TEXT NOT NULL,
  data_cid TEXT NOT NULL
);
CREATE TABLE index_markers (name TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
)sql";

constexpr std::array<db::Migration, 3> kMigrations = {{
    {1, kSqlite1, kPostgres1},
    {2, kSqlite2, "SELECT 1"},
    {3, kSqlite3, "SELECT 1"},
}};

std::int64_t applied_version(db::Executor& db) {
  return db.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?", {kComponent})
      .front()
      .integer(0);
}

// An index.sqlite from before the db layer counted its schema in PRAGMA
// user_version: those versions are recorded as applied.
void adopt_user_version(db::Database& db) {
  std::int64_t have = db.exec("PRAGMA user_version").front().integer(0);
  if (have == 0) return;
  db.transaction([&](db::Executor& tx) {
    tx.script(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))");
    if (applied_version(tx) > 0) return;
    for (std::int64_t v = 1; v <= have; ++v)
      tx.exec("INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, 0)", {kComponent, v});
  });
}

bool has_migrations_table(db::Database& db) {
  const char* sql = db.backend() == db::Backend::kSqlite
                        ? "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'"
                        : "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'schema_migrations' "
                          "AND schemaname = current_schema()";
  return db.exec(sql).front().integer(0) > 0;
}

}  // namespace

void migrate(db::Database& db) {
  if (db.backend() == db::Backend::kSqlite) adopt_user_version(db);
  std::int64_t have = has_migrations_table(db) ? applied_version(db) : 0;
  if (have > static_cast<std::int64_t>(kMigrations.size()))
    throw StorageError(fmt::format("index: the database is at schema {}, newer than this build's {}", have,
                                   kMigrations.size()));
  db.migrate(kComponent, kMigrations);
  // Kept in step, so an older build's user_version check sees this schema.
  if (db.backend() == db::Backend::kSqlite)
    db.script(fmt::format("PRAGMA user_version = {}", kMigrations.size()));
}

}  // namespace atcr::index

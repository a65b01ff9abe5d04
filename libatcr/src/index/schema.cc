// The index's schema. Migration N brings a database at user_version N-1 to
// N; a released migration is never edited, a change is a new one.
#include "index/schema.h"

#include <fmt/core.h>

#include <array>

namespace atcr::index {

namespace {

constexpr std::array kMigrations = {
    // 1: records, derived repositories, full-text search, ingestion state.
    R"sql(
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
)sql",
    // 2: search holds the repositories of active accounts only (counts
    // need no join); hidden accounts' entries return when they are active.
    R"sql(
DELETE FROM repo_search WHERE rowid IN
  (SELECT r.id FROM repositories r JOIN users u ON u.did = r.did WHERE u.active = 0);
)sql",
};

int user_version(sqlite::Database& db) {
  sqlite::Statement st(db, "PRAGMA user_version");
  st.step();
  return static_cast<int>(st.column_int(0));
}

}  // namespace

void migrate(sqlite::Database& db) {
  int have = user_version(db);
  if (have > static_cast<int>(kMigrations.size()))
    throw StorageError(fmt::format("index: the database is at schema {}, newer than this build's {}", have,
                                   kMigrations.size()));
  for (int next = have; next < static_cast<int>(kMigrations.size()); ++next) {
    sqlite::Transaction tx(db);
    db.exec(kMigrations[next]);
    db.exec(fmt::format("PRAGMA user_version = {}", next + 1).c_str());
    tx.commit();
  }
}

}  // namespace atcr::index

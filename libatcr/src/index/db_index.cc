// index::Index on db::Database (SQLite or PostgreSQL): how each io.atcr.*
// record becomes rows, and every query the read side answers. The SQL is
// written once for both backends; where they differ (the schema, the
// full-text search) is schema.cc and search_table.cc.
//
// Trust: anyone can publish any record in their own repo, so what a record
// says about someone else's repository counts only where the protocol gives
// its author a say: scan results and pull statistics count only from the
// hold the repository's manifests name; stars count once per starring
// account; everything of an inactive account is hidden.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <map>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/db/database.h"
#include "atcr/index/index.h"
#include "atcr/log.h"
#include "atcr/oci/hold_records.h"
#include "atcr/oci/records.h"
#include "atcr/oci/reference.h"
#include "index/schema.h"
#include "index/search_table.h"

namespace atcr::index {

namespace {

using oci::kCaptainCollection;
using oci::kCrewCollection;
using oci::kStatsCollection;
constexpr std::string_view kDescriptionAnnotation = "org.opencontainers.image.description";
constexpr std::size_t kMaxQueryBytes = 256;
// Matches ranked per search tier (see search()).
constexpr std::int64_t kRankedHits = 250;

std::int64_t clamp_limit(std::int64_t limit) { return std::clamp<std::int64_t>(limit, 1, 100); }
std::int64_t clamp_offset(std::int64_t offset) { return std::max<std::int64_t>(offset, 0); }

// Optional fields of a record: "" / 0 / false when absent; ParseError when
// present with the wrong type.
std::string text_field(const Value& record, std::string_view key) {
  const Value* v = record.find(key);
  return v && !v->is_null() ? v->as_string() : std::string();
}

std::int64_t int_field(const Value& record, std::string_view key) {
  const Value* v = record.find(key);
  return v && !v->is_null() ? v->as_integer() : 0;
}

bool bool_field(const Value& record, std::string_view key) {
  const Value* v = record.find(key);
  return v && !v->is_null() && v->as_bool();
}

std::string required_repository(const Value& record) {
  std::string repository = record.at("repository").as_string();
  if (!oci::is_valid_repository(repository))
    throw ParseError(fmt::format("index: '{}' is not a repository name", log::escape(repository.substr(0, 64))));
  return repository;
}

// A repo page's rkey back to its repository ('~' for '/', as tag keys).
std::string repository_of_page_rkey(std::string_view rkey) {
  std::string repository(rkey);
  std::replace(repository.begin(), repository.end(), '~', '/');
  return repository;
}

// The first non-empty line of markdown, without leading '#'s, for listings.
std::string first_line(std::string_view markdown) {
  while (!markdown.empty()) {
    auto end = markdown.find('\n');
    std::string_view line = markdown.substr(0, end);
    while (!line.empty() && (line.front() == '#' || line.front() == ' ')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) return std::string(line.substr(0, 300));
    if (end == std::string_view::npos) break;
    markdown.remove_prefix(end + 1);
  }
  return {};
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// An INSERT of `columns` that replaces the row with the same key (the
// first `keys` columns): SQLite's INSERT OR REPLACE, in both dialects.
std::string replace_sql(std::string_view table, std::initializer_list<std::string_view> columns, std::size_t keys) {
  std::string names, marks, key_names, updates;
  std::size_t i = 0;
  for (std::string_view c : columns) {
    names += fmt::format("{}{}", i ? ", " : "", c);
    marks += i ? ", ?" : "?";
    if (i < keys) key_names += fmt::format("{}{}", i ? ", " : "", c);
    else updates += fmt::format("{}{} = excluded.{}", updates.empty() ? "" : ", ", c, c);
    ++i;
  }
  return fmt::format("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}", table, names, marks,
                     key_names, updates);
}

std::optional<db::Row> first_row(db::Result r) {
  if (r.rows.empty()) return std::nullopt;
  return std::move(r.rows.front());
}

// The summary columns, for every listing: FROM index_repositories r JOIN index_users u.
// Our own pull count and the hold's are both read; the summary shows the
// larger (not the sum: the hold counts the pulls this AppView tells it of
// too).
constexpr const char* kSummaryColumns = R"sql(
  r.did, u.handle, u.pds, r.repository, r.description,
  COALESCE((SELECT p.avatar_cid FROM index_repo_pages p WHERE p.did = r.did AND p.repository = r.repository
            ORDER BY p.updated_at DESC LIMIT 1), ''),
  (SELECT COUNT(*) FROM index_stars s JOIN index_users su ON su.did = s.did AND su.active = 1
    WHERE s.subject_did = r.did AND s.subject_repository = r.repository) AS star_count,
  COALESCE((SELECT pl.count FROM index_pulls pl WHERE pl.did = r.did AND pl.repository = r.repository), 0),
  COALESCE((SELECT SUM(h.pull_count) FROM index_hold_stats h WHERE h.owner_did = r.did
            AND h.repository = r.repository AND h.hold_did = r.hold_did), 0),
  r.last_push, r.latest_tag)sql";
constexpr std::size_t kSummaryWidth = 11;  // columns after these are the query's own
constexpr const char* kVisibleRepositories = "index_repositories r JOIN index_users u ON u.did = r.did AND u.active = 1";

RepositorySummary summary_row(const db::Row& row) {
  RepositorySummary s;
  s.owner.did = row.text(0);
  s.owner.handle = row.text(1);
  s.owner.pds = row.text(2);
  s.repository = row.text(3);
  s.description = row.text(4);
  s.avatar_cid = row.text(5);
  s.star_count = row.integer(6);
  s.pull_count = std::max(row.integer(7), row.integer(8));
  s.last_push = row.text(9);
  s.latest_tag = row.text(10);
  return s;
}

std::map<std::string, std::string> annotations_of(const std::string& text) {
  std::map<std::string, std::string> out;
  try {
    Value parsed = json::parse(text);
    for (const auto& [k, v] : parsed.as_map())
      if (v.is_string()) out.emplace(k, v.as_string());
  } catch (const Error&) {
  }
  return out;
}

ScanInfo scan_row(const db::Row& r) {
  return ScanInfo{r.text(0),    r.text(1),    r.text(2),    r.text(3), r.integer(4), r.integer(5),
                  r.integer(6), r.integer(7), r.integer(8), r.text(9), r.text(10)};
}

CrewInfo crew_row(const db::Row& r) {
  CrewInfo c{r.text(0), r.text(1), r.text(2), {}, r.text(4)};
  try {
    Value permissions = json::parse(r.text(3));
    for (const Value& p : permissions.as_array()) c.permissions.push_back(p.as_string());
  } catch (const Error&) {
  }
  return c;
}

// What a repository's derived row and search entry are made of.
struct RepositoryFacts {
  bool exists = false;  // a manifest or tag names it
  std::string last_push, latest_tag, hold_did, description, readme;
};

class DbIndex final : public Index {
 public:
  explicit DbIndex(std::shared_ptr<db::Database> db) : db_(std::move(db)), search_(SearchTable::of(db_->backend())) {
    migrate(*db_);
  }

  bool apply(const RecordChange& change) override {
    bool applied = false;
    db_->transaction([&](db::Executor& x) { applied = apply_in(x, change); });
    return applied;
  }

  void apply_all(const std::vector<RecordChange>& changes) override {
    db_->transaction([&](db::Executor& x) {
      for (const RecordChange& change : changes) apply_in(x, change);
    });
  }

  void remove_repo(std::string_view did) override {
    db_->transaction([&](db::Executor& x) { remove_repo_in(x, did); });
  }

  // Search rows carry their owner's handle, so a handle that moves
  // refreshes them: the DID's and those of a DID that held it before.
  // Every push and #identity event confirms an identity; one that did
  // not change costs two statements, not one per repository the DID has.
  void set_identity(std::string_view did, std::string_view handle, std::string_view pds) override {
    db_->transaction([&](db::Executor& x) {
      ensure_user(x, did);
      auto before = first_row(x.exec("SELECT handle FROM index_users WHERE did = ?", {did}));
      x.exec("UPDATE index_users SET handle = CASE WHEN ? = '' THEN handle ELSE ? END, "
             "pds = CASE WHEN ? = '' THEN pds ELSE ? END, updated_at = ? WHERE did = ?",
             {handle, handle, pds, pds, unix_now(), did});
      if (handle.empty() || (before && before->text(0) == handle)) return;
      // Another DID that claimed the handle no longer has it.
      for (const db::Row& row :
           x.exec("UPDATE index_users SET handle = '' WHERE handle = ? AND did <> ? RETURNING did", {handle, did}).rows)
        refresh_search_of_user(x, row.text(0));
      refresh_search_of_user(x, did);
    });
  }

  void set_account_status(std::string_view did, bool active, std::string_view status) override {
    db_->transaction([&](db::Executor& x) {
      ensure_user(x, did);
      x.exec("UPDATE index_users SET active = ?, status = ? WHERE did = ?",
             {active, active ? std::string_view() : status, did});
      if (!active && status == "deleted") remove_repo_in(x, did);
      refresh_search_of_user(x, did);  // search holds active accounts' repositories only
    });
  }

  // Every instance sharing the database adds to the same row.
  void count_pull(std::string_view did, std::string_view repository) override {
    db_->exec("INSERT INTO index_pulls (did, repository, count) VALUES (?, ?, 1) "
              "ON CONFLICT (did, repository) DO UPDATE SET count = index_pulls.count + 1",
              {did, repository});
  }

  void replace_repo(std::string_view did, const std::vector<RecordChange>& changes, const RepoState& state) override {
    db_->transaction([&](db::Executor& x) {
      remove_repo_in(x, did);
      for (const RecordChange& change : changes) apply_in(x, change);
      set_repo_state_in(x, did, state);
    });
  }

  void apply_commit(std::string_view did, const std::vector<RecordChange>& changes, const RepoState& state) override {
    db_->transaction([&](db::Executor& x) {
      for (const RecordChange& change : changes) apply_in(x, change);
      set_repo_state_in(x, did, state);
    });
  }

  bool known(std::string_view did) override { return !db_->exec("SELECT 1 FROM index_users WHERE did = ?", {did}).empty(); }

  std::optional<RepoState> repo_state(std::string_view did) override {
    auto row = first_row(db_->exec("SELECT rev, commit_cid, data_cid FROM index_repo_state WHERE did = ?", {did}));
    if (!row) return std::nullopt;
    return RepoState{row->text(0), row->text(1), row->text(2)};
  }

  std::optional<bool> has_tag_record(std::string_view did, std::string_view rkey) override {
    auto row = first_row(db_->exec("SELECT (SELECT COUNT(*) FROM index_tags WHERE did = ? AND rkey = ?) "
                                   "FROM index_repo_state WHERE did = ?",
                                   {did, rkey, did}));
    if (!row) return std::nullopt;
    return row->integer(0) != 0;
  }

  void set_repo_state(std::string_view did, const RepoState& state) override {
    db_->transaction([&](db::Executor& x) { set_repo_state_in(x, did, state); });
  }

  // A cursor is the marker "cursor <source>": with a shared database, an
  // instance that takes the firehose over continues where the last left.
  std::optional<std::int64_t> cursor(std::string_view source) override {
    auto value = marker(fmt::format("cursor {}", source));
    if (!value) return std::nullopt;
    try {
      return std::stoll(*value);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  void set_cursor(std::string_view source, std::int64_t seq) override {
    set_marker(fmt::format("cursor {}", source), std::to_string(seq));
  }

  std::optional<std::string> marker(std::string_view name) override {
    auto row = first_row(db_->exec("SELECT value FROM index_markers WHERE name = ?", {name}));
    if (!row) return std::nullopt;
    return row->text(0);
  }

  void set_marker(std::string_view name, std::string_view value) override {
    db_->exec(replace_sql("index_markers", {"name", "value"}, 1), {name, value});
  }

  // ---- read side -----------------------------------------------------------

  std::vector<RepositorySummary> recent_pushes(std::int64_t limit) override {
    return summaries(fmt::format("SELECT {} FROM {} ORDER BY r.last_push DESC, r.id DESC LIMIT ?", kSummaryColumns,
                                 kVisibleRepositories),
                     {clamp_limit(limit)});
  }

  std::vector<RepositorySummary> most_starred(std::int64_t limit) override {
    return summaries(fmt::format("SELECT {} FROM {} ORDER BY star_count DESC, r.last_push DESC LIMIT ?",
                                 kSummaryColumns, kVisibleRepositories),
                     {clamp_limit(limit)});
  }

  // Two tiers: matches in the handle, name or description, then matches
  // only in the README. Each tier's kRankedHits most recently added
  // matches are ranked (bm25, ts_rank), the rest follow most recently added
  // first (no sort of every match): ranking every match of a word 10k
  // READMEs share took 0.1 s. Only active accounts' repositories are in
  // index_search, so counts need no join.
  SearchResult search(std::string_view query, Page page) override {
    SearchResult result;
    query = query.substr(0, kMaxQueryBytes);
    auto all = search_->match(query, SearchScope::kAll);
    if (!all) return result;
    auto names = search_->match(query, SearchScope::kNames);
    auto readme_only = search_->match(query, SearchScope::kReadmeOnly);
    std::int64_t offset = clamp_offset(page.offset), limit = clamp_limit(page.limit);
    result.total = search_->count(*db_, *all);
    std::int64_t name_hits = search_->count(*db_, *names);
    std::vector<std::int64_t> ids = tier_hits(*names, offset, limit);
    if (static_cast<std::int64_t>(ids.size()) < limit) {
      std::int64_t from = std::max<std::int64_t>(offset - name_hits, 0);
      for (std::int64_t id : tier_hits(*readme_only, from, limit - static_cast<std::int64_t>(ids.size())))
        ids.push_back(id);
    }
    result.items = summaries_of(ids);
    return result;
  }

  std::optional<RepositoryDetail> repository(std::string_view owner, std::string_view repository,
                                             std::string_view viewer_did) override {
    std::string did = did_of(owner);
    if (did.empty()) return std::nullopt;
    auto row = first_row(db_->exec(fmt::format("SELECT {}, r.hold_did FROM {} WHERE r.did = ? AND r.repository = ?",
                                               kSummaryColumns, kVisibleRepositories),
                                   {did, repository}));
    if (!row) return std::nullopt;
    RepositoryDetail detail;
    detail.summary = summary_row(*row);
    detail.hold_did = row->text(kSummaryWidth);
    if (auto page = first_row(db_->exec("SELECT description, avatar_mime FROM index_repo_pages WHERE did = ? AND "
                                        "repository = ? ORDER BY updated_at DESC LIMIT 1",
                                        {did, repository}))) {
      detail.readme = page->text(0);
      detail.avatar_mime = page->text(1);
    }
    if (!viewer_did.empty())
      detail.viewer_starred = !db_->exec("SELECT 1 FROM index_stars WHERE did = ? AND subject_did = ? AND "
                                         "subject_repository = ?",
                                         {viewer_did, did, repository})
                                   .empty();
    if (auto newest = first_row(db_->exec("SELECT annotations FROM index_manifests WHERE did = ? AND repository = ? "
                                          "ORDER BY created_at DESC LIMIT 1",
                                          {did, repository})))
      detail.annotations = annotations_of(newest->text(0));
    detail.tags = tags_of(did, repository);
    for (const TagInfo& tag : detail.tags) {
      if (tag.scan && (!detail.latest_scan || tag.scan->scanned_at > detail.latest_scan->scanned_at))
        detail.latest_scan = tag.scan;
    }
    return detail;
  }

  std::optional<UserInfo> user(std::string_view did_or_handle) override {
    std::string did = did_of(did_or_handle);
    if (did.empty()) return std::nullopt;
    auto row = first_row(db_->exec("SELECT did, handle, pds FROM index_users WHERE did = ? AND active = 1", {did}));
    if (!row) return std::nullopt;
    return UserInfo{row->text(0), row->text(1), row->text(2)};
  }

  std::vector<RepositorySummary> user_repositories(std::string_view did, Page page) override {
    return summaries(fmt::format("SELECT {} FROM {} WHERE r.did = ? ORDER BY r.last_push DESC LIMIT ? OFFSET ?",
                                 kSummaryColumns, kVisibleRepositories),
                     {did, clamp_limit(page.limit), clamp_offset(page.offset)});
  }

  std::vector<RepositorySummary> user_stars(std::string_view did, Page page) override {
    return summaries(
        fmt::format("SELECT {} FROM index_stars st JOIN index_users me ON me.did = st.did AND me.active = 1 "
                    "JOIN index_repositories r ON r.did = st.subject_did AND r.repository = st.subject_repository "
                    "JOIN index_users u ON u.did = r.did AND u.active = 1 "
                    "WHERE st.did = ? ORDER BY st.created_at DESC LIMIT ? OFFSET ?",
                    kSummaryColumns),
        {did, clamp_limit(page.limit), clamp_offset(page.offset)});
  }

  std::optional<ProfileInfo> profile(std::string_view did) override {
    auto row = first_row(db_->exec("SELECT p.default_hold, p.oci_client, p.registry_domain, p.auto_remove_untagged "
                                   "FROM index_profiles p JOIN index_users u ON u.did = p.did AND u.active = 1 WHERE p.did = ?",
                                   {did}));
    if (!row) return std::nullopt;
    return ProfileInfo{row->text(0), row->text(1), row->text(2), row->integer(3) != 0};
  }

  std::optional<HoldInfo> hold(std::string_view hold_did) override {
    auto row = first_row(db_->exec("SELECT hold_did, owner, public, allow_all_crew, region, successor "
                                   "FROM index_hold_captains WHERE hold_did = ?",
                                   {hold_did}));
    if (!row) return std::nullopt;
    return HoldInfo{row->text(0), row->text(1), row->integer(2) != 0, row->integer(3) != 0, row->text(4),
                    row->text(5)};
  }

  std::vector<CrewInfo> crew_memberships(std::string_view member) override {
    std::vector<CrewInfo> out;
    for (const db::Row& row : db_->exec("SELECT hold_did, member, role, permissions, tier FROM index_hold_crew "
                                        "WHERE member = ? ORDER BY hold_did LIMIT 1000",
                                        {member})
                                  .rows)
      out.push_back(crew_row(row));
    return out;
  }

  std::vector<std::string> catalog(std::int64_t n, std::string_view last) override {
    std::vector<std::string> out;
    for (const db::Row& row :
         db_->exec(fmt::format("SELECT name FROM (SELECT (CASE WHEN u.handle = '' THEN r.did ELSE u.handle END) "
                               "|| '/' || r.repository AS name FROM {}) c WHERE name > ? ORDER BY name LIMIT ?",
                               kVisibleRepositories),
                   {last, std::clamp<std::int64_t>(n, 1, 10001)})
             .rows)
      out.push_back(row.text(0));
    return out;
  }

  std::int64_t repository_count() override {
    return db_->exec(fmt::format("SELECT COUNT(*) FROM {}", kVisibleRepositories)).front().integer(0);
  }

 private:
  // ---- write side, inside a transaction ---------------------------------------

  bool apply_in(db::Executor& x, const RecordChange& change) {
    std::string_view c = change.collection;
    if (!is_indexed_collection(c)) return false;
    ensure_user(x, change.did);
    if (change.action == RecordAction::kDelete) {
      remove_record(x, change.did, c, change.rkey);
      return true;
    }
    try {
      put_record(x, change);
      return true;
    } catch (const ParseError& e) {
      log::warn("index", "{}/{}/{} not indexed: {}", change.did, c, log::escape(change.rkey), e.what());
      remove_record(x, change.did, c, change.rkey);
      return false;
    }
  }

  void put_record(db::Executor& x, const RecordChange& change) {
    std::string_view c = change.collection;
    if (c == oci::kManifestCollection) {
      put_manifest(x, change);
    } else if (c == oci::kTagCollection) {
      put_tag(x, change);
    } else if (c == kRepoPageCollection) {
      put_page(x, change);
    } else if (c == kStarCollection) {
      put_star(x, change);
    } else if (c == kProfileCollection) {
      put_profile(x, change);
    } else if (c == kCaptainCollection) {
      put_captain(x, change);
    } else if (c == kCrewCollection) {
      put_crew(x, change);
    } else if (c == kStatsCollection) {
      put_stats(x, change);
    } else if (c == kScanCollection) {
      put_scan(x, change);
    }
  }

  static void ensure_user(db::Executor& x, std::string_view did) {
    x.exec("INSERT INTO index_users (did) VALUES (?) ON CONFLICT (did) DO NOTHING", {did});
  }

  static void set_repo_state_in(db::Executor& x, std::string_view did, const RepoState& state) {
    ensure_user(x, did);
    x.exec(replace_sql("index_repo_state", {"did", "rev", "commit_cid", "data_cid"}, 1),
           {did, state.rev, state.commit_cid, state.data_cid});
  }

  // Deletes a record of a table with a repository column; refreshes the
  // repository it belonged to.
  void remove_repository_record(db::Executor& x, std::string_view table, std::string_view did,
                                std::string_view rkey) {
    auto old = first_row(x.exec(fmt::format("SELECT repository FROM {} WHERE did = ? AND rkey = ?", table), {did, rkey}));
    x.exec(fmt::format("DELETE FROM {} WHERE did = ? AND rkey = ?", table), {did, rkey});
    if (old) refresh_repository(x, did, old->text(0));
  }

  // Deletes the record's row; refreshes the repository it belonged to.
  void remove_record(db::Executor& x, std::string_view did, std::string_view collection, std::string_view rkey) {
    auto plain = [&](std::string_view sql) { x.exec(sql, {did, rkey}); };
    if (collection == oci::kManifestCollection) {
      plain("DELETE FROM index_manifest_platforms WHERE did = ? AND rkey = ?");
      remove_repository_record(x, "index_manifests", did, rkey);
    } else if (collection == oci::kTagCollection) {
      remove_repository_record(x, "index_tags", did, rkey);
    } else if (collection == kRepoPageCollection) {
      remove_repository_record(x, "index_repo_pages", did, rkey);
    } else if (collection == kStarCollection) {
      plain("DELETE FROM index_stars WHERE did = ? AND rkey = ?");
    } else if (rkey != "self" && (collection == kProfileCollection || collection == kCaptainCollection)) {
      return;  // the only key these have
    } else if (collection == kProfileCollection) {
      x.exec("DELETE FROM index_profiles WHERE did = ?", {did});
    } else if (collection == kCaptainCollection) {
      x.exec("DELETE FROM index_hold_captains WHERE hold_did = ?", {did});
    } else if (collection == kCrewCollection) {
      plain("DELETE FROM index_hold_crew WHERE hold_did = ? AND rkey = ?");
    } else if (collection == kStatsCollection) {
      plain("DELETE FROM index_hold_stats WHERE hold_did = ? AND rkey = ?");
    } else if (collection == kScanCollection) {
      plain("DELETE FROM index_hold_scans WHERE hold_did = ? AND rkey = ?");
    }
  }

  void remove_repo_in(db::Executor& x, std::string_view did) {
    search_->remove_of(x, did);
    for (const char* sql : {
             "DELETE FROM index_manifests WHERE did = ?", "DELETE FROM index_manifest_platforms WHERE did = ?",
             "DELETE FROM index_tags WHERE did = ?", "DELETE FROM index_repo_pages WHERE did = ?",
             "DELETE FROM index_stars WHERE did = ?", "DELETE FROM index_profiles WHERE did = ?",
             "DELETE FROM index_hold_captains WHERE hold_did = ?", "DELETE FROM index_hold_crew WHERE hold_did = ?",
             "DELETE FROM index_hold_stats WHERE hold_did = ?", "DELETE FROM index_hold_scans WHERE hold_did = ?",
             "DELETE FROM index_repositories WHERE did = ?", "DELETE FROM index_repo_state WHERE did = ?"})
      x.exec(sql, {did});
  }

  // A record moving to another repository (an update that renames) leaves
  // the old one to refresh too.
  static std::optional<std::string> old_repository(db::Executor& x, std::string_view table, const RecordChange& change) {
    auto row = first_row(
        x.exec(fmt::format("SELECT repository FROM {} WHERE did = ? AND rkey = ?", table), {change.did, change.rkey}));
    if (!row) return std::nullopt;
    return row->text(0);
  }

  void refresh_both(db::Executor& x, const RecordChange& change, const std::optional<std::string>& old,
                    const std::string& now) {
    if (old && *old != now) refresh_repository(x, change.did, *old);
    refresh_repository(x, change.did, now);
  }

  void put_manifest(db::Executor& x, const RecordChange& change) {
    oci::ManifestRecord m = oci::ManifestRecord::from_value(change.record);
    if (!oci::is_valid_repository(m.repository))
      throw ParseError(fmt::format("index: '{}' is not a repository name", log::escape(m.repository.substr(0, 64))));
    auto old = old_repository(x, "index_manifests", change);
    db::Param size;  // NULL: unknown (an index's size is its platforms')
    if (m.config) {
      std::int64_t total = m.config->size;
      for (const auto& layer : m.layers) total += layer.size;
      size = total;
    }
    Value::Map annotations;
    for (const auto& [k, v] : m.annotations) annotations.emplace(k, Value(v));
    x.exec(replace_sql("index_manifests",
                       {"did", "rkey", "repository", "digest", "media_type", "created_at", "hold_did", "size",
                        "annotations"},
                       2),
           {change.did, change.rkey, m.repository, m.digest.str(), m.media_type, m.created_at, m.hold_did, size,
            json::serialize(Value(std::move(annotations)))});
    x.exec("DELETE FROM index_manifest_platforms WHERE did = ? AND rkey = ?", {change.did, change.rkey});
    std::int64_t position = 0;
    for (const auto& child : m.manifests) {
      const auto& p = child.platform;
      x.exec("INSERT INTO index_manifest_platforms (did, rkey, position, digest, os, architecture, variant) "
             "VALUES (?, ?, ?, ?, ?, ?, ?)",
             {change.did, change.rkey, position++, child.digest.str(), p ? p->os : "", p ? p->architecture : "",
              p ? p->variant : ""});
    }
    refresh_both(x, change, old, m.repository);
  }

  void put_tag(db::Executor& x, const RecordChange& change) {
    oci::TagRecord t = oci::TagRecord::from_value(change.record);
    if (!oci::is_valid_repository(t.repository) || !oci::is_valid_tag(t.tag))
      throw ParseError(fmt::format("index: '{}:{}' is not a repository and tag", log::escape(t.repository.substr(0, 64)),
                                   log::escape(t.tag.substr(0, 64))));
    auto old = old_repository(x, "index_tags", change);
    std::string manifest_rkey;
    if (!t.manifest_uri.empty()) manifest_rkey = oci::manifest_rkey_of(t.manifest_uri, change.did).value_or("");
    auto digest = t.digest();
    x.exec(replace_sql("index_tags", {"did", "rkey", "repository", "tag", "manifest_rkey", "digest", "updated_at"}, 2),
           {change.did, change.rkey, t.repository, t.tag, manifest_rkey, digest ? digest->str() : "",
            t.updated_at.empty() ? t.created_at : t.updated_at});
    refresh_both(x, change, old, t.repository);
  }

  void put_page(db::Executor& x, const RecordChange& change) {
    const Value& r = change.record;
    std::string repository = r.find("repository") ? required_repository(r) : repository_of_page_rkey(change.rkey);
    if (!oci::is_valid_repository(repository)) throw ParseError("index: a repo page's key is not a repository name");
    std::string avatar_cid, avatar_mime;
    if (const Value* avatar = r.find("avatar"); avatar && !avatar->is_null()) {
      avatar_cid = avatar->at("ref").as_link().to_string();
      avatar_mime = text_field(*avatar, "mimeType");
    }
    auto old = old_repository(x, "index_repo_pages", change);
    std::string updated = text_field(r, "updatedAt");
    if (updated.empty()) updated = text_field(r, "createdAt");
    x.exec(replace_sql("index_repo_pages",
                       {"did", "rkey", "repository", "description", "avatar_cid", "avatar_mime", "updated_at"}, 2),
           {change.did, change.rkey, repository, text_field(r, "description"), avatar_cid, avatar_mime, updated});
    refresh_both(x, change, old, repository);
  }

  // A star's subject: at://<did>/io.atcr.repo.page/<rkey>, or the older
  // {did, repository}.
  static std::pair<std::string, std::string> star_subject(const Value& subject) {
    if (!subject.is_string()) return {subject.at("did").as_string(), subject.at("repository").as_string()};
    std::string_view uri = subject.as_string();
    constexpr std::string_view kPrefix = "at://";
    if (!uri.starts_with(kPrefix)) throw ParseError("index: a star's subject is not an AT-URI");
    uri.remove_prefix(kPrefix.size());
    auto slash = uri.find('/');
    auto second = slash == std::string_view::npos ? slash : uri.find('/', slash + 1);
    if (second == std::string_view::npos || uri.substr(slash + 1, second - slash - 1) != kRepoPageCollection)
      throw ParseError("index: a star's subject is not a repo page");
    return {std::string(uri.substr(0, slash)), repository_of_page_rkey(uri.substr(second + 1))};
  }

  static void put_star(db::Executor& x, const RecordChange& change) {
    auto [subject_did, subject_repository] = star_subject(change.record.at("subject"));
    if (!syntax::is_valid_did(subject_did) || !oci::is_valid_repository(subject_repository))
      throw ParseError("index: a star's subject names no repository");
    x.exec(replace_sql("index_stars", {"did", "rkey", "subject_did", "subject_repository", "created_at"}, 2),
           {change.did, change.rkey, subject_did, subject_repository, text_field(change.record, "createdAt")});
  }

  static void put_profile(db::Executor& x, const RecordChange& change) {
    if (change.rkey != "self") throw ParseError("index: a sailor profile's key is not 'self'");
    const Value& r = change.record;
    x.exec(replace_sql("index_profiles", {"did", "default_hold", "oci_client", "registry_domain", "auto_remove_untagged"}, 1),
           {change.did, text_field(r, "defaultHold"), text_field(r, "ociClient"), text_field(r, "registryDomain"),
            bool_field(r, "autoRemoveUntagged")});
  }

  static void put_captain(db::Executor& x, const RecordChange& change) {
    if (change.rkey != "self") throw ParseError("index: a captain record's key is not 'self'");
    const Value& r = change.record;
    x.exec(replace_sql("index_hold_captains", {"hold_did", "owner", "public", "allow_all_crew", "region", "successor"}, 1),
           {change.did, r.at("owner").as_string(), bool_field(r, "public"), bool_field(r, "allowAllCrew"),
            text_field(r, "region"), text_field(r, "successor")});
  }

  static void put_crew(db::Executor& x, const RecordChange& change) {
    const Value& r = change.record;
    Value::Array permissions;
    if (const Value* p = r.find("permissions"); p && !p->is_null())
      for (const Value& one : p->as_array()) permissions.emplace_back(one.as_string());
    x.exec(replace_sql("index_hold_crew", {"hold_did", "rkey", "member", "role", "permissions", "tier"}, 2),
           {change.did, change.rkey, r.at("member").as_string(), text_field(r, "role"),
            json::serialize(Value(std::move(permissions))), text_field(r, "tier")});
  }

  static void put_stats(db::Executor& x, const RecordChange& change) {
    const Value& r = change.record;
    x.exec(replace_sql("index_hold_stats", {"hold_did", "rkey", "owner_did", "repository", "pull_count", "push_count"}, 2),
           {change.did, change.rkey, r.at("ownerDid").as_string(), required_repository(r),
            std::max<std::int64_t>(int_field(r, "pullCount"), 0), std::max<std::int64_t>(int_field(r, "pushCount"), 0)});
  }

  static void put_scan(db::Executor& x, const RecordChange& change) {
    const Value& r = change.record;
    // The key is the manifest digest's hex.
    std::string digest = "sha256:" + change.rkey;
    if (!oci::Digest::valid(digest)) throw ParseError("index: a scan record's key is not a digest");
    x.exec(replace_sql("index_hold_scans",
                       {"hold_did", "rkey", "digest", "user_did", "repository", "status", "reason", "critical", "high",
                        "medium", "low", "total", "scanner_version", "scanned_at"},
                       2),
           {change.did, change.rkey, digest, text_field(r, "userDid"), text_field(r, "repository"),
            text_field(r, "status"), text_field(r, "reason"), int_field(r, "critical"), int_field(r, "high"),
            int_field(r, "medium"), int_field(r, "low"), int_field(r, "total"), text_field(r, "scannerVersion"),
            text_field(r, "scannedAt")});
  }

  // What the derived row of (did, repository) is now: its newest manifest
  // and tag, and its README.
  static RepositoryFacts facts_of(db::Executor& x, std::string_view did, std::string_view repository) {
    RepositoryFacts f;
    if (auto m = first_row(x.exec("SELECT created_at, hold_did, annotations FROM index_manifests WHERE did = ? AND "
                                  "repository = ? ORDER BY created_at DESC LIMIT 1",
                                  {did, repository}))) {
      f.exists = true;
      f.last_push = m->text(0);
      f.hold_did = m->text(1);
      auto annotations = annotations_of(m->text(2));
      if (auto it = annotations.find(std::string(kDescriptionAnnotation)); it != annotations.end())
        f.description = it->second.substr(0, 300);
    }
    if (auto t = first_row(x.exec("SELECT tag, updated_at FROM index_tags WHERE did = ? AND repository = ? "
                                  "ORDER BY updated_at DESC, tag DESC LIMIT 1",
                                  {did, repository}))) {
      f.exists = true;
      f.latest_tag = t->text(0);
      f.last_push = std::max(f.last_push, t->text(1));
    }
    if (auto p = first_row(x.exec("SELECT description FROM index_repo_pages WHERE did = ? AND repository = ? "
                                  "ORDER BY updated_at DESC LIMIT 1",
                                  {did, repository})))
      f.readme = p->text(0);
    if (f.description.empty()) f.description = first_line(f.readme);
    return f;
  }

  // Recomputes the derived row of (did, repository) and its search entry:
  // present while a manifest or tag names it; searchable while its account
  // is active.
  void refresh_repository(db::Executor& x, std::string_view did, std::string_view repository) {
    RepositoryFacts f = facts_of(x, did, repository);
    auto existing = first_row(x.exec("SELECT id FROM index_repositories WHERE did = ? AND repository = ?", {did, repository}));
    if (existing) search_->remove(x, existing->integer(0));
    if (!f.exists) {
      if (existing) x.exec("DELETE FROM index_repositories WHERE id = ?", {existing->integer(0)});
      return;
    }
    std::int64_t id = x.exec("INSERT INTO index_repositories (did, repository, description, last_push, latest_tag, hold_did) "
                             "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (did, repository) DO UPDATE SET "
                             "description = excluded.description, last_push = excluded.last_push, "
                             "latest_tag = excluded.latest_tag, hold_did = excluded.hold_did RETURNING id",
                             {did, repository, f.description, f.last_push, f.latest_tag, f.hold_did})
                          .front()
                          .integer(0);
    auto owner = first_row(x.exec("SELECT handle FROM index_users WHERE did = ? AND active = 1", {did}));
    if (owner) search_->put(x, id, {owner->text(0), std::string(repository), f.description, std::move(f.readme)});
  }

  void refresh_search_of_user(db::Executor& x, std::string_view did) {
    for (const db::Row& row : x.exec("SELECT repository FROM index_repositories WHERE did = ?", {did}).rows)
      refresh_repository(x, did, row.text(0));
  }

  // ---- read helpers ------------------------------------------------------------

  // Positions [offset, offset + limit) of one search tier: its
  // kRankedHits most recently added matches ranked, then the rest most
  // recently added first.
  std::vector<std::int64_t> tier_hits(const SearchTable::Match& match, std::int64_t offset, std::int64_t limit) {
    std::vector<std::int64_t> ids;
    if (offset < kRankedHits) ids = search_->ranked(*db_, match, kRankedHits, std::min(limit, kRankedHits - offset), offset);
    std::int64_t next = offset + static_cast<std::int64_t>(ids.size());
    if (static_cast<std::int64_t>(ids.size()) < limit && next >= kRankedHits)
      for (std::int64_t id : search_->newest(*db_, match, limit - static_cast<std::int64_t>(ids.size()), next))
        ids.push_back(id);
    return ids;
  }

  // The summaries of repositories by id, in the order given (hidden ones left out).
  std::vector<RepositorySummary> summaries_of(const std::vector<std::int64_t>& ids) {
    if (ids.empty()) return {};
    std::string list;
    for (std::int64_t id : ids) list += fmt::format("{}{}", list.empty() ? "" : ",", id);
    std::map<std::int64_t, RepositorySummary> by_id;
    for (const db::Row& row : db_->exec(fmt::format("SELECT {}, r.id FROM {} WHERE r.id IN ({})", kSummaryColumns,
                                                    kVisibleRepositories, list))
                                  .rows)
      by_id.emplace(row.integer(kSummaryWidth), summary_row(row));
    std::vector<RepositorySummary> out;
    for (std::int64_t id : ids)
      if (auto it = by_id.find(id); it != by_id.end()) out.push_back(std::move(it->second));
    return out;
  }

  std::vector<RepositorySummary> summaries(const std::string& sql, std::initializer_list<db::Param> params) {
    std::vector<RepositorySummary> out;
    for (const db::Row& row : db_->exec(sql, params).rows) out.push_back(summary_row(row));
    return out;
  }

  // A DID as is, a handle looked up (ignoring ASCII case); "" when unknown.
  std::string did_of(std::string_view owner) {
    if (owner.starts_with("did:")) return std::string(owner);
    auto row = first_row(
        db_->exec("SELECT did FROM index_users WHERE lower(handle) = lower(?) ORDER BY updated_at DESC LIMIT 1", {owner}));
    return row ? row->text(0) : std::string();
  }

  std::vector<TagInfo> tags_of(const std::string& did, std::string_view repository) {
    std::vector<TagInfo> tags;
    for (const db::Row& row : db_->exec("SELECT tag, manifest_rkey, digest, updated_at FROM index_tags WHERE did = ? AND "
                                        "repository = ? ORDER BY updated_at DESC, tag LIMIT 1000",
                                        {did, repository})
                                  .rows) {
      TagInfo t;
      t.tag = row.text(0);
      t.digest = row.text(2);
      t.created_at = row.text(3);
      fill_tag(did, repository, row.text(1), t);
      tags.push_back(std::move(t));
    }
    return tags;
  }

  // The tag's manifest (by its record key, else by digest in the
  // repository): digest, type, size, platforms and scan.
  void fill_tag(const std::string& did, std::string_view repository, const std::string& manifest_rkey, TagInfo& t) {
    constexpr const char* kColumns = "SELECT rkey, digest, media_type, created_at, size, hold_did FROM index_manifests ";
    auto m = manifest_rkey.empty()
                 ? first_row(db_->exec(fmt::format("{} WHERE did = ? AND digest = ? AND repository = ? LIMIT 1", kColumns),
                                       {did, t.digest, repository}))
                 : first_row(db_->exec(fmt::format("{} WHERE did = ? AND rkey = ?", kColumns), {did, manifest_rkey}));
    if (!m) {
      if (!manifest_rkey.empty()) t.digest.clear();  // the tag names a manifest not indexed
      return;
    }
    t.digest = m->text(1);
    t.media_type = m->text(2);
    if (!m->text(3).empty()) t.created_at = m->text(3);
    t.size = m->integer(4);
    fill_platforms(did, m->text(0), t);
    auto scan = first_row(db_->exec("SELECT hold_did, digest, status, reason, critical, high, medium, low, total, "
                                    "scanner_version, scanned_at FROM index_hold_scans WHERE user_did = ? AND digest = ? "
                                    "AND hold_did = ? ORDER BY scanned_at DESC LIMIT 1",
                                    {did, t.digest, m->text(5)}));
    if (scan) t.scan = scan_row(*scan);
  }

  // An index's platforms; its size is theirs, summed.
  void fill_platforms(const std::string& did, const std::string& rkey, TagInfo& t) {
    std::int64_t total = 0;
    for (const db::Row& row : db_->exec("SELECT p.os, p.architecture, p.variant, p.digest, "
                                        "(SELECT m.size FROM index_manifests m WHERE m.did = p.did AND m.digest = p.digest "
                                        "LIMIT 1) FROM index_manifest_platforms p WHERE p.did = ? AND p.rkey = ? "
                                        "ORDER BY p.position",
                                        {did, rkey})
                                  .rows) {
      t.platforms.push_back({row.text(0), row.text(1), row.text(2), row.text(3)});
      total += row.integer(4);
    }
    if (!t.platforms.empty()) t.size = total;
  }

  std::shared_ptr<db::Database> db_;
  std::unique_ptr<SearchTable> search_;
};

}  // namespace

bool is_indexed_collection(std::string_view c) {
  return c == oci::kManifestCollection || c == oci::kTagCollection || c == kRepoPageCollection ||
         c == kStarCollection || c == kProfileCollection || c == kCaptainCollection || c == kCrewCollection ||
         c == kStatsCollection || c == kScanCollection;
}

std::unique_ptr<Index> Index::open(const std::filesystem::path& path) {
  return open(std::shared_ptr<db::Database>(db::open(path.string())));
}

std::unique_ptr<Index> Index::open(std::shared_ptr<db::Database> database) {
  return std::make_unique<DbIndex>(std::move(database));
}

}  // namespace atcr::index

// index::Index on SQLite: how each io.atcr.* record becomes rows, and every
// query the read side answers. All of the index's SQL is here and in
// schema.cc.
//
// Trust: anyone can publish any record in their own repo, so what a record
// says about someone else's repository counts only where the protocol gives
// its author a say: scan results and pull statistics count only from the
// hold the repository's manifests name; stars count once per starring
// account; everything of an inactive account is hidden.
#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/index/index.h"
#include "atcr/log.h"
#include "atcr/oci/records.h"
#include "atcr/oci/reference.h"
#include "index/schema.h"
#include "util/sqlite.h"

namespace atcr::index {

namespace {

constexpr std::string_view kCaptainCollection = "io.atcr.hold.captain";
constexpr std::string_view kCrewCollection = "io.atcr.hold.crew";
constexpr std::string_view kStatsCollection = "io.atcr.hold.stats";
constexpr std::string_view kDescriptionAnnotation = "org.opencontainers.image.description";
constexpr std::size_t kMaxQueryBytes = 256;
// Matches ranked by bm25 per search tier (see search()).
constexpr std::int64_t kRankedHits = 250;

std::int64_t clamp_limit(std::int64_t limit) { return std::clamp<std::int64_t>(limit, 1, 100); }

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

// FTS5 query: every word quoted (so no syntax is possible), all required,
// the last one as a prefix.
std::string fts_query(std::string_view query) {
  std::string out;
  std::string word;
  std::vector<std::string> words;
  for (char c : query.substr(0, kMaxQueryBytes)) {
    bool keep = static_cast<unsigned char>(c) >= 0x80 || std::isalnum(static_cast<unsigned char>(c));
    if (keep) {
      word += c;
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (!out.empty()) out += ' ';
    out += '"' + words[i] + '"';
    if (i + 1 == words.size()) out += '*';
  }
  return out;
}

// The summary columns, for every listing: FROM repositories r JOIN users u.
// MAX, not the sum, of our own pull count and the hold's: the hold counts
// the pulls this AppView tells it of too.
constexpr const char* kSummaryColumns = R"sql(
  r.did, u.handle, u.pds, r.repository, r.description,
  COALESCE((SELECT p.avatar_cid FROM repo_pages p WHERE p.did = r.did AND p.repository = r.repository
            ORDER BY p.updated_at DESC LIMIT 1), ''),
  (SELECT COUNT(*) FROM stars s JOIN users su ON su.did = s.did AND su.active = 1
    WHERE s.subject_did = r.did AND s.subject_repository = r.repository) AS star_count,
  MAX(COALESCE((SELECT pl.count FROM pulls pl WHERE pl.did = r.did AND pl.repository = r.repository), 0),
      COALESCE((SELECT SUM(h.pull_count) FROM hold_stats h WHERE h.owner_did = r.did
                AND h.repository = r.repository AND h.hold_did = r.hold_did), 0)),
  r.last_push, r.latest_tag)sql";

RepositorySummary summary_row(const sqlite::Statement& st) {
  RepositorySummary s;
  s.owner.did = st.column_text(0);
  s.owner.handle = st.column_text(1);
  s.owner.pds = st.column_text(2);
  s.repository = st.column_text(3);
  s.description = st.column_text(4);
  s.avatar_cid = st.column_text(5);
  s.star_count = st.column_int(6);
  s.pull_count = st.column_int(7);
  s.last_push = st.column_text(8);
  s.latest_tag = st.column_text(9);
  return s;
}

class SqliteIndex final : public Index {
 public:
  explicit SqliteIndex(const std::filesystem::path& path) : db_(path.string()) {
    db_.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
    migrate(db_);
  }

  bool apply(const RecordChange& change) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(db_);
    bool applied = apply_locked(change);
    tx.commit();
    return applied;
  }

  void apply_all(const std::vector<RecordChange>& changes) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(db_);
    for (const RecordChange& change : changes) apply_locked(change);
    tx.commit();
  }

  void remove_repo(std::string_view did) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(db_);
    remove_repo_locked(did);
    tx.commit();
  }

  void set_identity(std::string_view did, std::string_view handle, std::string_view pds) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(db_);
    ensure_user(did);
    sqlite::Statement st(db_,
                         "UPDATE users SET handle = CASE WHEN ?2 = '' THEN handle ELSE ?2 END, "
                         "pds = CASE WHEN ?3 = '' THEN pds ELSE ?3 END, updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE did = ?1");
    st.bind(1, did).bind(2, handle).bind(3, pds);
    st.run();
    // Another DID that claimed the handle no longer has it.
    if (!handle.empty()) {
      sqlite::Statement others(db_, "UPDATE users SET handle = '' WHERE handle = ?1 AND did != ?2");
      others.bind(1, handle).bind(2, did);
      others.run();
    }
    refresh_search_of_user(did);
    tx.commit();
  }

  void set_account_status(std::string_view did, bool active, std::string_view status) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(db_);
    ensure_user(did);
    sqlite::Statement st(db_, "UPDATE users SET active = ?2, status = ?3 WHERE did = ?1");
    st.bind(1, did).bind(2, std::int64_t{active}).bind(3, active ? std::string_view("") : status);
    st.run();
    if (!active && status == "deleted") remove_repo_locked(did);
    refresh_search_of_user(did);  // search holds active accounts' repositories only
    tx.commit();
  }

  void count_pull(std::string_view did, std::string_view repository) override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_,
                         "INSERT INTO pulls (did, repository, count) VALUES (?1, ?2, 1) "
                         "ON CONFLICT (did, repository) DO UPDATE SET count = count + 1");
    st.bind(1, did).bind(2, repository);
    st.run();
  }

  void replace_repo(std::string_view did, const std::vector<RecordChange>& changes, const RepoState& state) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(db_);
    remove_repo_locked(did);
    for (const RecordChange& change : changes) apply_locked(change);
    set_repo_state_locked(did, state);
    tx.commit();
  }

  void apply_commit(std::string_view did, const std::vector<RecordChange>& changes, const RepoState& state) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(db_);
    for (const RecordChange& change : changes) apply_locked(change);
    set_repo_state_locked(did, state);
    tx.commit();
  }

  bool known(std::string_view did) override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_, "SELECT 1 FROM users WHERE did = ?");
    st.bind(1, did);
    return st.step();
  }

  std::optional<RepoState> repo_state(std::string_view did) override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_, "SELECT rev, commit_cid, data_cid FROM repo_state WHERE did = ?");
    st.bind(1, did);
    if (!st.step()) return std::nullopt;
    return RepoState{st.column_text(0), st.column_text(1), st.column_text(2)};
  }

  void set_repo_state(std::string_view did, const RepoState& state) override {
    std::lock_guard lock(mu_);
    set_repo_state_locked(did, state);
  }

  void set_repo_state_locked(std::string_view did, const RepoState& state) {
    ensure_user(did);
    sqlite::Statement st(db_,
                         "INSERT INTO repo_state (did, rev, commit_cid, data_cid) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (did) DO UPDATE SET rev = excluded.rev, commit_cid = excluded.commit_cid, "
                         "data_cid = excluded.data_cid");
    st.bind(1, did).bind(2, state.rev).bind(3, state.commit_cid).bind(4, state.data_cid);
    st.run();
  }

  // A cursor is the marker "cursor <source>".
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
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_, "SELECT value FROM markers WHERE name = ?");
    st.bind(1, name);
    if (!st.step()) return std::nullopt;
    return st.column_text(0);
  }

  void set_marker(std::string_view name, std::string_view value) override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_,
                         "INSERT INTO markers (name, value) VALUES (?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    st.bind(1, name).bind(2, value);
    st.run();
  }

  // ---- read side -----------------------------------------------------------

  std::vector<RepositorySummary> recent_pushes(std::int64_t limit) override {
    return summaries(fmt::format("SELECT {} FROM repositories r JOIN users u ON u.did = r.did AND u.active = 1 "
                                 "ORDER BY r.last_push DESC, r.id DESC LIMIT ?1",
                                 kSummaryColumns),
                     [&](sqlite::Statement& st) { st.bind(1, clamp_limit(limit)); });
  }

  std::vector<RepositorySummary> most_starred(std::int64_t limit) override {
    return summaries(fmt::format("SELECT {} FROM repositories r JOIN users u ON u.did = r.did AND u.active = 1 "
                                 "ORDER BY star_count DESC, r.last_push DESC LIMIT ?1",
                                 kSummaryColumns),
                     [&](sqlite::Statement& st) { st.bind(1, clamp_limit(limit)); });
  }

  // Two tiers: matches in the handle, name or description, then matches
  // only in the README. Each tier's kRankedHits most recently added
  // matches are ranked by bm25, the rest follow most recently added first
  // (FTS5's rowid order, which needs no sort): ranking every match of a
  // word 10k READMEs share took 0.1 s. Only active accounts' repositories
  // are in repo_search, so counts need no join.
  SearchResult search(std::string_view query, Page page) override {
    SearchResult result;
    std::string match = fts_query(query);
    if (match.empty()) return result;
    std::string names = fmt::format("{{handle repository description}} : ({})", match);
    std::string readme_only = fmt::format("({}) NOT {}", match, names);
    std::int64_t offset = std::max<std::int64_t>(page.offset, 0), limit = clamp_limit(page.limit);
    std::lock_guard lock(mu_);
    result.total = fts_count(match);
    std::int64_t name_hits = fts_count(names);
    std::vector<std::int64_t> ids = tier_hits(names, offset, limit);
    if (static_cast<std::int64_t>(ids.size()) < limit) {
      std::int64_t from = std::max<std::int64_t>(offset - name_hits, 0);
      for (std::int64_t id : tier_hits(readme_only, from, limit - static_cast<std::int64_t>(ids.size())))
        ids.push_back(id);
    }
    result.items = summaries_of(ids);
    return result;
  }

  std::optional<RepositoryDetail> repository(std::string_view owner, std::string_view repository,
                                             std::string_view viewer_did) override {
    std::lock_guard lock(mu_);
    std::string did = did_of(owner);
    if (did.empty()) return std::nullopt;
    RepositoryDetail detail;
    {
      std::string sql = fmt::format(
          "SELECT {}, r.hold_did FROM repositories r JOIN users u ON u.did = r.did AND u.active = 1 "
          "WHERE r.did = ?1 AND r.repository = ?2",
          kSummaryColumns);
      sqlite::Statement st(db_, sql.c_str());
      st.bind(1, did).bind(2, repository);
      if (!st.step()) return std::nullopt;
      detail.summary = summary_row(st);
      detail.hold_did = st.column_text(10);
    }
    {
      sqlite::Statement st(db_,
                           "SELECT description, avatar_mime FROM repo_pages WHERE did = ?1 AND repository = ?2 "
                           "ORDER BY updated_at DESC LIMIT 1");
      st.bind(1, did).bind(2, repository);
      if (st.step()) {
        detail.readme = st.column_text(0);
        detail.avatar_mime = st.column_text(1);
      }
    }
    if (!viewer_did.empty()) {
      sqlite::Statement st(db_, "SELECT 1 FROM stars WHERE did = ?1 AND subject_did = ?2 AND subject_repository = ?3");
      st.bind(1, viewer_did).bind(2, did).bind(3, repository);
      detail.viewer_starred = st.step();
    }
    {
      sqlite::Statement st(db_,
                           "SELECT annotations FROM manifests WHERE did = ?1 AND repository = ?2 "
                           "ORDER BY created_at DESC LIMIT 1");
      st.bind(1, did).bind(2, repository);
      if (st.step()) detail.annotations = annotations_of(st.column_text(0));
    }
    detail.tags = tags_of(did, repository);
    for (const TagInfo& tag : detail.tags) {
      if (tag.scan && (!detail.latest_scan || tag.scan->scanned_at > detail.latest_scan->scanned_at))
        detail.latest_scan = tag.scan;
    }
    return detail;
  }

  std::optional<UserInfo> user(std::string_view did_or_handle) override {
    std::lock_guard lock(mu_);
    std::string did = did_of(did_or_handle);
    if (did.empty()) return std::nullopt;
    sqlite::Statement st(db_, "SELECT did, handle, pds FROM users WHERE did = ? AND active = 1");
    st.bind(1, did);
    if (!st.step()) return std::nullopt;
    return UserInfo{st.column_text(0), st.column_text(1), st.column_text(2)};
  }

  std::vector<RepositorySummary> user_repositories(std::string_view did, Page page) override {
    return summaries(fmt::format("SELECT {} FROM repositories r JOIN users u ON u.did = r.did AND u.active = 1 "
                                 "WHERE r.did = ?1 ORDER BY r.last_push DESC LIMIT ?2 OFFSET ?3",
                                 kSummaryColumns),
                     [&](sqlite::Statement& st) {
                       st.bind(1, did).bind(2, clamp_limit(page.limit)).bind(3, std::max<std::int64_t>(page.offset, 0));
                     });
  }

  std::vector<RepositorySummary> user_stars(std::string_view did, Page page) override {
    return summaries(
        fmt::format("SELECT {} FROM stars st JOIN users me ON me.did = st.did AND me.active = 1 "
                    "JOIN repositories r ON r.did = st.subject_did AND r.repository = st.subject_repository "
                    "JOIN users u ON u.did = r.did AND u.active = 1 "
                    "WHERE st.did = ?1 ORDER BY st.created_at DESC LIMIT ?2 OFFSET ?3",
                    kSummaryColumns),
        [&](sqlite::Statement& st) {
          st.bind(1, did).bind(2, clamp_limit(page.limit)).bind(3, std::max<std::int64_t>(page.offset, 0));
        });
  }

  std::optional<ProfileInfo> profile(std::string_view did) override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_,
                         "SELECT p.default_hold, p.oci_client, p.registry_domain, p.auto_remove_untagged "
                         "FROM profiles p JOIN users u ON u.did = p.did AND u.active = 1 WHERE p.did = ?");
    st.bind(1, did);
    if (!st.step()) return std::nullopt;
    return ProfileInfo{st.column_text(0), st.column_text(1), st.column_text(2), st.column_int(3) != 0};
  }

  std::optional<HoldInfo> hold(std::string_view hold_did) override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_,
                         "SELECT hold_did, owner, public, allow_all_crew, region, successor FROM hold_captains "
                         "WHERE hold_did = ?");
    st.bind(1, hold_did);
    if (!st.step()) return std::nullopt;
    return HoldInfo{st.column_text(0), st.column_text(1), st.column_int(2) != 0, st.column_int(3) != 0,
                    st.column_text(4), st.column_text(5)};
  }

  std::vector<CrewInfo> crew_memberships(std::string_view member) override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_,
                         "SELECT hold_did, member, role, permissions, tier FROM hold_crew WHERE member = ? "
                         "ORDER BY hold_did LIMIT 1000");
    st.bind(1, member);
    std::vector<CrewInfo> out;
    while (st.step()) {
      CrewInfo c{st.column_text(0), st.column_text(1), st.column_text(2), {}, st.column_text(4)};
      try {
        Value permissions = json::parse(st.column_text(3));
        for (const Value& p : permissions.as_array()) c.permissions.push_back(p.as_string());
      } catch (const Error&) {
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  std::vector<std::string> catalog(std::int64_t n, std::string_view last) override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_,
                         "SELECT name FROM (SELECT (CASE WHEN u.handle = '' THEN r.did ELSE u.handle END) "
                         "|| '/' || r.repository AS name FROM repositories r "
                         "JOIN users u ON u.did = r.did AND u.active = 1) WHERE name > ?1 ORDER BY name LIMIT ?2");
    st.bind(1, last).bind(2, std::clamp<std::int64_t>(n, 1, 10001));
    std::vector<std::string> out;
    while (st.step()) out.push_back(st.column_text(0));
    return out;
  }

  std::int64_t repository_count() override {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_,
                         "SELECT COUNT(*) FROM repositories r JOIN users u ON u.did = r.did AND u.active = 1");
    st.step();
    return st.column_int(0);
  }

 private:
  // ---- write side, under mu_ and a transaction -------------------------------

  bool apply_locked(const RecordChange& change) {
    std::string_view c = change.collection;
    if (!is_indexed_collection(c)) return false;
    ensure_user(change.did);
    if (change.action == RecordAction::kDelete) {
      remove_record(change.did, c, change.rkey);
      return true;
    }
    try {
      if (c == oci::kManifestCollection) {
        put_manifest(change);
      } else if (c == oci::kTagCollection) {
        put_tag(change);
      } else if (c == kRepoPageCollection) {
        put_page(change);
      } else if (c == kStarCollection) {
        put_star(change);
      } else if (c == kProfileCollection) {
        put_profile(change);
      } else if (c == kCaptainCollection) {
        put_captain(change);
      } else if (c == kCrewCollection) {
        put_crew(change);
      } else if (c == kStatsCollection) {
        put_stats(change);
      } else if (c == kScanCollection) {
        put_scan(change);
      }
      return true;
    } catch (const ParseError& e) {
      log::warn("index", "{}/{}/{} not indexed: {}", change.did, c, log::escape(change.rkey), e.what());
      remove_record(change.did, c, change.rkey);
      return false;
    }
  }

  void ensure_user(std::string_view did) {
    sqlite::Statement st(db_, "INSERT INTO users (did) VALUES (?) ON CONFLICT (did) DO NOTHING");
    st.bind(1, did);
    st.run();
  }

  // Deletes the record's row; refreshes the repository it belonged to.
  void remove_record(std::string_view did, std::string_view collection, std::string_view rkey) {
    auto repo_table = [&](const char* select, const char* del) {
      std::optional<std::string> repository;
      {
        sqlite::Statement st(db_, select);
        st.bind(1, did).bind(2, rkey);
        if (st.step()) repository = st.column_text(0);
      }
      sqlite::Statement st(db_, del);
      st.bind(1, did).bind(2, rkey);
      st.run();
      if (repository) refresh_repository(did, *repository);
    };
    auto plain = [&](const char* del) {
      sqlite::Statement st(db_, del);
      st.bind(1, did).bind(2, rkey);
      st.run();
    };
    if (collection == oci::kManifestCollection) {
      plain("DELETE FROM manifest_platforms WHERE did = ?1 AND rkey = ?2");
      repo_table("SELECT repository FROM manifests WHERE did = ?1 AND rkey = ?2",
                 "DELETE FROM manifests WHERE did = ?1 AND rkey = ?2");
    } else if (collection == oci::kTagCollection) {
      repo_table("SELECT repository FROM tags WHERE did = ?1 AND rkey = ?2",
                 "DELETE FROM tags WHERE did = ?1 AND rkey = ?2");
    } else if (collection == kRepoPageCollection) {
      repo_table("SELECT repository FROM repo_pages WHERE did = ?1 AND rkey = ?2",
                 "DELETE FROM repo_pages WHERE did = ?1 AND rkey = ?2");
    } else if (collection == kStarCollection) {
      plain("DELETE FROM stars WHERE did = ?1 AND rkey = ?2");
    } else if (collection == kProfileCollection) {
      if (rkey == "self") plain("DELETE FROM profiles WHERE did = ?1 AND ?2 = 'self'");
    } else if (collection == kCaptainCollection) {
      plain("DELETE FROM hold_captains WHERE hold_did = ?1 AND ?2 = 'self'");
    } else if (collection == kCrewCollection) {
      plain("DELETE FROM hold_crew WHERE hold_did = ?1 AND rkey = ?2");
    } else if (collection == kStatsCollection) {
      plain("DELETE FROM hold_stats WHERE hold_did = ?1 AND rkey = ?2");
    } else if (collection == kScanCollection) {
      plain("DELETE FROM hold_scans WHERE hold_did = ?1 AND rkey = ?2");
    }
  }

  void remove_repo_locked(std::string_view did) {
    for (const char* sql : {
             "DELETE FROM manifests WHERE did = ?1", "DELETE FROM manifest_platforms WHERE did = ?1",
             "DELETE FROM tags WHERE did = ?1", "DELETE FROM repo_pages WHERE did = ?1",
             "DELETE FROM stars WHERE did = ?1", "DELETE FROM profiles WHERE did = ?1",
             "DELETE FROM hold_captains WHERE hold_did = ?1", "DELETE FROM hold_crew WHERE hold_did = ?1",
             "DELETE FROM hold_stats WHERE hold_did = ?1", "DELETE FROM hold_scans WHERE hold_did = ?1",
             "DELETE FROM repo_search WHERE rowid IN (SELECT id FROM repositories WHERE did = ?1)",
             "DELETE FROM repositories WHERE did = ?1", "DELETE FROM repo_state WHERE did = ?1"}) {
      sqlite::Statement st(db_, sql);
      st.bind(1, did);
      st.run();
    }
  }

  // A record moving to another repository (an update that renames) leaves
  // the old one to refresh too.
  std::optional<std::string> old_repository(const char* sql, const RecordChange& change) {
    sqlite::Statement st(db_, sql);
    st.bind(1, change.did).bind(2, change.rkey);
    if (!st.step()) return std::nullopt;
    return st.column_text(0);
  }

  void refresh_both(const RecordChange& change, const std::optional<std::string>& old, const std::string& now) {
    if (old && *old != now) refresh_repository(change.did, *old);
    refresh_repository(change.did, now);
  }

  void put_manifest(const RecordChange& change) {
    oci::ManifestRecord m = oci::ManifestRecord::from_value(change.record);
    if (!oci::is_valid_repository(m.repository))
      throw ParseError(fmt::format("index: '{}' is not a repository name", log::escape(m.repository.substr(0, 64))));
    auto old = old_repository("SELECT repository FROM manifests WHERE did = ?1 AND rkey = ?2", change);
    std::optional<std::int64_t> size;
    if (m.config) {
      std::int64_t total = m.config->size;
      for (const auto& layer : m.layers) total += layer.size;
      size = total;
    }
    Value::Map annotations;
    for (const auto& [k, v] : m.annotations) annotations.emplace(k, Value(v));
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO manifests (did, rkey, repository, digest, media_type, created_at, "
                         "hold_did, size, annotations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, change.rkey).bind(3, m.repository).bind(4, m.digest.str());
    st.bind(5, m.media_type).bind(6, m.created_at).bind(7, m.hold_did);
    if (size) st.bind(8, *size);
    st.bind(9, json::serialize(Value(std::move(annotations))));
    st.run();
    sqlite::Statement clear(db_, "DELETE FROM manifest_platforms WHERE did = ?1 AND rkey = ?2");
    clear.bind(1, change.did).bind(2, change.rkey);
    clear.run();
    std::int64_t position = 0;
    for (const auto& child : m.manifests) {
      sqlite::Statement p(db_,
                          "INSERT INTO manifest_platforms (did, rkey, position, digest, os, architecture, variant) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)");
      p.bind(1, change.did).bind(2, change.rkey).bind(3, position++).bind(4, child.digest.str());
      p.bind(5, child.platform ? child.platform->os : "").bind(6, child.platform ? child.platform->architecture : "");
      p.bind(7, child.platform ? child.platform->variant : "");
      p.run();
    }
    refresh_both(change, old, m.repository);
  }

  void put_tag(const RecordChange& change) {
    oci::TagRecord t = oci::TagRecord::from_value(change.record);
    if (!oci::is_valid_repository(t.repository) || !oci::is_valid_tag(t.tag))
      throw ParseError(fmt::format("index: '{}:{}' is not a repository and tag", log::escape(t.repository.substr(0, 64)),
                                   log::escape(t.tag.substr(0, 64))));
    auto old = old_repository("SELECT repository FROM tags WHERE did = ?1 AND rkey = ?2", change);
    std::string manifest_rkey;
    if (!t.manifest_uri.empty()) manifest_rkey = oci::manifest_rkey_of(t.manifest_uri, change.did).value_or("");
    auto digest = t.digest();
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO tags (did, rkey, repository, tag, manifest_rkey, digest, updated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, change.rkey).bind(3, t.repository).bind(4, t.tag).bind(5, manifest_rkey);
    st.bind(6, digest ? digest->str() : "").bind(7, t.updated_at.empty() ? t.created_at : t.updated_at);
    st.run();
    refresh_both(change, old, t.repository);
  }

  void put_page(const RecordChange& change) {
    const Value& r = change.record;
    std::string repository = r.find("repository") ? required_repository(r) : repository_of_page_rkey(change.rkey);
    if (!oci::is_valid_repository(repository)) throw ParseError("index: a repo page's key is not a repository name");
    std::string avatar_cid, avatar_mime;
    if (const Value* avatar = r.find("avatar"); avatar && !avatar->is_null()) {
      avatar_cid = avatar->at("ref").as_link().to_string();
      avatar_mime = text_field(*avatar, "mimeType");
    }
    auto old = old_repository("SELECT repository FROM repo_pages WHERE did = ?1 AND rkey = ?2", change);
    std::string updated = text_field(r, "updatedAt");
    if (updated.empty()) updated = text_field(r, "createdAt");
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO repo_pages (did, rkey, repository, description, avatar_cid, "
                         "avatar_mime, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, change.rkey).bind(3, repository).bind(4, text_field(r, "description"));
    st.bind(5, avatar_cid).bind(6, avatar_mime).bind(7, updated);
    st.run();
    refresh_both(change, old, repository);
  }

  void put_star(const RecordChange& change) {
    const Value& subject = change.record.at("subject");
    std::string subject_did, subject_repository;
    if (subject.is_string()) {
      // at://<did>/io.atcr.repo.page/<rkey>
      std::string_view uri = subject.as_string();
      constexpr std::string_view kPrefix = "at://";
      if (!uri.starts_with(kPrefix)) throw ParseError("index: a star's subject is not an AT-URI");
      uri.remove_prefix(kPrefix.size());
      auto slash = uri.find('/');
      auto second = slash == std::string_view::npos ? slash : uri.find('/', slash + 1);
      if (second == std::string_view::npos || uri.substr(slash + 1, second - slash - 1) != kRepoPageCollection)
        throw ParseError("index: a star's subject is not a repo page");
      subject_did = std::string(uri.substr(0, slash));
      subject_repository = repository_of_page_rkey(uri.substr(second + 1));
    } else {
      subject_did = subject.at("did").as_string();
      subject_repository = subject.at("repository").as_string();
    }
    if (!syntax::is_valid_did(subject_did) || !oci::is_valid_repository(subject_repository))
      throw ParseError("index: a star's subject names no repository");
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO stars (did, rkey, subject_did, subject_repository, created_at) "
                         "VALUES (?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, change.rkey).bind(3, subject_did).bind(4, subject_repository);
    st.bind(5, text_field(change.record, "createdAt"));
    st.run();
  }

  void put_profile(const RecordChange& change) {
    if (change.rkey != "self") throw ParseError("index: a sailor profile's key is not 'self'");
    const Value& r = change.record;
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO profiles (did, default_hold, oci_client, registry_domain, "
                         "auto_remove_untagged) VALUES (?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, text_field(r, "defaultHold")).bind(3, text_field(r, "ociClient"));
    st.bind(4, text_field(r, "registryDomain")).bind(5, std::int64_t{bool_field(r, "autoRemoveUntagged")});
    st.run();
  }

  void put_captain(const RecordChange& change) {
    if (change.rkey != "self") throw ParseError("index: a captain record's key is not 'self'");
    const Value& r = change.record;
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO hold_captains (hold_did, owner, public, allow_all_crew, region, "
                         "successor) VALUES (?, ?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, r.at("owner").as_string()).bind(3, std::int64_t{bool_field(r, "public")});
    st.bind(4, std::int64_t{bool_field(r, "allowAllCrew")}).bind(5, text_field(r, "region"));
    st.bind(6, text_field(r, "successor"));
    st.run();
  }

  void put_crew(const RecordChange& change) {
    const Value& r = change.record;
    Value::Array permissions;
    if (const Value* p = r.find("permissions"); p && !p->is_null())
      for (const Value& one : p->as_array()) permissions.emplace_back(one.as_string());
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO hold_crew (hold_did, rkey, member, role, permissions, tier) "
                         "VALUES (?, ?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, change.rkey).bind(3, r.at("member").as_string()).bind(4, text_field(r, "role"));
    st.bind(5, json::serialize(Value(std::move(permissions)))).bind(6, text_field(r, "tier"));
    st.run();
  }

  void put_stats(const RecordChange& change) {
    const Value& r = change.record;
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO hold_stats (hold_did, rkey, owner_did, repository, pull_count, "
                         "push_count) VALUES (?, ?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, change.rkey).bind(3, r.at("ownerDid").as_string()).bind(4, required_repository(r));
    st.bind(5, std::max<std::int64_t>(int_field(r, "pullCount"), 0));
    st.bind(6, std::max<std::int64_t>(int_field(r, "pushCount"), 0));
    st.run();
  }

  void put_scan(const RecordChange& change) {
    const Value& r = change.record;
    // The key is the manifest digest's hex.
    std::string digest = "sha256:" + change.rkey;
    if (!oci::Digest::valid(digest)) throw ParseError("index: a scan record's key is not a digest");
    sqlite::Statement st(db_,
                         "INSERT OR REPLACE INTO hold_scans (hold_did, rkey, digest, user_did, repository, status, "
                         "reason, critical, high, medium, low, total, scanner_version, scanned_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, change.did).bind(2, change.rkey).bind(3, digest).bind(4, text_field(r, "userDid"));
    st.bind(5, text_field(r, "repository")).bind(6, text_field(r, "status")).bind(7, text_field(r, "reason"));
    st.bind(8, int_field(r, "critical")).bind(9, int_field(r, "high")).bind(10, int_field(r, "medium"));
    st.bind(11, int_field(r, "low")).bind(12, int_field(r, "total")).bind(13, text_field(r, "scannerVersion"));
    st.bind(14, text_field(r, "scannedAt"));
    st.run();
  }

  // Recomputes the derived row of (did, repository) and its search entry:
  // present while a manifest or tag names it.
  void refresh_repository(std::string_view did, std::string_view repository) {
    std::string last_push, latest_tag, hold_did, description;
    bool exists = false;
    {
      sqlite::Statement st(db_,
                           "SELECT created_at, hold_did, annotations FROM manifests WHERE did = ?1 AND repository = ?2 "
                           "ORDER BY created_at DESC LIMIT 1");
      st.bind(1, did).bind(2, repository);
      if (st.step()) {
        exists = true;
        last_push = st.column_text(0);
        hold_did = st.column_text(1);
        auto annotations = annotations_of(st.column_text(2));
        if (auto it = annotations.find(std::string(kDescriptionAnnotation)); it != annotations.end())
          description = it->second.substr(0, 300);
      }
    }
    {
      sqlite::Statement st(db_,
                           "SELECT tag, updated_at FROM tags WHERE did = ?1 AND repository = ?2 "
                           "ORDER BY updated_at DESC, tag DESC LIMIT 1");
      st.bind(1, did).bind(2, repository);
      if (st.step()) {
        exists = true;
        latest_tag = st.column_text(0);
        last_push = std::max(last_push, st.column_text(1));
      }
    }
    std::string readme;
    {
      sqlite::Statement st(db_,
                           "SELECT description FROM repo_pages WHERE did = ?1 AND repository = ?2 "
                           "ORDER BY updated_at DESC LIMIT 1");
      st.bind(1, did).bind(2, repository);
      if (st.step()) readme = st.column_text(0);
    }
    if (description.empty()) description = first_line(readme);
    std::optional<std::int64_t> id;
    {
      sqlite::Statement st(db_, "SELECT id FROM repositories WHERE did = ?1 AND repository = ?2");
      st.bind(1, did).bind(2, repository);
      if (st.step()) id = st.column_int(0);
    }
    if (id) {
      sqlite::Statement st(db_, "DELETE FROM repo_search WHERE rowid = ?");
      st.bind(1, *id);
      st.run();
    }
    if (!exists) {
      if (id) {
        sqlite::Statement st(db_, "DELETE FROM repositories WHERE id = ?");
        st.bind(1, *id);
        st.run();
      }
      return;
    }
    {
      sqlite::Statement st(db_,
                           "INSERT INTO repositories (did, repository, description, last_push, latest_tag, hold_did) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (did, repository) DO UPDATE SET "
                           "description = excluded.description, last_push = excluded.last_push, "
                           "latest_tag = excluded.latest_tag, hold_did = excluded.hold_did RETURNING id");
      st.bind(1, did).bind(2, repository).bind(3, description).bind(4, last_push).bind(5, latest_tag).bind(6, hold_did);
      st.step();
      id = st.column_int(0);
    }
    sqlite::Statement st(db_,
                         "INSERT INTO repo_search (rowid, handle, repository, description, readme) "
                         "SELECT ?1, handle, ?3, ?4, ?5 FROM users WHERE did = ?2 AND active = 1");
    st.bind(1, *id).bind(2, did).bind(3, repository).bind(4, description).bind(5, readme);
    st.run();
  }

  void refresh_search_of_user(std::string_view did) {
    std::vector<std::string> repositories;
    {
      sqlite::Statement st(db_, "SELECT repository FROM repositories WHERE did = ?");
      st.bind(1, did);
      while (st.step()) repositories.push_back(st.column_text(0));
    }
    for (const std::string& repository : repositories) refresh_repository(did, repository);
  }

  // ---- read helpers, under mu_ -------------------------------------------------

  std::int64_t fts_count(const std::string& match) {
    sqlite::Statement st(db_, "SELECT COUNT(*) FROM repo_search WHERE repo_search MATCH ?1");
    st.bind(1, match);
    st.step();
    return st.column_int(0);
  }

  // Positions [offset, offset + limit) of one search tier: its
  // kRankedHits most recently added matches by bm25, then the rest most
  // recently added first (positions past kRankedHits are rowid order).
  std::vector<std::int64_t> tier_hits(const std::string& match, std::int64_t offset, std::int64_t limit) {
    std::vector<std::int64_t> ids;
    if (offset < kRankedHits) {
      sqlite::Statement st(db_,
                           "SELECT id FROM (SELECT rowid AS id, bm25(repo_search, 5.0, 10.0, 2.0, 1.0) AS rank "
                           "FROM repo_search WHERE repo_search MATCH ?1 ORDER BY rowid DESC LIMIT ?2) "
                           "ORDER BY rank, id DESC LIMIT ?3 OFFSET ?4");
      st.bind(1, match).bind(2, kRankedHits).bind(3, std::min(limit, kRankedHits - offset)).bind(4, offset);
      while (st.step()) ids.push_back(st.column_int(0));
    }
    std::int64_t next = offset + static_cast<std::int64_t>(ids.size());
    if (static_cast<std::int64_t>(ids.size()) < limit && next >= kRankedHits) {
      sqlite::Statement st(db_,
                           "SELECT rowid FROM repo_search WHERE repo_search MATCH ?1 ORDER BY rowid DESC "
                           "LIMIT ?2 OFFSET ?3");
      st.bind(1, match).bind(2, limit - static_cast<std::int64_t>(ids.size())).bind(3, next);
      while (st.step()) ids.push_back(st.column_int(0));
    }
    return ids;
  }

  // The summaries of repositories by id, in the order given (hidden ones left out).
  std::vector<RepositorySummary> summaries_of(const std::vector<std::int64_t>& ids) {
    if (ids.empty()) return {};
    std::string list;
    for (std::int64_t id : ids) list += fmt::format("{}{}", list.empty() ? "" : ",", id);
    std::string sql = fmt::format("SELECT {}, r.id FROM repositories r JOIN users u ON u.did = r.did AND u.active = 1 "
                                  "WHERE r.id IN ({})",
                                  kSummaryColumns, list);
    std::map<std::int64_t, RepositorySummary> by_id;
    sqlite::Statement st(db_, sql.c_str());
    while (st.step()) by_id.emplace(st.column_int(10), summary_row(st));
    std::vector<RepositorySummary> out;
    for (std::int64_t id : ids)
      if (auto it = by_id.find(id); it != by_id.end()) out.push_back(std::move(it->second));
    return out;
  }

  template <class Bind>
  std::vector<RepositorySummary> summaries(const std::string& sql, Bind&& bind) {
    std::lock_guard lock(mu_);
    sqlite::Statement st(db_, sql.c_str());
    bind(st);
    std::vector<RepositorySummary> out;
    while (st.step()) out.push_back(summary_row(st));
    return out;
  }

  // A DID as is, a handle looked up; "" when unknown.
  std::string did_of(std::string_view owner) {
    if (owner.starts_with("did:")) return std::string(owner);
    sqlite::Statement st(db_, "SELECT did FROM users WHERE handle = ? COLLATE NOCASE ORDER BY updated_at DESC LIMIT 1");
    st.bind(1, owner);
    return st.step() ? st.column_text(0) : std::string();
  }

  static std::map<std::string, std::string> annotations_of(const std::string& text) {
    std::map<std::string, std::string> out;
    try {
      Value parsed = json::parse(text);
      for (const auto& [k, v] : parsed.as_map())
        if (v.is_string()) out.emplace(k, v.as_string());
    } catch (const Error&) {
    }
    return out;
  }

  std::vector<TagInfo> tags_of(const std::string& did, std::string_view repository) {
    std::vector<TagInfo> tags;
    std::vector<std::pair<std::string, std::string>> keys;  // manifest rkey, tag digest
    {
      sqlite::Statement st(db_,
                           "SELECT tag, manifest_rkey, digest, updated_at FROM tags WHERE did = ?1 AND repository = ?2 "
                           "ORDER BY updated_at DESC, tag LIMIT 1000");
      st.bind(1, did).bind(2, repository);
      while (st.step()) {
        TagInfo t;
        t.tag = st.column_text(0);
        t.digest = st.column_text(2);
        t.created_at = st.column_text(3);
        keys.emplace_back(st.column_text(1), st.column_text(2));
        tags.push_back(std::move(t));
      }
    }
    for (std::size_t i = 0; i < tags.size(); ++i) fill_tag(did, repository, keys[i].first, tags[i]);
    return tags;
  }

  void fill_tag(const std::string& did, std::string_view repository, const std::string& manifest_rkey, TagInfo& t) {
    std::string rkey, hold_did;
    {
      sqlite::Statement st(db_,
                           "SELECT rkey, digest, media_type, created_at, size, hold_did FROM manifests "
                           "WHERE did = ?1 AND ((?2 != '' AND rkey = ?2) OR (?2 = '' AND digest = ?3 AND repository = ?4)) "
                           "LIMIT 1");
      st.bind(1, did).bind(2, manifest_rkey).bind(3, t.digest).bind(4, repository);
      if (!st.step()) {
        if (!manifest_rkey.empty()) t.digest.clear();  // the tag names a manifest not indexed
        return;
      }
      rkey = st.column_text(0);
      t.digest = st.column_text(1);
      t.media_type = st.column_text(2);
      if (!st.column_text(3).empty()) t.created_at = st.column_text(3);
      t.size = st.column_is_null(4) ? 0 : st.column_int(4);
      hold_did = st.column_text(5);
    }
    {
      sqlite::Statement st(db_,
                           "SELECT p.os, p.architecture, p.variant, p.digest, "
                           "(SELECT m.size FROM manifests m WHERE m.did = p.did AND m.digest = p.digest LIMIT 1) "
                           "FROM manifest_platforms p WHERE p.did = ?1 AND p.rkey = ?2 ORDER BY p.position");
      st.bind(1, did).bind(2, rkey);
      std::int64_t total = 0;
      while (st.step()) {
        t.platforms.push_back({st.column_text(0), st.column_text(1), st.column_text(2), st.column_text(3)});
        if (!st.column_is_null(4)) total += st.column_int(4);
      }
      if (!t.platforms.empty()) t.size = total;
    }
    sqlite::Statement st(db_,
                         "SELECT hold_did, digest, status, reason, critical, high, medium, low, total, scanner_version, "
                         "scanned_at FROM hold_scans WHERE user_did = ?1 AND digest = ?2 AND hold_did = ?3 "
                         "ORDER BY scanned_at DESC LIMIT 1");
    st.bind(1, did).bind(2, t.digest).bind(3, hold_did);
    if (st.step()) {
      t.scan = ScanInfo{st.column_text(0), st.column_text(1), st.column_text(2), st.column_text(3),
                        st.column_int(4),  st.column_int(5),  st.column_int(6),  st.column_int(7),
                        st.column_int(8),  st.column_text(9), st.column_text(10)};
    }
  }

  std::mutex mu_;
  sqlite::Database db_;
};

}  // namespace

bool is_indexed_collection(std::string_view c) {
  return c == oci::kManifestCollection || c == oci::kTagCollection || c == kRepoPageCollection ||
         c == kStarCollection || c == kProfileCollection || c == kCaptainCollection || c == kCrewCollection ||
         c == kStatsCollection || c == kScanCollection;
}

std::unique_ptr<Index> Index::open(const std::filesystem::path& path) {
  return std::make_unique<SqliteIndex>(path);
}

}  // namespace atcr::index

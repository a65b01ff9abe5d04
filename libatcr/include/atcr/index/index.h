// The network index: every io.atcr.* record on the network, in a SQL
// database (an embedded SQLite file, or PostgreSQL shared by several AppView
// instances), for the AppView's web UI, search and /v2/_catalog.
//
// The index is a cache of what users' PDSes and holds publish (they are the
// truth): it can be deleted and rebuilt from the network at any time. The
// ingestion side (firehose consumers, backfill) calls the write methods
// with records it has already verified; the AppView and its pages call the
// read methods.
//
//   auto index = index::Index::open(data_dir / "index.sqlite");
//   auto shared = index::Index::open(db::open("postgres://db.internal/atcr"));
//   index->apply({.did = did, .collection = "io.atcr.manifest", .rkey = rkey,
//                 .action = RecordAction::kCreate, .record = value});
//   index->set_identity(did, "alice.example.com", "https://pds.example.com");
//   auto recent = index->recent_pushes(20);
//   auto found = index->search("nginx", {.limit = 25});
//
// Contract:
//  - Schema: numbered migrations (component "index" of
//    db::Database::migrate), applied in order when the index is opened, by
//    one process at a time. A database from a newer atcr (a version above
//    what this build knows) is refused with StorageError rather than
//    misread. An index.sqlite that counted its schema in PRAGMA
//    user_version (before the db layer) is adopted as it is.
//  - Writes are idempotent: applying the same create twice, or a delete of
//    a record that is not there, leaves the index as one application would.
//    A create and an update are the same (the record's new value replaces
//    the old). Records of collections the index does not know (outside
//    io.atcr.*, or io.atcr.* ones it does not read) are ignored.
//  - Hostile records: a record that does not parse (a field of the wrong
//    type, an invalid digest, a repository name that is not one) is not
//    indexed, and replaces any earlier version of the same record (which is
//    removed): apply() returns false. It never throws for record content.
//  - Accounts: a DID whose account status is not active (takendown,
//    suspended, deactivated, deleted) keeps its rows, but every read hides
//    its repositories, stars and profile until it is active again. "deleted"
//    also removes its rows.
//  - Reads only show repositories of active accounts; names are returned as
//    stored, never escaped (the pages escape what they show).
//  - Threads: an Index may be used from many threads at once (the
//    database's: one SQLite connection behind a mutex, or PostgreSQL's
//    pool), and, on PostgreSQL, from many processes: every write is one
//    transaction, pull counts add up in one row, cursors and markers are
//    shared (so whichever instance follows the firehose continues from the
//    saved cursor). Database errors throw StorageError.
//  - Limits: every listing takes a limit, clamped to [1, 100]; search
//    queries are at most 256 bytes and are matched as words (runs of ASCII
//    letters and digits, and of other UTF-8; FTS5 or tsquery syntax in
//    them is quoted away and invalid UTF-8 dropped, so no query is an
//    error).
//
// All SQL lives in libatcr/src/index/: db_index.cc (one text for both
// backends), schema.cc and search_table.cc (where the dialects differ).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/data/value.h"

namespace atcr::db {
class Database;
}

namespace atcr::index {

// The collections the index reads.
inline constexpr std::string_view kRepoPageCollection = "io.atcr.repo.page";
inline constexpr std::string_view kStarCollection = "io.atcr.sailor.star";
inline constexpr std::string_view kProfileCollection = "io.atcr.sailor.profile";
inline constexpr std::string_view kScanCollection = "io.atcr.hold.scan";
// (io.atcr.manifest, io.atcr.tag: oci/records.h; io.atcr.hold.captain,
// .crew, .stats: hold records, named by their NSIDs in index.cc.)

// Whether the index reads records of `collection`.
bool is_indexed_collection(std::string_view collection);

enum class RecordAction { kCreate, kUpdate, kDelete };

struct RecordChange {
  std::string did;  // the repo the record lives in (a user, or a hold)
  std::string collection;
  std::string rkey;
  RecordAction action = RecordAction::kCreate;
  Value record;     // unused for kDelete
  std::string cid;  // the record's CID (string form), "" if unknown
};

// ---- what the read side answers -----------------------------------------

struct UserInfo {
  std::string did;
  std::string handle;  // "" until the identity is known
  std::string pds;     // the PDS endpoint, "" until known
};

struct PlatformInfo {
  std::string os;
  std::string architecture;
  std::string variant;  // "" when none
  std::string digest;   // the platform's own manifest
};

struct ScanInfo {
  std::string hold_did{};
  std::string digest{};  // "sha256:<hex>" of the manifest scanned
  std::string status{};  // "ok", "failed", "skipped" ("" for older records)
  std::string reason{};
  std::int64_t critical = 0, high = 0, medium = 0, low = 0, total = 0;
  std::string scanner_version{};
  std::string scanned_at{};
};

struct TagInfo {
  std::string tag{};
  std::string digest{};      // "" when the tag's manifest is not indexed
  std::string media_type{};  // the manifest's
  // Config plus layers; for an index, the sum of its platforms' manifests
  // that are indexed. 0 when unknown.
  std::int64_t size = 0;
  std::string created_at{};  // the manifest's createdAt, else the tag's time
  std::vector<PlatformInfo> platforms{};  // an index's entries; empty otherwise
  std::optional<ScanInfo> scan{};
};

// A line of a listing (home page, search results, a user's repositories).
struct RepositorySummary {
  UserInfo owner;
  std::string repository;
  std::string description;  // the OCI description annotation, else the page's first line
  std::string avatar_cid;   // the repo page's avatar blob, "" if none
  std::int64_t star_count = 0;
  std::int64_t pull_count = 0;
  std::string last_push;  // datetime of the newest manifest or tag
  std::string latest_tag;  // "" when untagged
};

struct RepositoryDetail {
  RepositorySummary summary;
  std::string readme;       // io.atcr.repo.page description (markdown), "" if none
  std::string avatar_mime;  // with summary.avatar_cid
  std::vector<TagInfo> tags;  // newest first
  std::string hold_did;       // where the newest manifest's blobs live
  bool viewer_starred = false;
  std::optional<ScanInfo> latest_scan;
  std::map<std::string, std::string> annotations;  // the newest manifest's
};

struct Page {
  std::int64_t limit = 25;
  std::int64_t offset = 0;
};

struct SearchResult {
  std::vector<RepositorySummary> items;
  std::int64_t total = 0;  // matches in all, for page links
};

struct ProfileInfo {
  std::string default_hold;
  std::string oci_client;
  std::string registry_domain;
  bool auto_remove_untagged = false;
};

struct HoldInfo {
  std::string did;
  std::string owner;
  bool public_ = false;
  bool allow_all_crew = false;
  std::string region;
  std::string successor;
};

struct CrewInfo {
  std::string hold_did;
  std::string member;
  std::string role;
  std::vector<std::string> permissions;
  std::string tier;
};

class Index {
 public:
  // Opens (creating if needed) and migrates a SQLite file (":memory:" for a
  // throwaway) or, given a postgres:// URL, that PostgreSQL database.
  static std::unique_ptr<Index> open(const std::filesystem::path& path);
  // The index in `database` (migrated), which it shares with its other
  // users (the AppView's sessions, other instances).
  static std::unique_ptr<Index> open(std::shared_ptr<db::Database> database);
  virtual ~Index() = default;

  // ---- write side --------------------------------------------------------

  // Applies one verified record change; false when the record was refused
  // (see "Hostile records") or the collection is not indexed.
  virtual bool apply(const RecordChange& change) = 0;
  // Applies many in one transaction (a commit's ops, a backfilled repo).
  virtual void apply_all(const std::vector<RecordChange>& changes) = 0;
  // Everything indexed from `did`'s repo goes (before a re-sync, or for a
  // deleted account). The user row (identity, status) stays.
  virtual void remove_repo(std::string_view did) = 0;
  // An identity (re)resolved: handle "" leaves the handle as it was
  // (unknown is not invalid); pds "" likewise.
  virtual void set_identity(std::string_view did, std::string_view handle, std::string_view pds) = 0;
  // An #account event: active, or the inactive status ("takendown",
  // "suspended", "deactivated", "deleted", ...). "deleted" removes the repo.
  virtual void set_account_status(std::string_view did, bool active, std::string_view status) = 0;
  // A pull the AppView served (a manifest GET).
  virtual void count_pull(std::string_view did, std::string_view repository) = 0;

  // Sync state of a repo as ingestion last verified it.
  struct RepoState {
    std::string rev;
    std::string commit_cid;
    std::string data_cid;  // the MST root (sync v1.1 prevData checks)
  };
  // A re-sync in one transaction: everything indexed from `did`'s repo is
  // replaced by `changes` (creates), and its sync state set.
  virtual void replace_repo(std::string_view did, const std::vector<RecordChange>& changes,
                            const RepoState& state) = 0;
  // A verified commit: its changes and the repo's new state, in one
  // transaction.
  virtual void apply_commit(std::string_view did, const std::vector<RecordChange>& changes,
                            const RepoState& state) = 0;
  // Whether anything of `did` is indexed (a user row: records, identity or
  // status), hidden or not.
  virtual bool known(std::string_view did) = 0;
  virtual std::optional<RepoState> repo_state(std::string_view did) = 0;
  // Whether `did`'s repo has the io.atcr.tag record `rkey`, as the index
  // last saw it; nullopt when the index has verified no commit of that
  // repo (it does not follow it, or not yet) and so cannot say. An answer
  // may be stale by the firehose's lag.
  virtual std::optional<bool> has_tag_record(std::string_view did, std::string_view rkey) = 0;
  virtual void set_repo_state(std::string_view did, const RepoState& state) = 0;
  // Firehose cursors, per source URL.
  virtual std::optional<std::int64_t> cursor(std::string_view source) = 0;
  virtual void set_cursor(std::string_view source, std::int64_t seq) = 0;
  // Free-form progress of long jobs (backfill), per name.
  virtual std::optional<std::string> marker(std::string_view name) = 0;
  virtual void set_marker(std::string_view name, std::string_view value) = 0;

  // ---- read side ---------------------------------------------------------

  // Repositories by their newest push, newest first.
  virtual std::vector<RepositorySummary> recent_pushes(std::int64_t limit) = 0;
  // Repositories by star count, then newest push.
  virtual std::vector<RepositorySummary> most_starred(std::int64_t limit) = 0;
  // Words matched against handle, repository, description and README
  // (all words, the last one as a prefix). Order: repositories whose
  // handle, name or description match, then those matching only in their
  // README; within each, the 250 most recently added matches ranked best
  // first (SQLite: bm25; PostgreSQL: ts_rank), then the rest most recently
  // added first (ranking every match of a common word costs ~10 us each). Every match appears once
  // over the pages. An empty query finds nothing.
  virtual SearchResult search(std::string_view query, Page page) = 0;
  // `owner` is a DID or a handle. nullopt for an unknown (or hidden)
  // repository. `viewer_did` ("" anonymous) fills viewer_starred.
  virtual std::optional<RepositoryDetail> repository(std::string_view owner, std::string_view repository,
                                                     std::string_view viewer_did = {}) = 0;
  // A DID or a handle; nullopt when unknown or hidden.
  virtual std::optional<UserInfo> user(std::string_view did_or_handle) = 0;
  virtual std::vector<RepositorySummary> user_repositories(std::string_view did, Page page) = 0;
  // The repositories `did` starred, newest star first.
  virtual std::vector<RepositorySummary> user_stars(std::string_view did, Page page) = 0;
  virtual std::optional<ProfileInfo> profile(std::string_view did) = 0;
  virtual std::optional<HoldInfo> hold(std::string_view hold_did) = 0;
  // The crews `member` belongs to, on every indexed hold.
  virtual std::vector<CrewInfo> crew_memberships(std::string_view member) = 0;
  // /v2/_catalog: "<handle or did>/<repository>" names, sorted, after
  // `last` (exclusive), at most n (1..1000).
  virtual std::vector<std::string> catalog(std::int64_t n, std::string_view last) = 0;
  // How many repositories are visible (for the catalog's total, benches).
  virtual std::int64_t repository_count() = 0;
};

}  // namespace atcr::index

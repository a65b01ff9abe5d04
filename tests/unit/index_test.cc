// index::Index: records in, what the web UI and /v2/_catalog read out. The
// unit suite runs it on SQLite; the integration suite's index_postgres runs
// the same cases on PostgreSQL (test_database.h: a fresh schema each).
#include "atcr/index/index.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "atcr/oci/digest.h"
#include "atcr_test_records.h"
#include "atcr/db/database.h"
#include "temp_dir.h"
#include "test_database.h"
#include "util/sqlite.h"

using namespace atcr;
using namespace atcr::index;

namespace {

constexpr const char* kAlice = "did:plc:alice234567abcdefghijklm";
constexpr const char* kBob = "did:plc:bob34567abcdefghijklmnop";
constexpr const char* kHold = "did:web:hold.example.com";
constexpr const char* kOtherHold = "did:web:evil.example.com";

using test::digest_of;
using test::descriptor_value;
using test::manifest_value;
using test::tag_value;

RecordChange put(const std::string& did, std::string_view collection, const std::string& rkey, Value record) {
  return RecordChange{did, std::string(collection), rkey, RecordAction::kCreate, std::move(record), ""};
}

RecordChange del(const std::string& did, std::string_view collection, const std::string& rkey) {
  return RecordChange{did, std::string(collection), rkey, RecordAction::kDelete, Value(), ""};
}

// alice/app: one manifest, tagged latest.
void push(Index& index, const std::string& did, const std::string& repository, const std::string& tag,
          const std::string& rkey, const std::string& created, const std::string& description = "") {
  REQUIRE(index.apply(put(did, "io.atcr.manifest", rkey, manifest_value(repository, did + repository + rkey, created, 1000, description))));
  REQUIRE(index.apply(put(did, "io.atcr.tag", repository + ":" + tag, tag_value(did, repository, tag, rkey, created))));
}

// A fresh, empty index on the backend under test.
std::unique_ptr<Index> fresh_index() {
  if (!test::on_postgres()) return Index::open(":memory:");
  return Index::open(test::database_url({}));
}

std::int64_t schema_version(const std::string& url) {
  return db::open(url)
      ->exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = 'index'")
      .front()
      .integer(0);
}

}  // namespace

TEST_CASE("index: migrations are numbered, applied once, and a newer schema is refused") {
  test::TempDir dir("index-migrate");
  std::string url = test::database_url(dir.path(), "index.sqlite");
  { auto index = Index::open(url); }
  CHECK(schema_version(url) == 3);
  { auto again = Index::open(url); }  // nothing left to apply
  CHECK(schema_version(url) == 3);
  db::open(url)->exec("INSERT INTO schema_migrations (component, version, applied_at) VALUES ('index', 99, 0)");
  CHECK_THROWS_AS(Index::open(url), StorageError);
}

TEST_CASE("index: a push shows in recent pushes, the repository page and the catalog") {
  auto index = fresh_index();
  index->set_identity(kAlice, "alice.test", "https://pds.example.com");
  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-12-03T07:00:00.000Z", "A tiny app");
  push(*index, kAlice, "team/tool", "v1", "3kaaaaaaaaab2", "2026-12-03T08:00:00.000Z");

  auto recent = index->recent_pushes(10);
  REQUIRE(recent.size() == 2);
  CHECK(recent[0].repository == "team/tool");
  CHECK(recent[1].repository == "app");
  CHECK(recent[1].owner.handle == "alice.test");
  CHECK(recent[1].description == "A tiny app");
  CHECK(recent[1].latest_tag == "latest");

  auto detail = index->repository("alice.test", "app");
  REQUIRE(detail);
  CHECK(detail->hold_did == kHold);
  REQUIRE(detail->tags.size() == 1);
  CHECK(detail->tags[0].tag == "latest");
  CHECK(detail->tags[0].digest == digest_of(std::string(kAlice) + "app" + "3kaaaaaaaaaa2"));
  CHECK(detail->tags[0].size == 1100);
  CHECK(detail->tags[0].created_at == "2026-12-03T07:00:00.000Z");
  CHECK(detail->annotations.at("org.opencontainers.image.description") == "A tiny app");
  CHECK(index->repository(kAlice, "app"));  // by DID too
  CHECK_FALSE(index->repository("alice.test", "nothing"));
  CHECK_FALSE(index->repository("nobody.test", "app"));

  CHECK(index->catalog(100, "") == std::vector<std::string>{"alice.test/app", "alice.test/team/tool"});
  CHECK(index->catalog(1, "") == std::vector<std::string>{"alice.test/app"});
  CHECK(index->catalog(100, "alice.test/app") == std::vector<std::string>{"alice.test/team/tool"});
  CHECK(index->repository_count() == 2);

  // Applying the same records again changes nothing.
  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-12-03T07:00:00.000Z", "A tiny app");
  CHECK(index->repository_count() == 2);
  CHECK(index->repository("alice.test", "app")->tags.size() == 1);
}

TEST_CASE("index: an image index lists its platforms and sums their sizes") {
  auto index = fresh_index();
  std::string amd = digest_of("amd"), arm = digest_of("arm"), top = digest_of("index");
  REQUIRE(index->apply(put(kAlice, "io.atcr.manifest", "3kaaaaaaaaaa2", manifest_value("multi", "amd", "2026-01-01T00:00:00Z", 500))));
  REQUIRE(index->apply(put(kAlice, "io.atcr.manifest", "3kaaaaaaaaab2", manifest_value("multi", "arm", "2026-01-01T00:00:00Z", 700))));
  auto platform = [](const char* os, const char* arch, const char* variant) {
    Value::Map p{{"os", Value(os)}, {"architecture", Value(arch)}};
    if (*variant) p.emplace("variant", Value(variant));
    return Value(std::move(p));
  };
  Value::Map child1 = descriptor_value("application/vnd.oci.image.manifest.v1+json", amd, 400).as_map();
  child1.emplace("platform", platform("linux", "amd64", ""));
  Value::Map child2 = descriptor_value("application/vnd.oci.image.manifest.v1+json", arm, 400).as_map();
  child2.emplace("platform", platform("linux", "arm64", "v8"));
  Value idx(Value::Map{{"$type", Value("io.atcr.manifest")},
                       {"repository", Value("multi")},
                       {"digest", Value(top)},
                       {"mediaType", Value("application/vnd.oci.image.index.v1+json")},
                       {"schemaVersion", Value(2)},
                       {"createdAt", Value("2026-01-02T00:00:00Z")},
                       {"holdDid", Value(kHold)},
                       {"manifests", Value(Value::Array{Value(child1), Value(child2)})}});
  REQUIRE(index->apply(put(kAlice, "io.atcr.manifest", "3kaaaaaaaaac2", idx)));
  REQUIRE(index->apply(put(kAlice, "io.atcr.tag", "multi:latest", tag_value(kAlice, "multi", "latest", "3kaaaaaaaaac2", "2026-01-02T00:00:00Z"))));
  auto detail = index->repository(kAlice, "multi");
  REQUIRE(detail);
  REQUIRE(detail->tags.size() == 1);
  const TagInfo& t = detail->tags[0];
  CHECK(t.digest == top);
  CHECK(t.size == 600 + 800);
  REQUIRE(t.platforms.size() == 2);
  CHECK(t.platforms[0].os == "linux");
  CHECK(t.platforms[0].architecture == "amd64");
  CHECK(t.platforms[1].variant == "v8");
  CHECK(t.platforms[1].digest == arm);
}

TEST_CASE("index: search by handle, repository, description and README, paginated; no query is an error") {
  auto index = fresh_index();
  index->set_identity(kAlice, "alice.test", "");
  index->set_identity(kBob, "bob.test", "");
  push(*index, kAlice, "webserver", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z", "nginx with batteries");
  push(*index, kBob, "database", "latest", "3kaaaaaaaaaa2", "2026-01-02T00:00:00Z");
  REQUIRE(index->apply(put(kBob, "io.atcr.repo.page", "database",
                           Value(Value::Map{{"repository", Value("database")},
                                            {"description", Value("# Database\n\nA postgres fork with **zebras**.")},
                                            {"createdAt", Value("2026-01-02T00:00:00Z")},
                                            {"updatedAt", Value("2026-01-02T00:00:00Z")}}))));
  for (int i = 0; i < 30; ++i)
    push(*index, kBob, "many" + std::to_string(i), "latest", "3km" + std::to_string(1000 + i), "2026-01-03T00:00:00Z", "widget");

  auto by_repo = index->search("webserver", {});
  REQUIRE(by_repo.items.size() == 1);
  CHECK(by_repo.items[0].owner.handle == "alice.test");
  CHECK(index->search("nginx", {}).total == 1);
  CHECK(index->search("ngi", {}).total == 1);  // the last word is a prefix
  auto by_readme = index->search("zebras", {});
  REQUIRE(by_readme.items.size() == 1);
  CHECK(by_readme.items[0].repository == "database");
  CHECK(by_readme.items[0].description == "Database");  // the README's first line
  CHECK(index->search("bob.test", {}).total == 31);
  CHECK(index->search("bob", {}).total == 31);

  auto first = index->search("widget", {.limit = 25, .offset = 0});
  CHECK(first.total == 30);
  CHECK(first.items.size() == 25);
  auto second = index->search("widget", {.limit = 25, .offset = 25});
  CHECK(second.items.size() == 5);
  CHECK(index->search("widget", {.limit = 0}).items.size() == 1);  // clamped to [1, 100]
  CHECK(index->search("widget", {.limit = 1000, .offset = -5}).items.size() == 30);

  // FTS5's and tsquery's syntax, quotes, backslashes, invalid UTF-8, NULs.
  for (std::string hostile : {"", "   ", "\"", "*", "NEAR(a b)", "a OR b AND NOT", "'; DROP TABLE users; --",
                              "webserver\" OR \"x", "\xff\xfe", "^col:x", "it's", "a & b | !c <-> d", "web:*",
                              "\\'x", "(", "nginx\xc3", "\xe2\x82"})
    CHECK_NOTHROW(index->search(hostile, {}));
  CHECK_NOTHROW(index->search(std::string("web\0server", 10), {}));
  CHECK(index->search("it's webserver", {}).total == 0);  // "it" and "s" are words too
  CHECK(index->search("NGINX batteries", {}).total == 1);  // any case, every word
  CHECK(index->search("batteries nginx", {}).total == 1);  // any order
  CHECK(index->search("", {}).items.empty());
  CHECK(index->search(std::string(100000, 'a'), {}).items.empty());
}

// A word thousands of repositories share: names, handles and descriptions
// that match come before README-only matches; each tier's newest matches
// are ranked (a stronger match first), the rest follow; every match once.
TEST_CASE("index: search with many matches: tiers, a ranked head, every match once over the pages") {
  auto index = fresh_index();
  index->set_identity(kBob, "bob.test", "");
  auto readme = [&](const std::string& repository, const std::string& text) {
    REQUIRE(index->apply(put(kBob, "io.atcr.repo.page", repository,
                             Value(Value::Map{{"repository", Value(repository)}, {"description", Value(text)},
                                              {"createdAt", Value("2026-01-02T00:00:00Z")},
                                              {"updatedAt", Value("2026-01-02T00:00:00Z")}}))));
  };
  auto rkey = [](int i) { return "3kg" + std::to_string(100000 + i); };
  const int kReadmeOnly = 400, kNamed = 300;
  for (int i = 0; i < kReadmeOnly; ++i) {
    push(*index, kBob, "thing" + std::to_string(i), "latest", rkey(i), "2026-01-03T00:00:00Z");
    readme("thing" + std::to_string(i), "# Thing\n\nA gizmo, not a gadget.");
  }
  for (int i = 0; i < kNamed; ++i) {
    std::string name = i == kNamed - 100 ? "gadget-gadget-gadget" : "gadget-" + std::to_string(i);
    push(*index, kBob, name, "latest", rkey(kReadmeOnly + i), "2026-01-03T00:00:00Z");
  }
  auto first = index->search("gadget", {.limit = 25, .offset = 0});
  CHECK(first.total == kReadmeOnly + kNamed);
  REQUIRE(first.items.size() == 25);
  CHECK(first.items[0].repository == "gadget-gadget-gadget");  // ranked above newer, weaker matches
  std::set<std::string> seen;
  std::vector<std::string> order;
  for (std::int64_t offset = 0; offset < first.total + 100; offset += 100) {
    auto page = index->search("gadget", {.limit = 100, .offset = offset});
    CHECK(page.total == first.total);
    for (const auto& item : page.items) {
      CHECK_MESSAGE(seen.insert(item.repository).second, item.repository << " twice");
      order.push_back(item.repository);
    }
  }
  REQUIRE(order.size() == static_cast<std::size_t>(kReadmeOnly + kNamed));
  for (int i = 0; i < kNamed; ++i) CHECK(order[i].starts_with("gadget-"));
  for (int i = kNamed; i < kNamed + kReadmeOnly; ++i) CHECK(order[i].starts_with("thing"));
  CHECK(order[kNamed] == "thing" + std::to_string(kReadmeOnly - 1));  // the newest first
  // Past the ranked head, most recently added first.
  CHECK(order[kNamed - 1] == "gadget-0");
  CHECK(order.back() == "thing0");

  // A hidden account is out of search and its counts, until active again.
  index->set_account_status(kBob, false, "takendown");
  CHECK(index->search("gadget", {}).total == 0);
  CHECK(index->search("gadget", {}).items.empty());
  index->set_account_status(kBob, true, "");
  CHECK(index->search("gadget", {}).total == kReadmeOnly + kNamed);
}

// SQLite only: an index.sqlite from before the db layer (its schema in
// PRAGMA user_version, its tables not yet named index_*) is adopted, and the
// migrations it lacks applied.
TEST_CASE("index: an index.sqlite at schema 1 is adopted; migration 2 takes hidden accounts out of search") {
  if (test::on_postgres()) return;
  test::TempDir dir("index-migrate2");
  auto path = dir / "index.sqlite";
  {
    auto index = Index::open(path);
    index->set_identity(kAlice, "alice.test", "");
    push(*index, kAlice, "webserver", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z", "nginx");
  }
  {  // as a schema-1 index left it: the account hidden, its entry still searchable
    sqlite::Database db(path.string());
    for (std::string table : {"users", "manifests", "manifest_platforms", "tags", "repo_pages", "stars", "profiles",
                              "hold_captains", "hold_crew", "hold_stats", "hold_scans", "pulls", "repositories",
                              "repo_state", "markers"})
      db.exec(("ALTER TABLE index_" + table + " RENAME TO " + table).c_str());
    db.exec("ALTER TABLE index_search RENAME TO repo_search");
    db.exec("UPDATE users SET active = 0, status = 'takendown'; PRAGMA user_version = 1; DROP TABLE schema_migrations");
    sqlite::Statement st(db, "SELECT COUNT(*) FROM repo_search");
    st.step();
    CHECK(st.column_int(0) == 1);
  }
  auto index = Index::open(path);
  CHECK(schema_version(path.string()) == 3);
  CHECK(index->search("nginx", {}).total == 0);
  index->set_account_status(kAlice, true, "");
  CHECK(index->search("nginx", {}).total == 1);
  CHECK(index->repository("alice.test", "webserver"));
}

TEST_CASE("index: stars count once per active account; the viewer's star is known") {
  auto index = fresh_index();
  index->set_identity(kAlice, "alice.test", "");
  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z");
  std::string page_uri = std::string("at://") + kAlice + "/io.atcr.repo.page/app";
  auto star = [&](const std::string& rkey) {
    return put(kBob, "io.atcr.sailor.star", rkey,
               Value(Value::Map{{"subject", Value(page_uri)}, {"createdAt", Value("2026-01-05T00:00:00Z")}}));
  };
  REQUIRE(index->apply(star("3kstar0000002")));
  // The older shape: {did, repository}.
  REQUIRE(index->apply(put(kAlice, "io.atcr.sailor.star", "3kstar0000003",
                           Value(Value::Map{{"subject", Value(Value::Map{{"did", Value(kAlice)},
                                                                         {"repository", Value("app")}})},
                                            {"createdAt", Value("2026-01-05T00:00:00Z")}}))));
  auto detail = index->repository(kAlice, "app", kBob);
  REQUIRE(detail);
  CHECK(detail->summary.star_count == 2);
  CHECK(detail->viewer_starred);
  CHECK_FALSE(index->repository(kAlice, "app", "did:plc:someoneelse234567890ab")->viewer_starred);
  CHECK(index->most_starred(10).at(0).repository == "app");
  auto stars = index->user_stars(kBob, {});
  REQUIRE(stars.size() == 1);
  CHECK(stars[0].repository == "app");

  // A star whose subject is not a repo page is refused.
  CHECK_FALSE(index->apply(put(kBob, "io.atcr.sailor.star", "3kstar0000004",
                               Value(Value::Map{{"subject", Value("at://did:plc:x/app.bsky.feed.post/1")}}))));
  // Bob deactivates: his star stops counting, and comes back with him.
  index->set_account_status(kBob, false, "deactivated");
  CHECK(index->repository(kAlice, "app")->summary.star_count == 1);
  index->set_account_status(kBob, true, "");
  CHECK(index->repository(kAlice, "app")->summary.star_count == 2);
  // Unstar.
  REQUIRE(index->apply(del(kBob, "io.atcr.sailor.star", "3kstar0000002")));
  CHECK(index->repository(kAlice, "app")->summary.star_count == 1);
}

TEST_CASE("index: a taken-down account disappears everywhere until reinstated; deleted removes its rows") {
  auto index = fresh_index();
  index->set_identity(kAlice, "alice.test", "");
  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z", "hello");
  index->set_account_status(kAlice, false, "takendown");
  CHECK(index->recent_pushes(10).empty());
  CHECK(index->search("hello", {}).total == 0);
  CHECK_FALSE(index->repository(kAlice, "app"));
  CHECK_FALSE(index->user("alice.test"));
  CHECK(index->catalog(100, "").empty());
  index->set_account_status(kAlice, true, "");
  CHECK(index->recent_pushes(10).size() == 1);
  CHECK(index->user("alice.test")->did == kAlice);
  index->set_account_status(kAlice, false, "deleted");
  index->set_account_status(kAlice, true, "");
  CHECK(index->recent_pushes(10).empty());  // the rows went with the deletion
}

TEST_CASE("index: a deleted tag disappears; a repository without manifests or tags is gone") {
  auto index = fresh_index();
  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z");
  push(*index, kAlice, "app", "v2", "3kaaaaaaaaab2", "2026-01-02T00:00:00Z");
  CHECK(index->repository(kAlice, "app")->tags.size() == 2);
  REQUIRE(index->apply(del(kAlice, "io.atcr.tag", "app:v2")));
  auto detail = index->repository(kAlice, "app");
  REQUIRE(detail->tags.size() == 1);
  CHECK(detail->tags[0].tag == "latest");
  CHECK(detail->summary.latest_tag == "latest");
  for (const char* rkey : {"3kaaaaaaaaaa2", "3kaaaaaaaaab2"}) REQUIRE(index->apply(del(kAlice, "io.atcr.manifest", rkey)));
  CHECK(index->repository(kAlice, "app"));  // the tag still names it
  REQUIRE(index->repository(kAlice, "app")->tags.at(0).digest.empty());
  REQUIRE(index->apply(del(kAlice, "io.atcr.tag", "app:latest")));
  CHECK_FALSE(index->repository(kAlice, "app"));
  CHECK(index->catalog(10, "").empty());
  CHECK(index->apply(del(kAlice, "io.atcr.tag", "never:was")));  // deleting nothing is fine
}

TEST_CASE("index: hostile records are refused and replace what was there; unknown collections are ignored") {
  auto index = fresh_index();
  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z");
  Value bad = manifest_value("../../etc", "x", "2026-01-01T00:00:00Z", 1);
  CHECK_FALSE(index->apply(put(kAlice, "io.atcr.manifest", "3kaaaaaaaaaa2", bad)));
  CHECK(index->repository(kAlice, "app")->tags.at(0).digest.empty());  // the old version went
  CHECK_FALSE(index->apply(put(kAlice, "io.atcr.manifest", "3kbbbbbbbbbb2", Value(Value::Map{{"repository", Value(5)}}))));
  CHECK_FALSE(index->apply(put(kAlice, "io.atcr.tag", "x:y", Value("not a map"))));
  CHECK_FALSE(index->apply(put(kAlice, "io.atcr.sailor.profile", "notself", Value(Value::Map{}))));
  CHECK_FALSE(index->apply(put(kAlice, "io.atcr.hold.scan", "not-a-digest", Value(Value::Map{}))));
  CHECK_FALSE(index->apply(put(kAlice, "app.bsky.feed.post", "3kaaaaaaaaaa2", Value(Value::Map{}))));
  CHECK_FALSE(is_indexed_collection("app.bsky.feed.post"));
  CHECK(is_indexed_collection("io.atcr.tag"));
}

TEST_CASE("index: pull counts, hold stats and scans count only from the repository's own hold") {
  auto index = fresh_index();
  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z");
  for (int i = 0; i < 3; ++i) index->count_pull(kAlice, "app");
  CHECK(index->repository(kAlice, "app")->summary.pull_count == 3);
  auto stats = [&](const char* hold, std::int64_t pulls) {
    return put(hold, "io.atcr.hold.stats", "statsrkey",
               Value(Value::Map{{"ownerDid", Value(kAlice)},
                                {"repository", Value("app")},
                                {"pullCount", Value(pulls)},
                                {"pushCount", Value(1)},
                                {"updatedAt", Value("2026-01-01T00:00:00Z")}}));
  };
  REQUIRE(index->apply(stats(kOtherHold, 1000000)));
  CHECK(index->repository(kAlice, "app")->summary.pull_count == 3);
  REQUIRE(index->apply(stats(kHold, 10)));
  CHECK(index->repository(kAlice, "app")->summary.pull_count == 10);

  std::string digest = digest_of(std::string(kAlice) + "app" + "3kaaaaaaaaaa2");
  auto scan = [&](const char* hold, std::int64_t critical) {
    return put(hold, "io.atcr.hold.scan", digest.substr(7),
               Value(Value::Map{{"userDid", Value(kAlice)},
                                {"repository", Value("app")},
                                {"status", Value("ok")},
                                {"critical", Value(critical)},
                                {"total", Value(critical)},
                                {"scannedAt", Value("2026-01-01T01:00:00Z")}}));
  };
  REQUIRE(index->apply(scan(kOtherHold, 99)));
  CHECK_FALSE(index->repository(kAlice, "app")->latest_scan);
  REQUIRE(index->apply(scan(kHold, 2)));
  auto detail = index->repository(kAlice, "app");
  REQUIRE(detail->latest_scan);
  CHECK(detail->latest_scan->critical == 2);
  CHECK(detail->latest_scan->status == "ok");
  REQUIRE(detail->tags.at(0).scan);
  CHECK(detail->tags.at(0).scan->digest == digest);
}

TEST_CASE("index: profiles, holds and crews; identity changes reach search and the catalog") {
  auto index = fresh_index();
  REQUIRE(index->apply(put(kAlice, "io.atcr.sailor.profile", "self",
                           Value(Value::Map{{"defaultHold", Value(kHold)},
                                            {"ociClient", Value("podman")},
                                            {"createdAt", Value("2026-01-01T00:00:00Z")}}))));
  CHECK(index->profile(kAlice)->default_hold == kHold);
  CHECK(index->profile(kAlice)->oci_client == "podman");
  REQUIRE(index->apply(put(kHold, "io.atcr.hold.captain", "self",
                           Value(Value::Map{{"owner", Value(kBob)},
                                            {"public", Value(true)},
                                            {"allowAllCrew", Value(false)},
                                            {"enableBlueskyPosts", Value(false)},
                                            {"deployedAt", Value("2026-01-01T00:00:00Z")}}))));
  CHECK(index->hold(kHold)->owner == kBob);
  CHECK(index->hold(kHold)->public_);
  REQUIRE(index->apply(put(kHold, "io.atcr.hold.crew", kAlice,
                           Value(Value::Map{{"member", Value(kAlice)},
                                            {"role", Value("write")},
                                            {"permissions", Value(Value::Array{Value("blob:read"), Value("blob:write")})},
                                            {"addedAt", Value("2026-01-01T00:00:00Z")}}))));
  auto crews = index->crew_memberships(kAlice);
  REQUIRE(crews.size() == 1);
  CHECK(crews[0].hold_did == kHold);
  CHECK(crews[0].permissions == std::vector<std::string>{"blob:read", "blob:write"});

  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z");
  CHECK(index->catalog(10, "") == std::vector<std::string>{std::string(kAlice) + "/app"});
  index->set_identity(kAlice, "alice.test", "https://pds.example.com");
  CHECK(index->catalog(10, "") == std::vector<std::string>{"alice.test/app"});
  CHECK(index->search("alice", {}).total == 1);
  index->set_identity(kAlice, "alice2.test", "");
  CHECK(index->search("alice2", {}).total == 1);
  CHECK(index->user(kAlice)->pds == "https://pds.example.com");  // "" kept it
  // Confirmed unchanged (every push does): search stays as it was.
  index->set_identity(kAlice, "alice2.test", "https://pds.example.com");
  CHECK(index->search("alice2", {}).total == 1);
  // The handle moves to Bob: Alice no longer has it, nor do her search rows.
  index->set_identity(kBob, "alice2.test", "");
  CHECK(index->user("alice2.test")->did == kBob);
  CHECK(index->user(kAlice)->handle.empty());
  CHECK(index->search("alice2", {}).total == 0);
  CHECK(index->search("app", {}).total == 1);
}

// Two AppView instances on one database (PostgreSQL when scaled out): what
// one writes the other reads, and their pull counts add up.
TEST_CASE("index: two instances on one database share records, pull counts and cursors") {
  test::TempDir dir("index-shared");
  std::string url = test::database_url(dir.path(), "shared.sqlite");
  auto a = Index::open(url);
  auto b = Index::open(url);
  a->set_identity(kAlice, "alice.test", "");
  push(*a, kAlice, "shared", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z", "seen everywhere");
  CHECK(b->search("everywhere", {}).total == 1);
  CHECK(b->catalog(10, "") == std::vector<std::string>{"alice.test/shared"});
  for (int i = 0; i < 3; ++i) a->count_pull(kAlice, "shared");
  for (int i = 0; i < 4; ++i) b->count_pull(kAlice, "shared");
  CHECK(a->repository(kAlice, "shared")->summary.pull_count == 7);
  a->set_cursor("wss://relay.example", 1234);
  CHECK(b->cursor("wss://relay.example") == 1234);
}

TEST_CASE("index: whether a tag record exists, once the index follows the repo") {
  auto index = fresh_index();
  push(*index, kAlice, "app", "latest", "3kaaaaaaaaaa2", "2026-01-01T00:00:00Z");
  CHECK_FALSE(index->has_tag_record(kAlice, "app:latest"));  // no verified commit: cannot say
  index->set_repo_state(kAlice, {"3kaaaaaaaaaa3", "bafycommit", "bafydata"});
  CHECK(index->has_tag_record(kAlice, "app:latest") == true);
  CHECK(index->has_tag_record(kAlice, "app:other") == false);
  CHECK_FALSE(index->has_tag_record(kBob, "app:latest"));
  REQUIRE(index->apply(del(kAlice, "io.atcr.tag", "app:latest")));
  CHECK(index->has_tag_record(kAlice, "app:latest") == false);
}

TEST_CASE("index: cursors, markers and repo state persist") {
  test::TempDir dir("index-state");
  std::string url = test::database_url(dir.path(), "i.sqlite");
  {
    auto index = Index::open(url);
    index->set_cursor("ws://a", 42);
    index->set_marker("backfill", "did:plc:x");
    index->set_repo_state(kAlice, {"3kaaaaaaaaaa2", "bafycommit", "bafydata"});
  }
  auto index = Index::open(url);
  CHECK(index->cursor("ws://a") == 42);
  CHECK_FALSE(index->cursor("ws://b"));
  CHECK(index->marker("backfill") == "did:plc:x");
  CHECK(index->repo_state(kAlice)->data_cid == "bafydata");
  index->remove_repo(kAlice);
  CHECK_FALSE(index->repo_state(kAlice));
}

// The db layer against both backends: every case runs on a SQLite file and,
// when ATCR_TEST_DATABASE_URL names one (tests/integration/with-postgres.sh
// starts it), on a real PostgreSQL server.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "atcr/db/database.h"
#include "temp_dir.h"

using namespace atcr;

namespace {

// One backend: opens "the same database" again each call, as a second
// process would.
struct Backend {
  std::string name;
  std::string url;
  std::unique_ptr<db::Database> open(std::size_t max_connections = 16) const {
    return db::open(url, {.max_connections = max_connections});
  }
};

std::vector<Backend> backends(const test::TempDir& dir) {
  std::vector<Backend> out{{"sqlite", (dir / "db.sqlite").string()}};
  if (const char* url = std::getenv("ATCR_TEST_DATABASE_URL"); url && *url) out.push_back({"postgres", url});
  return out;
}

// Table names of their own per run (a PostgreSQL server outlives runs).
std::string unique(std::string_view stem) {
  static std::atomic<int> n{0};
  return std::string(stem) + "_" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

}  // namespace

TEST_CASE("db: parameters and rows round-trip: integers, text, bytes with NULs, NULL") {
  test::TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto db = b.open();
    std::string t = unique("vals");
    db->script("CREATE TABLE " + t + " (k TEXT PRIMARY KEY, n BIGINT, s TEXT, b " +
               (db->backend() == db::Backend::kPostgres ? "BYTEA" : "BLOB") + ")");
    Bytes blob{0, 1, 2, 0, 255};
    CHECK(db->exec("INSERT INTO " + t + " (k, n, s, b) VALUES (?, ?, ?, ?)",
                   {"a", std::int64_t{1} << 40, "it's ? not a param", blob})
              .affected == 1);
    db->exec("INSERT INTO " + t + " (k, n, s, b) VALUES (?, ?, ?, ?)", {"b", -7, "", db::Param()});
    auto r = db->exec("SELECT k, n, s, b FROM " + t + " WHERE s <> '?' ORDER BY k");
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0].text(0) == "a");
    CHECK(r.rows[0].integer(1) == (std::int64_t{1} << 40));
    CHECK(r.rows[0].text(2) == "it's ? not a param");
    CHECK(r.rows[0].bytes(3) == blob);
    CHECK(r.rows[1].integer(1) == -7);
    CHECK(r.rows[1].is_null(3));
    CHECK(r.rows[1].text(3).empty());
    // Upserts in the shared dialect; affected rows counted.
    db->exec("INSERT INTO " + t + " (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET n = excluded.n", {"a", 5});
    CHECK(db->exec("SELECT n FROM " + t + " WHERE k = ?", {"a"}).front().integer(0) == 5);
    CHECK(db->exec("DELETE FROM " + t + " WHERE n < ?", {100}).affected == 2);
    // Mistakes are StorageErrors naming the SQL, not crashes.
    CHECK_THROWS_AS(db->exec("SELECT nope FROM " + t), StorageError);
    CHECK_THROWS_AS(db->exec("SELECT n FROM " + t + " WHERE k = ?", {}), StorageError);
    // A text column read as an integer.
    db->exec("INSERT INTO " + t + " (k, s) VALUES ('c', 'x')");
    CHECK_THROWS_AS(db->exec("SELECT s FROM " + t + " WHERE k = 'c'").front().integer(0), StorageError);
  }
}

TEST_CASE("db: a transaction commits when its body returns and rolls back when it throws") {
  test::TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto db = b.open();
    std::string t = unique("tx");
    db->script("CREATE TABLE " + t + " (k TEXT PRIMARY KEY)");
    db->transaction([&](db::Executor& tx) { tx.exec("INSERT INTO " + t + " VALUES (?)", {"kept"}); });
    CHECK_THROWS_AS(db->transaction([&](db::Executor& tx) {
      tx.exec("INSERT INTO " + t + " VALUES (?)", {"lost"});
      tx.exec("INSERT INTO " + t + " VALUES (?)", {"kept"});  // unique violation
    }),
                    StorageError);
    auto r = db->exec("SELECT k FROM " + t);
    REQUIRE(r.rows.size() == 1);
    CHECK(r.front().text(0) == "kept");
    // The connection that rolled back is usable again.
    CHECK(db->exec("SELECT COUNT(*) FROM " + t).front().integer(0) == 1);
  }
}

TEST_CASE("db: a statement used again after it failed, after a schema change, and past the cache's size") {
  test::TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto db = b.open();
    std::string t = unique("again");
    db->script("CREATE TABLE " + t + " (k TEXT PRIMARY KEY, n BIGINT)");
    const std::string insert = "INSERT INTO " + t + " (k, n) VALUES (?, ?)";
    db->exec(insert, {"a", 1});
    CHECK_THROWS_AS(db->exec(insert, {"a", 2}), StorageError);  // unique violation mid-step
    CHECK_THROWS_AS(db->exec(insert, {"only one"}), StorageError);  // too few parameters
    db->exec(insert, {"b", 2});  // the same text works again, bound afresh
    const std::string select = "SELECT k, n FROM " + t + " ORDER BY k";
    CHECK(db->exec(select).rows.size() == 2);
    // A statement that stopped after its first row must not keep the table
    // locked: a write and a schema change follow.
    CHECK(db->exec("SELECT k FROM " + t + " WHERE n > ?", {0}).rows.size() == 2);
    db->script("ALTER TABLE " + t + " ADD COLUMN note TEXT");
    db->exec(insert, {"c", 3});
    REQUIRE(db->exec(select).rows.size() == 3);
    CHECK(db->exec(select).rows[2].text(0) == "c");
    for (int i = 0; i < 600; ++i) db->exec("SELECT " + std::to_string(i) + " FROM " + t + " WHERE k = ?", {"a"});
    CHECK(db->exec(select).rows.size() == 3);
  }
}

TEST_CASE("db: migrations apply once, in order, also when several processes start at once") {
  test::TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    std::string t = unique("mig");
    std::string create = "CREATE TABLE " + t + " (k TEXT PRIMARY KEY, v BIGINT NOT NULL DEFAULT 0)";
    std::string seed = "INSERT INTO " + t + " (k) VALUES ('one')";
    std::string add = "ALTER TABLE " + t + " ADD COLUMN w TEXT NOT NULL DEFAULT 'w'";
    std::vector<db::Migration> v1{{1, create.c_str()}, {2, seed.c_str()}};
    std::vector<db::Migration> v2{v1[0], v1[1], {3, add.c_str()}};
    // Four "instances" starting together: each migration runs exactly once
    // (a second run would fail: the table exists, the key is taken).
    std::vector<std::thread> starts;
    std::atomic<int> failures{0};
    for (int i = 0; i < 4; ++i)
      starts.emplace_back([&] {
        try {
          b.open(2)->migrate(t, v1);
        } catch (const Error& e) {
          MESSAGE(e.what());
          ++failures;
        }
      });
    for (auto& s : starts) s.join();
    CHECK(failures == 0);
    auto db = b.open();
    CHECK(db->exec("SELECT COUNT(*) FROM " + t).front().integer(0) == 1);
    db->migrate(t, v2);  // a newer release: only version 3 runs
    db->migrate(t, v2);
    CHECK(db->exec("SELECT w FROM " + t).front().text(0) == "w");
    CHECK(db->exec("SELECT MAX(version) FROM schema_migrations WHERE component = ?", {t}).front().integer(0) == 3);
  }
}

TEST_CASE("db: leader election: one holder at a time, taken over when the holder goes") {
  test::TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto a = b.open(), c = b.open();
    std::string name = unique("leader");
    auto first = a->try_lead(name);
    REQUIRE(first);
    CHECK(first->held());
    if (!a->shared()) continue;  // one process owns a SQLite file: it always leads
    CHECK_FALSE(c->try_lead(name));
    CHECK(c->try_lead(name + "-other"));  // other names are independent
    first.reset();                        // the holder's session ends
    auto second = c->try_lead(name);
    REQUIRE(second);
    CHECK(second->held());
    CHECK_FALSE(a->try_lead(name));
  }
}

TEST_CASE("db: many threads share a small pool") {
  test::TempDir dir;
  for (const Backend& b : backends(dir)) {
    CAPTURE(b.name);
    auto db = b.open(3);
    std::string t = unique("pool");
    db->script("CREATE TABLE " + t + " (k BIGINT PRIMARY KEY)");
    std::vector<std::thread> threads;
    std::atomic<int> errors{0};
    for (int i = 0; i < 12; ++i)
      threads.emplace_back([&, i] {
        try {
          for (int j = 0; j < 20; ++j) db->exec("INSERT INTO " + t + " (k) VALUES (?)", {i * 100 + j});
        } catch (const Error& e) {
          MESSAGE(e.what());
          ++errors;
        }
      });
    for (auto& th : threads) th.join();
    CHECK(errors == 0);
    CHECK(db->exec("SELECT COUNT(*) FROM " + t).front().integer(0) == 240);
  }
}

TEST_CASE("db: URLs") {
  CHECK(db::is_postgres_url("postgres://u@h/d"));
  CHECK(db::is_postgres_url("postgresql://u@h/d"));
  CHECK_FALSE(db::is_postgres_url("/var/lib/atcr/appview.sqlite"));
  CHECK(db::redact_url("postgres://atcr:s3cret@db:5432/atcr") == "postgres://atcr:***@db:5432/atcr");
  CHECK(db::redact_url("postgres://atcr@db/atcr") == "postgres://atcr@db/atcr");
  CHECK_THROWS_AS(db::open("postgres://nobody@127.0.0.1:1/none", {.connect_timeout = std::chrono::seconds(2)}),
                  StorageError);
}

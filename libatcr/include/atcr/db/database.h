// One SQL database behind one interface, with two backends: an embedded
// SQLite file (the default: one process owns it) and a PostgreSQL server
// (several processes share it: the AppView scaled out behind a load
// balancer).
//
//   auto db = db::open("/var/lib/atcr-appview/appview.sqlite");   // SQLite
//   auto db = db::open("postgres://atcr@db.internal/atcr");       // PostgreSQL
//   db->migrate("sessions", kMigrations);      // numbered, applied once
//   db->exec("INSERT INTO t (a, b) VALUES (?, ?)", {"x", 42});
//   for (const db::Row& r : db->exec("SELECT a, b FROM t").rows) r.text(0);
//   db->transaction([](db::Executor& tx) { tx.exec(...); tx.exec(...); });
//
// SQL is written once, in the dialect both accept: `?` placeholders (the
// PostgreSQL backend numbers them $1, $2, ...), INSERT ... ON CONFLICT ...
// DO UPDATE SET x = excluded.x, double-quoted identifiers for words that
// PostgreSQL reserves ("offset", "interval"). Where the dialects differ
// (column types such as an auto-increment id), a Migration carries a
// PostgreSQL text of its own.
//
// Values: integers (64-bit), text, bytes (BLOB / BYTEA) and NULL. Rows read
// back by column index; integer() of a NULL is 0, text() of a NULL is "".
//
// Threads: a Database is safe to share. The SQLite backend serialises on
// one connection; the PostgreSQL backend keeps a pool (connections made as
// needed, up to `max_connections`), one connection per call or transaction.
// Errors: atcr::StorageError carrying the server's message and the SQL.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/error.h"

namespace atcr::db {

enum class Backend { kSqlite, kPostgres };

// A bound parameter: an integer, text, bytes or NULL.
class Param {
 public:
  enum class Kind { kNull, kInteger, kText, kBytes };
  Param() = default;  // NULL
  Param(std::nullptr_t) {}
  Param(std::int64_t v) : kind_(Kind::kInteger), integer_(v) {}
  Param(int v) : Param(static_cast<std::int64_t>(v)) {}
  Param(std::uint64_t v) : Param(static_cast<std::int64_t>(v)) {}
  Param(bool v) : Param(static_cast<std::int64_t>(v ? 1 : 0)) {}
  Param(std::string v) : kind_(Kind::kText), text_(std::move(v)) {}
  Param(std::string_view v) : Param(std::string(v)) {}
  Param(const char* v) : Param(std::string(v)) {}
  Param(BytesView v) : kind_(Kind::kBytes), text_(to_string(v)) {}
  Param(const Bytes& v) : Param(BytesView(v)) {}

  Kind kind() const { return kind_; }
  std::int64_t integer() const { return integer_; }
  // Text, or the raw bytes of kBytes.
  const std::string& text() const { return text_; }

 private:
  Kind kind_ = Kind::kNull;
  std::int64_t integer_ = 0;
  std::string text_;
};

// One row of a result.
class Row {
 public:
  explicit Row(std::vector<std::optional<std::string>> values) : values_(std::move(values)) {}
  std::size_t size() const { return values_.size(); }
  bool is_null(std::size_t i) const { return !values_.at(i); }
  // The integer in column i (a PostgreSQL boolean reads as 0/1). Throws
  // StorageError if the column holds something else.
  std::int64_t integer(std::size_t i) const;
  // Text, or the raw bytes of a BLOB / BYTEA column.
  const std::string& text(std::size_t i) const;
  Bytes bytes(std::size_t i) const { return to_bytes(text(i)); }

 private:
  std::vector<std::optional<std::string>> values_;
};

struct Result {
  std::vector<Row> rows;
  std::int64_t affected = 0;  // rows an INSERT / UPDATE / DELETE changed
  bool empty() const { return rows.empty(); }
  const Row& front() const { return rows.front(); }
};

// Where statements run: the database (each call on its own, autocommitted)
// or a transaction.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual Backend backend() const = 0;
  virtual Result exec(std::string_view sql, std::span<const Param> params) = 0;
  // Statements without parameters or results (schema changes), several
  // separated by ';'.
  virtual void script(std::string_view sql) = 0;
  Result exec(std::string_view sql, std::initializer_list<Param> params = {}) {
    return exec(sql, std::span<const Param>(params.begin(), params.size()));
  }
  Result exec(std::string_view sql, const std::vector<Param>& params) {
    return exec(sql, std::span<const Param>(params));
  }
};

// A schema change: `version` (1, 2, ...: a released one is never edited, a
// change is a new one), its SQL (one or more statements), and, where the
// dialects differ, PostgreSQL's text (nullptr: the same SQL).
struct Migration {
  int version;
  const char* sql;
  const char* postgres_sql = nullptr;
};

// A lock only one process holds at a time (leader election): see
// Database::try_lead.
class Leadership {
 public:
  virtual ~Leadership() = default;
  // False once the lock is known lost (the database connection broke):
  // stop leading. Checks the connection (a round trip on PostgreSQL).
  virtual bool held() = 0;
};

class Database : public Executor {
 public:
  // Runs `body` in one transaction: committed when it returns, rolled back
  // when it throws (the exception propagates). SQLite: BEGIN IMMEDIATE.
  virtual void transaction(const std::function<void(Executor&)>& body) = 0;

  // Brings `component`'s schema to the newest of `migrations` (ascending
  // versions), in one transaction, each version applied recorded
  // in schema_migrations. Safe when several processes start at once: on
  // PostgreSQL an advisory lock serialises them, on SQLite the write lock.
  void migrate(std::string_view component, std::span<const Migration> migrations);

  // Leader election: the lock `name` if no other process holds it now,
  // else nullptr. PostgreSQL: a session-level advisory lock on a connection
  // of its own, released when the Leadership is destroyed or the process
  // (or its connection) dies, so another process can take over. SQLite
  // (one process owns the file): always granted.
  virtual std::unique_ptr<Leadership> try_lead(std::string_view name) = 0;

  // Whether several processes may share this database (PostgreSQL).
  bool shared() const { return backend() == Backend::kPostgres; }
};

struct OpenOptions {
  std::size_t max_connections = 16;  // PostgreSQL's pool
  std::chrono::seconds connect_timeout{10};
};

// A postgres:// or postgresql:// URL opens PostgreSQL (libpq's connection
// URI); anything else is a SQLite file path (created if missing, WAL
// journal). Throws StorageError if it cannot connect or open.
std::unique_ptr<Database> open(const std::string& url_or_path, const OpenOptions& options = {});

// Whether `url` names a PostgreSQL database.
bool is_postgres_url(std::string_view url);

// A URL with its password replaced by "***" (for logs and errors).
std::string redact_url(std::string_view url);

}  // namespace atcr::db

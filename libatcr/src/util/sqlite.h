// Internal: a thin RAII layer over SQLite's C API, so callers write
// statements and bindings, not resource management. Errors become
// atcr::StorageError carrying SQLite's message and the statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/error.h"

namespace atcr::sqlite {

class Database {
 public:
  explicit Database(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements with no results (schema, pragmas).
  void exec(const char* sql);
  sqlite3* handle() const { return db_; }
  [[noreturn]] void fail(const std::string& context) const;

 private:
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(Database& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds are 1-based, like SQLite's.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, BytesView blob);

  // Advances to the next row: true while a row is available.
  bool step();
  // Runs a statement that returns no rows.
  void run();
  // Clears bindings and rewinds, ready for reuse.
  void reset();

  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;
  Bytes column_blob(int index) const;
  BytesView column_blob_view(int index) const;  // valid until the next step/reset
  bool column_is_null(int index) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
  const char* sql_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back on scope exit unless committed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace atcr::sqlite

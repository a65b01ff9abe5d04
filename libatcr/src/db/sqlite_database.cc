// The SQLite backend: one connection (WAL journal) behind a mutex.
#include <fmt/core.h>

#include <mutex>
#include <string>

#include "db/backends.h"
#include "util/sqlite.h"

namespace atcr::db {

namespace {

// Statements on the connection; the caller holds the mutex.
class SqliteExecutor : public Executor {
 public:
  explicit SqliteExecutor(sqlite::Database& db) : db_(db) {}
  Backend backend() const override { return Backend::kSqlite; }

  Result exec(std::string_view sql, std::span<const Param> params) override {
    std::string text(sql);
    sqlite::Statement st(db_, text.c_str());
    // As PostgreSQL does: a parameter left out is a mistake, not a NULL.
    if (sqlite3_bind_parameter_count(st.handle()) != static_cast<int>(params.size()))
      throw StorageError(fmt::format("sqlite: {} parameters for {} placeholders in: {}", params.size(),
                                     sqlite3_bind_parameter_count(st.handle()), text.substr(0, 200)));
    for (std::size_t i = 0; i < params.size(); ++i) {
      int n = static_cast<int>(i) + 1;
      const Param& p = params[i];
      switch (p.kind()) {
        case Param::Kind::kNull: sqlite3_bind_null(st_handle(st), n); break;
        case Param::Kind::kInteger: st.bind(n, p.integer()); break;
        case Param::Kind::kText: st.bind(n, std::string_view(p.text())); break;
        case Param::Kind::kBytes: st.bind_blob(n, as_bytes(p.text())); break;
      }
    }
    Result r;
    while (st.step()) {
      int columns = sqlite3_column_count(st_handle(st));
      std::vector<std::optional<std::string>> values;
      values.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        if (st.column_is_null(c)) {
          values.emplace_back();
        } else if (sqlite3_column_type(st_handle(st), c) == SQLITE_BLOB) {
          values.emplace_back(to_string(st.column_blob_view(c)));
        } else {
          values.emplace_back(st.column_text(c));
        }
      }
      r.rows.emplace_back(std::move(values));
    }
    r.affected = sqlite3_changes(db_.handle());
    return r;
  }

  void script(std::string_view sql) override { db_.exec(std::string(sql).c_str()); }

 private:
  static sqlite3_stmt* st_handle(sqlite::Statement& st) { return st.handle(); }
  sqlite::Database& db_;
};

class SqliteDatabase : public Database {
 public:
  explicit SqliteDatabase(const std::string& path) : db_(path), exec_(db_) {
    db_.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
  }
  Backend backend() const override { return Backend::kSqlite; }

  Result exec(std::string_view sql, std::span<const Param> params) override {
    std::lock_guard lock(mu_);
    return exec_.exec(sql, params);
  }

  void script(std::string_view sql) override {
    std::lock_guard lock(mu_);
    exec_.script(sql);
  }

  void transaction(const std::function<void(Executor&)>& body) override {
    std::lock_guard lock(mu_);
    sqlite::Transaction tx(db_);
    body(exec_);
    tx.commit();
  }

  std::unique_ptr<Leadership> try_lead(std::string_view) override {
    // One process owns a SQLite file: it leads.
    struct Always : Leadership {
      bool held() override { return true; }
    };
    return std::make_unique<Always>();
  }

 private:
  std::mutex mu_;
  sqlite::Database db_;
  SqliteExecutor exec_;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string& path) { return std::make_unique<SqliteDatabase>(path); }

}  // namespace atcr::db

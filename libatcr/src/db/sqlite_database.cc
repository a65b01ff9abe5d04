// The SQLite backend: one connection (WAL journal) behind a mutex.
#include <fmt/core.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

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
    sqlite3_stmt* raw = statement(text);
    // Reset for its next use, however this one ends (a step that failed
    // or threw would otherwise keep its read transaction open).
    struct Reset {
      sqlite3_stmt* st;
      ~Reset() {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
      }
    } reset{raw};
    // As PostgreSQL does: a parameter left out is a mistake, not a NULL.
    if (sqlite3_bind_parameter_count(raw) != static_cast<int>(params.size()))
      throw StorageError(fmt::format("sqlite: {} parameters for {} placeholders in: {}", params.size(),
                                     sqlite3_bind_parameter_count(raw), text.substr(0, 200)));
    for (std::size_t i = 0; i < params.size(); ++i) {
      int n = static_cast<int>(i) + 1;
      const Param& p = params[i];
      int rc = SQLITE_OK;
      switch (p.kind()) {
        case Param::Kind::kNull: rc = sqlite3_bind_null(raw, n); break;
        case Param::Kind::kInteger: rc = sqlite3_bind_int64(raw, n, p.integer()); break;
        case Param::Kind::kText:
          rc = sqlite3_bind_text(raw, n, p.text().data(), static_cast<int>(p.text().size()), SQLITE_STATIC);
          break;
        case Param::Kind::kBytes:
          // A zero-length blob still binds as a blob, not NULL.
          rc = sqlite3_bind_blob(raw, n, p.text().empty() ? "" : p.text().data(), static_cast<int>(p.text().size()),
                                 SQLITE_STATIC);
          break;
      }
      if (rc != SQLITE_OK) db_.fail("bind in " + text.substr(0, 200));
    }
    Result r;
    for (;;) {
      int rc = sqlite3_step(raw);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) db_.fail("step \"" + text.substr(0, 200) + "\"");
      int columns = sqlite3_column_count(raw);
      std::vector<std::optional<std::string>> values;
      values.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        int type = sqlite3_column_type(raw, c);
        if (type == SQLITE_NULL) {
          values.emplace_back();
        } else {
          const void* p = type == SQLITE_BLOB ? sqlite3_column_blob(raw, c)
                                              : static_cast<const void*>(sqlite3_column_text(raw, c));
          auto n = static_cast<std::size_t>(sqlite3_column_bytes(raw, c));
          values.emplace_back(p ? std::string(static_cast<const char*>(p), n) : std::string());
        }
      }
      r.rows.emplace_back(std::move(values));
    }
    r.affected = sqlite3_changes(db_.handle());
    return r;
  }

  void script(std::string_view sql) override { db_.exec(std::string(sql).c_str()); }

 private:
  using Statement = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;
  // Statements are kept prepared, by their text: parsing was a third of
  // the AppView's SQLite time on the push path. The texts are the code's
  // own (values are bound), so few; past kMaxCached (generated column
  // lists, say) the cache starts over rather than grow.
  static constexpr std::size_t kMaxCached = 512;

  sqlite3_stmt* statement(const std::string& text) {
    if (auto it = cached_.find(text); it != cached_.end()) return it->second.get();
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_.handle(), text.c_str(), static_cast<int>(text.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                           nullptr) != SQLITE_OK)
      db_.fail("prepare \"" + text.substr(0, 200) + "\"");
    Statement st(raw, &sqlite3_finalize);
    if (cached_.size() >= kMaxCached) cached_.clear();
    return cached_.emplace(text, std::move(st)).first->second.get();
  }

  sqlite::Database& db_;
  std::unordered_map<std::string, Statement> cached_;
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

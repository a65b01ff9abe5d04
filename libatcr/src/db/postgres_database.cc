// The PostgreSQL backend (libpq): a pool of connections, `?` placeholders
// numbered $1.., bytes sent binary, results read as text (BYTEA decoded).
#include <fmt/core.h>
#include <libpq-fe.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "atcr/encoding/hex.h"
#include "db/backends.h"

namespace atcr::db {

namespace {

constexpr Oid kByteaOid = 17;

// `?` outside quotes becomes $1, $2, ...
std::string number_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += fmt::format("${}", ++n);
    } else {
      out += c;
    }
  }
  return out;
}

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

[[noreturn]] void fail(PGconn* conn, const PGresult* res, std::string_view sql) {
  std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  throw StorageError(fmt::format("postgres: {} in: {}", msg, sql.substr(0, 200)));
}

// A BYTEA column in text form: "\x" and hex.
std::string decode_bytea(const char* value, int length) {
  std::string_view v(value, static_cast<std::size_t>(length));
  if (!v.starts_with("\\x")) throw StorageError("postgres: a bytea value not in hex form");
  return to_string(hex::decode(v.substr(2)));
}

Result run(PGconn* conn, std::string_view sql, std::span<const Param> params) {
  std::string text = number_placeholders(sql);
  std::vector<std::string> ints;
  ints.reserve(params.size());
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    switch (p.kind()) {
      case Param::Kind::kNull: values[i] = nullptr; break;
      case Param::Kind::kInteger:
        ints.push_back(std::to_string(p.integer()));
        values[i] = ints.back().c_str();
        break;
      case Param::Kind::kText: values[i] = p.text().c_str(); break;
      case Param::Kind::kBytes:
        values[i] = p.text().data();
        lengths[i] = static_cast<int>(p.text().size());
        formats[i] = 1;
        break;
    }
  }
  ResultPtr res(PQexecParams(conn, text.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                             lengths.data(), formats.data(), 0),
                &PQclear);
  ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) fail(conn, res.get(), sql);
  Result r;
  int rows = PQntuples(res.get()), columns = PQnfields(res.get());
  r.rows.reserve(static_cast<std::size_t>(rows));
  for (int row = 0; row < rows; ++row) {
    std::vector<std::optional<std::string>> out;
    out.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(res.get(), row, c)) {
        out.emplace_back();
      } else if (PQftype(res.get(), c) == kByteaOid) {
        out.emplace_back(decode_bytea(PQgetvalue(res.get(), row, c), PQgetlength(res.get(), row, c)));
      } else {
        out.emplace_back(std::string(PQgetvalue(res.get(), row, c), static_cast<std::size_t>(PQgetlength(res.get(), row, c))));
      }
    }
    r.rows.emplace_back(std::move(out));
  }
  const char* affected = PQcmdTuples(res.get());
  if (affected && *affected) r.affected = std::stoll(affected);
  return r;
}

void run_script(PGconn* conn, std::string_view sql) {
  std::string text(sql);
  ResultPtr res(PQexec(conn, text.c_str()), &PQclear);
  ExecStatusType status = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) fail(conn, res.get(), sql);
}

PGconn* connect(const std::string& url, const OpenOptions& options) {
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  std::string timeout = std::to_string(options.connect_timeout.count());
  const char* values[] = {url.c_str(), timeout.c_str(), "atcr", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);  // dbname expands the URL
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    std::string msg = conn ? PQerrorMessage(conn) : "out of memory";
    PQfinish(conn);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    throw StorageError(fmt::format("postgres: cannot connect to {}: {}", redact_url(url), msg));
  }
  // Quiet: notices (e.g. "relation already exists, skipping") are not errors.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return conn;
}

class ConnExecutor : public Executor {
 public:
  explicit ConnExecutor(PGconn* conn) : conn_(conn) {}
  Backend backend() const override { return Backend::kPostgres; }
  Result exec(std::string_view sql, std::span<const Param> params) override { return run(conn_, sql, params); }
  void script(std::string_view sql) override { run_script(conn_, sql); }

 private:
  PGconn* conn_;
};

class PgLeadership : public Leadership {
 public:
  explicit PgLeadership(PGconn* conn) : conn_(conn) {}
  ~PgLeadership() override { PQfinish(conn_); }  // the session ends: the lock is released
  bool held() override {
    if (PQstatus(conn_) != CONNECTION_OK) return false;
    try {
      run_script(conn_, "SELECT 1");
      return true;
    } catch (const StorageError&) {
      return false;
    }
  }

 private:
  PGconn* conn_;
};

class PostgresDatabase : public Database {
 public:
  PostgresDatabase(std::string url, OpenOptions options) : url_(std::move(url)), options_(options) {
    release(acquire());  // fail now if the server cannot be reached
  }
  ~PostgresDatabase() override {
    for (PGconn* c : idle_) PQfinish(c);
  }
  Backend backend() const override { return Backend::kPostgres; }

  Result exec(std::string_view sql, std::span<const Param> params) override {
    Lease lease(*this);
    return run(lease.conn, sql, params);
  }

  void script(std::string_view sql) override {
    Lease lease(*this);
    run_script(lease.conn, sql);
  }

  void transaction(const std::function<void(Executor&)>& body) override {
    Lease lease(*this);
    run_script(lease.conn, "BEGIN");
    ConnExecutor tx(lease.conn);
    try {
      body(tx);
    } catch (...) {
      if (PQstatus(lease.conn) == CONNECTION_OK) {
        ResultPtr res(PQexec(lease.conn, "ROLLBACK"), &PQclear);
      }
      throw;
    }
    run_script(lease.conn, "COMMIT");
  }

  std::unique_ptr<Leadership> try_lead(std::string_view name) override {
    PGconn* conn = connect(url_, options_);
    try {
      Result r = run(conn, "SELECT pg_try_advisory_lock(?::bigint)",
                     std::vector<Param>{static_cast<std::int64_t>(lock_key(name))});
      if (r.front().integer(0) == 1) return std::make_unique<PgLeadership>(conn);
    } catch (...) {
      PQfinish(conn);
      throw;
    }
    PQfinish(conn);
    return nullptr;
  }

 private:
  // A pooled connection for one call or transaction.
  struct Lease {
    explicit Lease(PostgresDatabase& db) : db(db), conn(db.acquire()) {}
    ~Lease() { db.release(conn); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    PostgresDatabase& db;
    PGconn* conn;
  };

  PGconn* acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.max_connections; });
    if (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    ++open_;
    lock.unlock();
    try {
      return connect(url_, options_);
    } catch (...) {
      std::lock_guard again(mu_);
      --open_;
      cv_.notify_one();
      throw;
    }
  }

  void release(PGconn* conn) {
    bool healthy = PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
    if (!healthy) PQfinish(conn);  // broken, or left inside a transaction: not reused
    std::lock_guard lock(mu_);
    if (healthy) {
      idle_.push_back(conn);
    } else {
      --open_;
    }
    cv_.notify_one();
  }

  std::string url_;
  OpenOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PGconn*> idle_;
  std::size_t open_ = 0;
};

}  // namespace

std::unique_ptr<Database> open_postgres(const std::string& url, const OpenOptions& options) {
  return std::make_unique<PostgresDatabase>(url, options);
}

}  // namespace atcr::db

// What both backends share: rows, migrations, opening by URL (see
// atcr/db/database.h).
#include "atcr/db/database.h"

#include <fmt/core.h>

#include <charconv>
#include <chrono>

#include "db/backends.h"

namespace atcr::db {

std::int64_t Row::integer(std::size_t i) const {
  const auto& v = values_.at(i);
  if (!v || v->empty()) return 0;
  if (*v == "t") return 1;  // PostgreSQL booleans
  if (*v == "f") return 0;
  std::int64_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size())
    throw StorageError(fmt::format("db: column {} holds '{}', not an integer", i, v->substr(0, 40)));
  return out;
}

const std::string& Row::text(std::size_t i) const {
  static const std::string kEmpty;
  const auto& v = values_.at(i);
  return v ? *v : kEmpty;
}

std::uint64_t lock_key(std::string_view name) {
  // FNV-1a: stable across processes and builds (std::hash is not).
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

void Database::migrate(std::string_view component, std::span<const Migration> migrations) {
  transaction([&](Executor& tx) {
    if (backend() == Backend::kPostgres)  // released at commit
      tx.exec("SELECT pg_advisory_xact_lock(?::bigint)",
              {static_cast<std::int64_t>(lock_key("atcr schema migrations"))});
    tx.script(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))");
    std::int64_t current =
        tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?", {component})
            .front()
            .integer(0);
    std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const Migration& m : migrations) {
      if (m.version <= current) continue;
      tx.script(backend() == Backend::kPostgres && m.postgres_sql ? m.postgres_sql : m.sql);
      tx.exec("INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)",
              {component, m.version, now});
    }
  });
}

bool is_postgres_url(std::string_view url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

std::string redact_url(std::string_view url) {
  auto scheme = url.find("://");
  auto at = url.find('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) return std::string(url);
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

std::unique_ptr<Database> open(const std::string& url_or_path, const OpenOptions& options) {
  if (is_postgres_url(url_or_path)) return open_postgres(url_or_path, options);
  return open_sqlite(url_or_path);
}

}  // namespace atcr::db

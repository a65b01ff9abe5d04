// The database a store test runs on: a SQLite file in the test's directory,
// or, when ATCR_TEST_DATABASE_URL names a PostgreSQL server (the
// integration fixture tests/integration/with-postgres.sh), a schema of its
// own there, fresh for each call. The same test cases so run on both
// backends (meson registers such tests in both suites).
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "atcr/db/database.h"

namespace atcr::test {

inline bool on_postgres() {
  const char* url = std::getenv("ATCR_TEST_DATABASE_URL");
  return url && *url;
}

// A SQLite path under `dir`, or a postgres:// URL whose connections use a
// fresh schema.
inline std::string database_url(const std::filesystem::path& dir, const std::string& file = "appview.sqlite") {
  if (!on_postgres()) return (dir / file).string();
  static std::atomic<int> n{0};
  std::string base = std::getenv("ATCR_TEST_DATABASE_URL");
  std::string schema = "t_" + std::to_string(::getpid()) + "_" + std::to_string(n++);
  db::open(base)->script("DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema);
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-c%20search_path%3D" + schema;
}

}  // namespace atcr::test

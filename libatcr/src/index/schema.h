// Internal: the index's schema as numbered migrations, for SQLite and
// PostgreSQL.
#pragma once

#include "atcr/db/database.h"

namespace atcr::index {

// Applies the migrations `db` has not had yet (db::Database::migrate:
// recorded in schema_migrations, under PostgreSQL's advisory lock when
// several instances start at once). Throws StorageError for a database
// from a newer schema than this build knows.
void migrate(db::Database& db);

}  // namespace atcr::index

// Internal: the index's schema as numbered migrations.
#pragma once

#include "util/sqlite.h"

namespace atcr::index {

// Applies the migrations `db` has not had yet, each in a transaction,
// recording the number in PRAGMA user_version. Throws StorageError for a
// database from a newer schema than this build knows.
void migrate(sqlite::Database& db);

}  // namespace atcr::index

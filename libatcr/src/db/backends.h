// Internal: the two backends of atcr/db/database.h.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "atcr/db/database.h"

namespace atcr::db {

std::unique_ptr<Database> open_sqlite(const std::string& path);
std::unique_ptr<Database> open_postgres(const std::string& url, const OpenOptions& options);

// A stable 64-bit key for an advisory lock's name.
std::uint64_t lock_key(std::string_view name);

}  // namespace atcr::db

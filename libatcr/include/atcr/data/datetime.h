// Datetimes as atproto records carry them: RFC 3339 in UTC with
// milliseconds, "2025-10-14T12:00:00.000Z" (the lexicon "datetime" format).
#pragma once

#include <chrono>
#include <string>

namespace atcr {

std::string format_datetime(std::chrono::system_clock::time_point when);
inline std::string now_datetime() { return format_datetime(std::chrono::system_clock::now()); }

}  // namespace atcr

// Datetimes as atproto records carry them: RFC 3339 in UTC with
// milliseconds, "2025-10-14T12:00:00.000Z" (the lexicon "datetime" format).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace atcr {

std::string format_datetime(std::chrono::system_clock::time_point when);
inline std::string now_datetime() { return format_datetime(std::chrono::system_clock::now()); }

// "YYYY-MM-DDTHH:MM:SS", optional fraction (kept to the microsecond), then
// "Z" or "+HH:MM"/"-HH:MM" (RFC 3339; also the S3 and firehose times).
// A missing zone is read as UTC. nullopt for anything else (a date that
// does not exist, trailing text). Never throws.
std::optional<std::chrono::system_clock::time_point> parse_datetime(std::string_view text);

}  // namespace atcr

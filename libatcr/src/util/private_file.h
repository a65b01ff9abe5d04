// Internal: replacing a file that holds secrets, atomically and privately.
#pragma once

#include <filesystem>
#include <string_view>

namespace atcr::util {

// Writes `content` to `path` with mode 0600 (creating parent directories
// 0700): a temporary file in the same directory, fsync'd, then renamed over
// `path`, so a reader sees the old content or the new, never a mix, and the
// secret is never world-readable. Throws StorageError.
void write_private_file(const std::filesystem::path& path, std::string_view content);

// Throws StorageError if `path` is readable or writable by group or others.
void check_private_file(const std::filesystem::path& path);

}  // namespace atcr::util

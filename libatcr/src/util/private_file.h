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

// Serialises read-modify-write cycles of the private file `path` across
// threads and processes: an exclusive flock(2) on its directory (created
// 0700 if missing), since write_private_file replaces the file by rename
// and a lock on its inode would guard the old one. Blocks until it holds
// the lock; released when destroyed. Readers need no lock (they see the
// old file or the new). Throws StorageError.
class PrivateFileLock {
 public:
  explicit PrivateFileLock(const std::filesystem::path& path);
  ~PrivateFileLock();
  PrivateFileLock(const PrivateFileLock&) = delete;
  PrivateFileLock& operator=(const PrivateFileLock&) = delete;

 private:
  int fd_;
};

}  // namespace atcr::util

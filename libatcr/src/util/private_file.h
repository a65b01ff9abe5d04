// Internal: writing a file that holds secrets or state, atomically and
// privately. The one writer every layer uses (keys, credentials, the
// embedded PDS's state, cookie and URL-signing keys).
#pragma once

#include <filesystem>
#include <string_view>

namespace atcr::util {

// Writes `content` to `path` with mode 0600 (creating parent directories
// 0700): a temporary file in the same directory, fsync'd, then renamed over
// `path`, and the directory fsync'd, so a reader sees the old content or the
// new, never a mix, the new content survives a crash once this returns, and
// the file is never world-readable. Throws StorageError.
void write_private_file(const std::filesystem::path& path, std::string_view content);

// The same, but only if `path` does not exist yet (link(2), which never
// replaces a file): returns false, leaving everything as it was, when it
// does. Concurrent creators agree on one winner. The directory must exist
// (a key file in a missing directory is a mistake, not a thing to create).
bool create_private_file(const std::filesystem::path& path, std::string_view content);

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

// Internal: what the hold's garbage collection keeps between runs and
// between requests (see atcr/hold/gc.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "atcr/hold/gc.h"
#include "util/sqlite.h"

namespace atcr::hold {

// data_dir/gc.sqlite: the candidate set (blobs a run found unreferenced,
// with when it first did) and the last runs' reports. Thread-safe.
class GcState {
 public:
  explicit GcState(const std::filesystem::path& path);

  struct Candidate {
    std::uint64_t size = 0;
    std::chrono::system_clock::time_point first_seen;
  };
  std::map<std::string, Candidate> candidates() const;
  // Marks newly unreferenced digests (keeping an earlier first_seen) and
  // forgets the others in `referenced`.
  void mark(const std::map<std::string, std::uint64_t>& unreferenced, const std::vector<std::string>& referenced);
  void forget(const std::string& digest);

  static constexpr std::size_t kHistory = 20;
  void record_run(const GcReport& report);
  std::vector<GcReport> history() const;  // newest first

 private:
  mutable std::mutex mu_;
  mutable sqlite::Database db_;
};

// Digests clients touched lately (a HEAD, a GET, a finished upload): a
// push that found its blob already here refers to it before any record
// does. Thread-safe; entries older than the horizon are pruned as it goes.
class TouchedDigests {
 public:
  void touch(const std::string& digest);
  bool touched_since(const std::string& digest, std::chrono::system_clock::time_point since) const;
  void prune(std::chrono::system_clock::time_point before);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::chrono::system_clock::time_point> last_;
};

}  // namespace atcr::hold

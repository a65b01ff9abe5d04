// Internal: the hold's scan jobs, kept in SQLite (<data_dir>/scans.sqlite)
// so a restart loses none. One job per manifest digest (the scan record's
// key is the digest: a second push of it replaces the queued job). A job is
// handed to one scanner at a time; one not answered within the timeout is
// handed out again, and after kMaxAttempts it is dropped as failed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "util/sqlite.h"

namespace atcr::hold {

struct QueuedScan {
  std::int64_t seq = 0;
  std::string digest;
  std::string repository;
  std::string tag;
  std::string user_did;
  std::string manifest_uri;
  std::string layers_json;  // [{"digest","size","mediaType"}], the manifest's order, config excluded
  std::int64_t priority = 0;
  std::int64_t attempts = 0;  // times handed out
};

class ScanQueue {
 public:
  static constexpr std::int64_t kMaxAttempts = 5;

  explicit ScanQueue(const std::filesystem::path& file);

  // Queues (or re-queues) a scan of job.digest; returns its seq.
  std::int64_t enqueue(const QueuedScan& job);
  // The next job (lowest priority value, then oldest) that is not out, or
  // was handed out more than `timeout` ago; it is marked out now. Jobs out
  // kMaxAttempts times are returned through `abandoned` instead (and
  // removed), for the caller to record as failed.
  std::optional<QueuedScan> take(std::chrono::seconds timeout, std::optional<QueuedScan>* abandoned);
  // Back to the queue at once (its scanner went away).
  void release(std::int64_t seq);
  // Done: the result is recorded.
  void remove(std::int64_t seq);
  std::optional<QueuedScan> find(std::int64_t seq);
  std::size_t size();

 private:
  std::mutex mu_;
  sqlite::Database db_;
};

}  // namespace atcr::hold

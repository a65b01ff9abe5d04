// Internal: which pulls count toward the network index's pull counts: the
// first manifest GET of a client (caller DID, else address) for a
// repository in each window (kPullWindow), however many AppView instances
// the client's requests are spread over.
//
// An instance remembers what it counted or saw counted (memory: a repeat
// costs no database round trip). With a shared database (several
// instances), a pull it has not seen is claimed in the recent_pulls table
// with one INSERT ... ON CONFLICT DO UPDATE ... WHERE expired: of the
// instances a round-robin balancer sends the client to, one counts it. Rows
// hold a SHA-256 of the key (no DIDs or addresses); housekeeping deletes
// expired ones. Without a database (one instance) memory alone decides.
//
// Thread-safe. Throws StorageError when the database fails.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "atcr/db/database.h"
#include "util/ttl_cache.h"

namespace atcr::appview {

class PullWindow {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds
  // `database`: the shared database, or nullptr. `clock`: default the
  // system clock (tests pass their own).
  PullWindow(std::shared_ptr<db::Database> database, std::chrono::seconds window, Clock clock = {});
  // True if the pull `key` counts: the first in its window.
  bool first(const std::string& key);
  // Forgets expired entries (memory and rows).
  void expire();

 private:
  std::shared_ptr<db::Database> db_;
  std::chrono::seconds window_;
  Clock clock_;
  util::TtlCache<bool> seen_;
};

}  // namespace atcr::appview

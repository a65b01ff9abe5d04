// A bounded set of recently seen token ids, each remembered until its token
// expires. Used by ServiceAuthVerifier to refuse a replayed (iss, jti).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace atcr::xrpc::detail {

class ReplayCache {
 public:
  explicit ReplayCache(std::size_t capacity);

  // Records `id` until `expires_at` (unix seconds). False if it is already
  // recorded and not yet expired at `now`. Thread-safe.
  bool insert(const std::string& id, std::int64_t expires_at, std::int64_t now);

  std::size_t size() const;

 private:
  void forget_expired(std::int64_t now);  // needs mu_

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::int64_t> expiry_;  // id -> expires_at
  std::multimap<std::int64_t, std::string> by_expiry_;    // expires_at -> id, soonest first
};

}  // namespace atcr::xrpc::detail

#include "xrpc/replay_cache.h"

#include <algorithm>

namespace atcr::xrpc::detail {

ReplayCache::ReplayCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

void ReplayCache::forget_expired(std::int64_t now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first < now) {
    expiry_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

bool ReplayCache::insert(const std::string& id, std::int64_t expires_at, std::int64_t now) {
  std::lock_guard lock(mu_);
  forget_expired(now);
  if (expiry_.contains(id)) return false;
  // Full of live entries: drop the one that expires soonest. Its token is
  // the closest to being refused as expired anyway, so this opens the
  // smallest replay window of any choice.
  if (expiry_.size() >= capacity_) {
    expiry_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
  expiry_.emplace(id, expires_at);
  by_expiry_.emplace(expires_at, id);
  return true;
}

std::size_t ReplayCache::size() const {
  std::lock_guard lock(mu_);
  return expiry_.size();
}

}  // namespace atcr::xrpc::detail

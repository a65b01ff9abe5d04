// Internal: the one expiring cache: a thread-safe map whose entries live
// for a time to live, bounded in size (when full, the least recently used
// entry goes). The AppView's caches and the resolver's (identity/
// loading_cache.h adds single-flight loading on top) are all this.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace atcr::util {

template <class V>
class TtlCache {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // Replaceable for tests; called with the cache's lock held.
  using Clock = std::function<TimePoint()>;

  TtlCache(std::chrono::milliseconds ttl, std::size_t max_entries, Clock clock = nullptr)
      : ttl_(ttl), max_(max_entries), clock_(clock ? std::move(clock) : Clock(&std::chrono::steady_clock::now)) {}

  // The value under `key` unless absent or expired (an expired one is
  // dropped); a hit makes the entry the most recently used.
  std::optional<V> get(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    if (clock_() >= it->second.expires) {
      drop(it);
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.value;
  }

  void put(const std::string& key, V value) { put(key, std::move(value), ttl_); }
  // With a lifetime of its own; a lifetime <= 0 (or a cache of no entries)
  // stores nothing and forgets any older value.
  void put(const std::string& key, V value, std::chrono::milliseconds ttl) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) drop(it);
    if (max_ == 0 || ttl.count() <= 0) return;
    while (map_.size() >= max_) drop(map_.find(lru_.back()));
    lru_.push_front(key);
    map_.emplace(key, Entry{std::move(value), clock_() + ttl, lru_.begin()});
  }

  void erase(const std::string& key) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) drop(it);
  }

  // Drops every key starting with `prefix`.
  void erase_prefix(std::string_view prefix) {
    std::lock_guard lock(mu_);
    for (auto it = map_.lower_bound(prefix); it != map_.end() && it->first.starts_with(prefix);) drop(it++);
  }

  // Drops every expired entry (housekeeping; get() drops them lazily).
  void expire() {
    std::lock_guard lock(mu_);
    TimePoint now = clock_();
    for (auto it = map_.begin(); it != map_.end();) {
      if (now >= it->second.expires)
        drop(it++);
      else
        ++it;
    }
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return map_.size();
  }

 private:
  struct Entry {
    V value;
    TimePoint expires;
    std::list<std::string>::iterator lru;
  };
  using Map = std::map<std::string, Entry, std::less<>>;

  void drop(typename Map::iterator it) {
    lru_.erase(it->second.lru);
    map_.erase(it);
  }

  const std::chrono::milliseconds ttl_;
  const std::size_t max_;
  const Clock clock_;
  mutable std::mutex mu_;
  Map map_;
  std::list<std::string> lru_;  // most recently used first
};

}  // namespace atcr::util

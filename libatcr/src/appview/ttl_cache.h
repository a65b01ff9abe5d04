// Internal: a small thread-safe map whose entries expire, bounded in size
// (when full, expired entries go first, then the oldest insertions).
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace atcr::appview {

template <class V>
class TtlCache {
 public:
  using Clock = std::chrono::steady_clock;

  TtlCache(std::chrono::milliseconds ttl, std::size_t max_entries) : ttl_(ttl), max_(max_entries) {}

  std::optional<V> get(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    if (Clock::now() >= it->second.expires) {
      map_.erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }

  void put(const std::string& key, V value) { put(key, std::move(value), ttl_); }
  void put(const std::string& key, V value, std::chrono::milliseconds ttl) {
    if (max_ == 0 || ttl.count() <= 0) return;
    std::lock_guard lock(mu_);
    map_[key] = Entry{std::move(value), Clock::now() + ttl};
    order_.push_back(key);
    if (map_.size() > max_) trim();
  }

  void erase(const std::string& key) {
    std::lock_guard lock(mu_);
    map_.erase(key);
  }

  // Drops every key starting with `prefix`.
  void erase_prefix(const std::string& prefix) {
    std::lock_guard lock(mu_);
    for (auto it = map_.lower_bound(prefix); it != map_.end() && it->first.starts_with(prefix);)
      it = map_.erase(it);
  }

  void expire() {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    for (auto it = map_.begin(); it != map_.end();) it = now >= it->second.expires ? map_.erase(it) : std::next(it);
    if (order_.size() > 2 * map_.size() + 16) rebuild_order();
  }

 private:
  struct Entry {
    V value;
    Clock::time_point expires;
  };

  void trim() {
    auto now = Clock::now();
    for (auto it = map_.begin(); it != map_.end();) it = now >= it->second.expires ? map_.erase(it) : std::next(it);
    while (map_.size() > max_ && !order_.empty()) {
      map_.erase(order_.front());
      order_.pop_front();
    }
    if (order_.size() > 2 * map_.size() + 16) rebuild_order();
  }

  void rebuild_order() {
    std::deque<std::string> kept;
    for (const std::string& k : order_)
      if (map_.contains(k)) kept.push_back(k);
    order_ = std::move(kept);
  }

  std::mutex mu_;
  std::chrono::milliseconds ttl_;
  std::size_t max_;
  std::map<std::string, Entry> map_;
  std::deque<std::string> order_;  // insertion order, may hold stale keys
};

}  // namespace atcr::appview

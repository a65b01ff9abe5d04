// A small TTL + LRU cache with single-flight loading, for the resolver;
// not part of the public API.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "atcr/error.h"
#include "atcr/identity/resolver.h"

namespace atcr::identity::detail {

template <class V>
class TtlCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  TtlCache(std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl, std::size_t max_entries,
           Clock clock, std::chrono::milliseconds unreachable_ttl = {})
      : ttl_(ttl),
        negative_ttl_(negative_ttl),
        unreachable_ttl_(unreachable_ttl),
        max_entries_(max_entries),
        clock_(std::move(clock)) {}

  // The cached answer for `key` (a value, or a cached failure rethrown),
  // or else load()'s. While one caller loads a key, others asking for it
  // wait for that answer instead of loading it again. A value is cached
  // for `ttl`; a definite failure (ResolutionError, ParseError) for
  // `negative_ttl`; any other exception reaches the waiting callers and is
  // cached for `unreachable_ttl` (not at all when it is 0). `fresh` ignores (and then replaces) a cached answer.
  V get(const std::string& key, bool fresh, const std::function<V()>& load) {
    std::unique_lock lock(mu_);
    if (!fresh) {
      if (auto it = entries_.find(key); it != entries_.end()) {
        if (clock_() < it->second.expires) {
          lru_.splice(lru_.begin(), lru_, it->second.lru);
          return answer(it->second.value, it->second.error);
        }
        drop(it);
      }
    }
    if (auto it = flights_.find(key); it != flights_.end()) {
      std::shared_ptr<Flight> flight = it->second;
      done_.wait(lock, [&] { return flight->done; });
      return answer(flight->value, flight->error);
    }
    auto flight = std::make_shared<Flight>();
    flights_.emplace(key, flight);
    lock.unlock();

    std::optional<V> value;
    std::exception_ptr error;
    bool definite = true;
    try {
      value = load();
    } catch (const ResolutionError&) {
      error = std::current_exception();
    } catch (const ParseError&) {
      error = std::current_exception();
    } catch (...) {
      // Network trouble and the like: shared with the waiters (rethrown
      // below), remembered only for unreachable_ttl.
      error = std::current_exception();
      definite = false;
    }

    lock.lock();
    if (definite) {
      store(key, value, error, error ? negative_ttl_ : ttl_);
    } else if (unreachable_ttl_.count() > 0) {
      store(key, value, error, unreachable_ttl_);
    }
    flight->value = value;
    flight->error = error;
    flight->done = true;
    flights_.erase(key);
    lock.unlock();
    done_.notify_all();
    return answer(value, error);
  }

  void erase(const std::string& key) {
    std::lock_guard lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) drop(it);
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    std::optional<V> value;
    std::exception_ptr error;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator lru;
  };
  struct Flight {
    bool done = false;
    std::optional<V> value;
    std::exception_ptr error;
  };

  static V answer(const std::optional<V>& value, const std::exception_ptr& error) {
    if (error) std::rethrow_exception(error);
    return *value;
  }

  void drop(typename std::unordered_map<std::string, Entry>::iterator it) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }

  void store(const std::string& key, const std::optional<V>& value, const std::exception_ptr& error,
             std::chrono::milliseconds lifetime) {
    if (auto it = entries_.find(key); it != entries_.end()) drop(it);
    if (max_entries_ == 0) return;
    while (entries_.size() >= max_entries_) drop(entries_.find(lru_.back()));
    lru_.push_front(key);
    auto expires = clock_() + lifetime;
    entries_.emplace(key, Entry{value, error, expires, lru_.begin()});
  }

  const std::chrono::milliseconds ttl_;
  const std::chrono::milliseconds negative_ttl_;
  const std::chrono::milliseconds unreachable_ttl_;
  const std::size_t max_entries_;
  const Clock clock_;

  mutable std::mutex mu_;
  std::condition_variable done_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace atcr::identity::detail

// Internal: the resolver's cache: util::TtlCache with single-flight loading
// and remembered failures.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "atcr/error.h"
#include "atcr/identity/resolver.h"
#include "util/ttl_cache.h"

namespace atcr::identity::detail {

template <class V>
class LoadingCache {
 public:
  using Clock = typename util::TtlCache<int>::Clock;

  LoadingCache(std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl, std::size_t max_entries,
               Clock clock, std::chrono::milliseconds unreachable_ttl = {})
      : ttl_(ttl), negative_ttl_(negative_ttl), unreachable_ttl_(unreachable_ttl),
        answers_(ttl, max_entries, std::move(clock)) {}

  // The cached answer for `key` (a value, or a cached failure rethrown),
  // or else load()'s. While one caller loads a key, others asking for it
  // wait for that answer instead of loading it again. A value is cached
  // for `ttl`; a definite failure (ResolutionError, ParseError) for
  // `negative_ttl`; any other exception reaches the waiting callers and is
  // cached for `unreachable_ttl` (not at all when it is 0). `fresh`
  // ignores (and then replaces) a cached answer.
  V get(const std::string& key, bool fresh, const std::function<V()>& load) {
    std::unique_lock lock(mu_);
    if (!fresh)
      if (std::optional<Answer> cached = answers_.get(key)) return cached->get();
    if (auto it = flights_.find(key); it != flights_.end()) {
      std::shared_ptr<Flight> flight = it->second;
      done_.wait(lock, [&] { return flight->done; });
      return flight->answer.get();
    }
    auto flight = std::make_shared<Flight>();
    flights_.emplace(key, flight);
    lock.unlock();

    Answer answer;
    std::chrono::milliseconds lifetime = ttl_;
    try {
      answer.value = load();
    } catch (const ResolutionError&) {
      answer.error = std::current_exception();
      lifetime = negative_ttl_;
    } catch (const ParseError&) {
      answer.error = std::current_exception();
      lifetime = negative_ttl_;
    } catch (...) {
      // Network trouble and the like: shared with the waiters (rethrown
      // below), remembered only for unreachable_ttl.
      answer.error = std::current_exception();
      lifetime = unreachable_ttl_;
    }

    lock.lock();
    answers_.put(key, answer, lifetime);
    flight->answer = answer;
    flight->done = true;
    flights_.erase(key);
    lock.unlock();
    done_.notify_all();
    return answer.get();
  }

  void erase(const std::string& key) { answers_.erase(key); }
  std::size_t size() const { return answers_.size(); }

 private:
  struct Answer {
    std::optional<V> value;
    std::exception_ptr error;
    V get() const {
      if (error) std::rethrow_exception(error);
      return *value;
    }
  };
  struct Flight {
    bool done = false;
    Answer answer;
  };

  const std::chrono::milliseconds ttl_, negative_ttl_, unreachable_ttl_;
  util::TtlCache<Answer> answers_;
  std::mutex mu_;  // flights_
  std::condition_variable done_;
  std::map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace atcr::identity::detail

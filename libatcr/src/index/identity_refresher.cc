// index::IdentityRefresher: a deduplicating queue and its worker thread
// (contract: identity_refresher.h).
#include "index/identity_refresher.h"

#include "atcr/log.h"

namespace atcr::index {

IdentityRefresher::IdentityRefresher(Refresh refresh) : refresh_(std::move(refresh)) {}

IdentityRefresher::~IdentityRefresher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void IdentityRefresher::enqueue(std::string_view did, bool fresh) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (auto it = waiting_.find(did); it != waiting_.end()) {
      it->second = it->second || fresh;
      return;
    }
    if (waiting_.size() >= kMaxQueued) {
      log::warn("index", "identity of {}: {} refreshes already queued; skipped", log::escape(did), kMaxQueued);
      return;
    }
    waiting_.emplace(std::string(did), fresh);
    order_.emplace_back(did);
    if (!worker_.joinable()) worker_ = std::thread([this] { run(); });
  }
  cv_.notify_all();
}

void IdentityRefresher::settle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return stopping_ || (order_.empty() && !busy_); });
}

void IdentityRefresher::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !order_.empty(); });
    if (stopping_) return;
    std::string did = std::move(order_.front());
    order_.pop_front();
    auto it = waiting_.find(did);
    bool fresh = it->second;
    waiting_.erase(it);
    busy_ = true;
    lock.unlock();
    refresh_(did, fresh);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace atcr::index

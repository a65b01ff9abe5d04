// Internal: refreshes DIDs' identities (handle, PDS) in the index off the
// event path. Resolving a handle takes a DNS TXT lookup and then an HTTPS
// fetch of /.well-known/atproto-did: seconds for a name nobody answers, a
// whole timeout for a tarpit. Done inline, every account the firehose
// starts to follow would stall it that long (a fresh index replaying a
// PDS's history fell minutes behind), and anyone could slow every AppView's
// index with handles that hang.
//
// One worker thread, started on first use. A DID already waiting is not
// queued twice (a fresh request upgrades it); at most kMaxQueued wait, and
// more are dropped with a warning (the DID's next #identity or re-sync
// refreshes it). Threads: enqueue() and settle() from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace atcr::index {

class IdentityRefresher {
 public:
  static constexpr std::size_t kMaxQueued = 10000;

  // `refresh` resolves one DID and stores what it found; it must not
  // throw (it logs its own failures).
  using Refresh = std::function<void(const std::string& did, bool fresh)>;
  explicit IdentityRefresher(Refresh refresh);
  // Drops what is still queued and joins the worker.
  ~IdentityRefresher();
  IdentityRefresher(const IdentityRefresher&) = delete;
  IdentityRefresher& operator=(const IdentityRefresher&) = delete;

  // Queues `did` (`fresh`: bypass the resolver's cache).
  void enqueue(std::string_view did, bool fresh);
  // Waits until everything queued so far has been refreshed.
  void settle();

 private:
  void run();

  Refresh refresh_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> order_;
  std::map<std::string, bool, std::less<>> waiting_;  // DID -> fresh
  bool busy_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace atcr::index

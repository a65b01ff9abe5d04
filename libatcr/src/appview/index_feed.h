// Internal: what keeps the AppView's network index current while it runs:
// the firehose consumer (a thread per configured source) and, on first
// start, a backfill of each source (one more thread), both over
// index::Ingester. Made by Appview::Impl when sources are configured.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "atcr/appview/config.h"
#include "atcr/db/database.h"
#include "atcr/index/ingest.h"

namespace atcr::appview {

class IndexFeed {
 public:
  // Starts following at once; the backfill runs beside it (if enabled and
  // not done before).
  IndexFeed(const AppviewConfig& config, index::Index& index, identity::Resolver& resolver,
            std::shared_ptr<const net::HttpClient> http);
  // Stops the backfill (between repos; it resumes next start) and the
  // consumer, joining their threads.
  ~IndexFeed();

  index::Ingester& ingester() { return ingester_; }
  // Where the consumer is on each source (/metrics: firehose lag).
  std::vector<index::SourceStatus> status() const { return consumer_.status(); }

  // `atcr-appview backfill`: every source from the start, in this thread.
  static void backfill_all(const AppviewConfig& config, index::Ingester& ingester,
                           const std::function<void(const index::BackfillProgress&)>& progress,
                           const std::atomic<bool>* cancel, bool restart);

 private:
  index::Ingester ingester_;
  index::FirehoseConsumer consumer_;
  std::atomic<bool> cancel_{false};
  std::thread backfill_;
};

// Instances sharing a database consume the firehose once: the IndexFeed
// runs only in the instance holding the database's leadership lock (a
// PostgreSQL advisory lock on a connection of its own). The others try for
// it every `poll`; when the leader dies its connection closes, the lock is
// released and one of them takes over within a poll or two. A leader that
// loses its connection stops its feed at its next check.
class FeedLeader {
 public:
  using MakeFeed = std::function<std::unique_ptr<IndexFeed>()>;
  FeedLeader(db::Database& db, MakeFeed make, std::chrono::milliseconds poll = std::chrono::seconds(2));
  ~FeedLeader();  // stops the feed, then gives the lock up
  bool leading() const { return leading_; }
  // The feed's sources while this instance leads; none otherwise.
  std::vector<index::SourceStatus> status() const;

 private:
  void run();
  void set_feed(std::unique_ptr<IndexFeed> feed);  // the old one stopped outside the lock

  db::Database& db_;
  MakeFeed make_;
  std::chrono::milliseconds poll_;
  std::atomic<bool> leading_{false};
  mutable std::mutex feed_mu_;
  std::unique_ptr<IndexFeed> feed_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace atcr::appview

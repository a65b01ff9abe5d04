// Internal: what keeps the AppView's network index current while it runs:
// the firehose consumer (a thread per configured source) and, on first
// start, a backfill of each source (one more thread), both over
// index::Ingester. Made by Appview::Impl when sources are configured.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "atcr/appview/config.h"
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

}  // namespace atcr::appview

#include "appview/index_feed.h"

#include "atcr/log.h"

namespace atcr::appview {

namespace {

std::vector<index::Source> sources_of(const AppviewConfig& config) {
  std::vector<index::Source> out;
  for (const std::string& url : config.index.relays) out.push_back({url, index::SourceKind::kRelay});
  for (const std::string& url : config.index.pdses) out.push_back({url, index::SourceKind::kPds});
  return out;
}

// A progress line every 100 repos and at the end.
void log_progress(const index::BackfillProgress& p) {
  if (!p.done && p.repos_seen % 100 != 0) return;
  log::info("index", "backfill {}: {} repos listed, {} indexed, {} skipped, {} records{}", p.host, p.repos_seen,
            p.repos_indexed, p.repos_skipped, p.records, p.done ? " (done)" : "");
}

}  // namespace

IndexFeed::IndexFeed(const AppviewConfig& config, index::Index& index, identity::Resolver& resolver,
                     std::shared_ptr<const net::HttpClient> http)
    : ingester_(index, resolver, std::move(http)), consumer_(ingester_, sources_of(config)) {
  consumer_.start();
  if (config.index.backfill) {
    backfill_ = std::thread([this, config] { backfill_all(config, ingester_, log_progress, &cancel_, false); });
  }
}

IndexFeed::~IndexFeed() {
  cancel_ = true;
  if (backfill_.joinable()) backfill_.join();
  consumer_.stop();
}

void IndexFeed::backfill_all(const AppviewConfig& config, index::Ingester& ingester,
                             const std::function<void(const index::BackfillProgress&)>& progress,
                             const std::atomic<bool>* cancel, bool restart) {
  for (const index::Source& source : sources_of(config)) {
    if (cancel && cancel->load()) return;
    try {
      index::backfill(ingester, source.url, {.progress = progress, .cancel = cancel, .restart = restart});
    } catch (const Error& e) {
      log::warn("index", "backfill {}: {}", source.url, e.what());
    }
  }
}

FeedLeader::FeedLeader(db::Database& db, MakeFeed make, std::chrono::milliseconds poll)
    : db_(db), make_(std::move(make)), poll_(poll), thread_([this] { run(); }) {}

FeedLeader::~FeedLeader() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::vector<index::SourceStatus> FeedLeader::status() const {
  std::lock_guard lock(feed_mu_);
  return feed_ ? feed_->status() : std::vector<index::SourceStatus>{};
}

void FeedLeader::set_feed(std::unique_ptr<IndexFeed> feed) {
  {
    std::lock_guard lock(feed_mu_);
    std::swap(feed_, feed);
  }
  feed.reset();  // the one replaced stops here, not under the lock
}

void FeedLeader::run() {
  constexpr std::string_view kLock = "atcr-appview network index feed";
  std::unique_ptr<db::Leadership> lease;
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    try {
      if (!lease) {
        if ((lease = db_.try_lead(kLock))) {
          log::info("index", "this instance leads: it follows the network index's sources");
          set_feed(make_());
          leading_ = true;
        }
      } else if (!lease->held()) {
        log::warn("index", "lost the database connection holding the index leadership: stopping the feed");
        leading_ = false;
        set_feed(nullptr);
        lease.reset();
      }
    } catch (const Error& e) {
      log::warn("index", "index leadership: {}", e.what());
    }
    lock.lock();
    cv_.wait_for(lock, poll_, [&] { return stop_; });
  }
  lock.unlock();
  leading_ = false;
  set_feed(nullptr);  // stop following before the lock goes to another instance
  lease.reset();
}

}  // namespace atcr::appview

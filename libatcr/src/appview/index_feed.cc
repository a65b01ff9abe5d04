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

}  // namespace atcr::appview

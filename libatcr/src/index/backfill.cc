// index::backfill: every repo a host lists, fetched and indexed
// (contract: atcr/index/ingest.h).
#include <fmt/core.h>

#include "atcr/index/ingest.h"
#include "atcr/log.h"
#include "atcr/xrpc/client.h"

namespace atcr::index {

namespace {

constexpr std::string_view kDone = "done";
constexpr std::string_view kCursorPrefix = "cursor:";
constexpr int kPageSize = 500;

std::string marker_name(std::string_view host) { return fmt::format("backfill {}", host); }

struct Listed {
  std::string did;
  std::string rev;  // "" when the listing does not say
  bool active = true;
  std::string status;
};

struct ListPage {
  std::vector<Listed> repos;
  std::string cursor;  // "" at the end
};

// listReposByCollection where offered (a relay), else listRepos.
class Lister {
 public:
  Lister(std::string_view host, std::shared_ptr<const net::HttpClient> http) : client_(std::string(host), std::move(http)) {}

  ListPage next(const std::string& cursor) {
    if (by_collection_) {
      try {
        return page(client_.query("com.atproto.sync.listReposByCollection",
                                  params(cursor).add("collection", "io.atcr.manifest")));
      } catch (const xrpc::XrpcError& e) {
        if (e.status() != 400 && e.status() != 404 && e.status() != 501) throw;
        by_collection_ = false;
      }
    }
    return page(client_.query("com.atproto.sync.listRepos", params(cursor)));
  }

 private:
  static xrpc::Params params(const std::string& cursor) {
    xrpc::Params p;
    p.add("limit", kPageSize);
    if (!cursor.empty()) p.add("cursor", cursor);
    return p;
  }

  static ListPage page(const Value& body) {
    ListPage out;
    for (const Value& r : body.at("repos").as_array()) {
      Listed l;
      l.did = r.at("did").as_string();
      if (const Value* rev = r.find("rev"); rev && rev->is_string()) l.rev = rev->as_string();
      if (const Value* active = r.find("active"); active && active->is_bool()) l.active = active->as_bool();
      if (const Value* status = r.find("status"); status && status->is_string()) l.status = status->as_string();
      out.repos.push_back(std::move(l));
    }
    if (const Value* c = body.find("cursor"); c && c->is_string()) out.cursor = c->as_string();
    return out;
  }

  xrpc::XrpcClient client_;
  bool by_collection_ = true;
};

}  // namespace

bool backfilled(Index& index, std::string_view host) { return index.marker(marker_name(host)) == kDone; }

BackfillProgress backfill(Ingester& ingester, std::string_view host, const BackfillOptions& options) {
  Index& index = ingester.index();
  BackfillProgress progress;
  progress.host = std::string(host);
  std::string name = marker_name(host);
  std::string cursor;
  if (!options.restart) {
    auto saved = index.marker(name);
    if (saved == kDone) {
      progress.done = true;
      return progress;
    }
    if (saved && saved->starts_with(kCursorPrefix)) cursor = saved->substr(kCursorPrefix.size());
  }
  Lister lister(host, nullptr);
  auto report = [&] {
    if (options.progress) options.progress(progress);
  };
  while (true) {
    ListPage page = lister.next(cursor);
    for (const Listed& repo : page.repos) {
      if (options.cancel && options.cancel->load()) return progress;
      ++progress.repos_seen;
      auto state = index.repo_state(repo.did);
      if (!repo.active) {
        if (index.known(repo.did)) index.set_account_status(repo.did, false, repo.status.empty() ? "deactivated" : repo.status);
        ++progress.repos_skipped;
      } else if (state && !repo.rev.empty() && state->rev == repo.rev) {
        ++progress.repos_skipped;  // already current
      } else {
        try {
          progress.records += ingester.resync(repo.did);
          ++progress.repos_indexed;
        } catch (const Error& e) {
          log::warn("index", "backfill {}: {} skipped: {}", host, repo.did, e.what());
          ++progress.repos_skipped;
        }
      }
      report();
    }
    if (page.cursor.empty() || page.repos.empty()) break;
    cursor = page.cursor;
    index.set_marker(name, std::string(kCursorPrefix) + cursor);
  }
  ingester.settle();  // done means the handles are in too
  index.set_marker(name, kDone);
  progress.done = true;
  report();
  return progress;
}

}  // namespace atcr::index

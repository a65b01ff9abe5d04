// The web UI's network-wide pages, read from the index:
//   GET /                recent pushes and the most-starred repositories
//   GET /search?q=&page= repositories matching a query (handle, name,
//                        description, README: the index's FTS5), 20 a page
#include <fmt/core.h>

#include "appview/appview_impl.h"
#include "appview/web/views.h"
#include "atcr/net/http_client.h"

namespace atcr::appview {

namespace {

constexpr int kPageSize = 20;
constexpr int kHomeCount = 12;
constexpr std::size_t kMaxQuery = 256;
constexpr int kMaxPage = 500;

}  // namespace

xrpc::ServerResponse Appview::Impl::home_page(const xrpc::ServerRequest& req) {
  auto user = web_sessions->current(req);
  std::string intro =
      user ? std::string()
           : std::string(R"(<p>The ATProto container registry: images live as records in your own PDS, )"
                         R"(their layers on a hold you choose. <a href="/login">Sign in</a> or )"
                         R"(<a href="/install">install the credential helper</a>.</p>)");
  std::string body = fmt::format(
      R"({}<h2>Recent pushes</h2><div id="recent">{}</div><h2>Most starred</h2><div id="starred">{}</div>)", intro,
      web::repo_cards(recent_repos(kHomeCount), "Nothing has been pushed yet."),
      web::repo_cards(most_starred_repos(kHomeCount), "Nothing has been starred yet."));
  return web_sessions->page(user, "ATCR", body);
}

xrpc::ServerResponse Appview::Impl::search_page(const xrpc::ServerRequest& req) {
  auto user = web_sessions->current(req);
  std::string q = req.param("q").value_or("");
  if (q.size() > kMaxQuery)
    return web_sessions->error_page(user, 400, "Search", fmt::format("A query has at most {} bytes.", kMaxQuery));
  int page = static_cast<int>(req.int_param("page", 1, kMaxPage).value_or(1));
  std::string form = fmt::format(
      R"(<form method="get" action="/search" id="search-form"><input type="search" name="q" id="q" value="{}" )"
      R"(placeholder="handle, repository or a word of its README"> <button type="submit">Search</button></form>)",
      web::html_escape(q));
  if (q.empty()) return web_sessions->page(user, "Search", form);
  std::vector<web::RepoCard> hits = search_repos(q, (page - 1) * kPageSize, kPageSize + 1);
  bool more = hits.size() > static_cast<std::size_t>(kPageSize);
  if (more) hits.pop_back();
  std::string body = form + fmt::format(R"(<div id="results">{}</div>)",
                                        web::repo_cards(hits, "No repositories match.")) +
                     web::pager("q=" + net::url_encode(q), page, more);
  return web_sessions->page(user, "Search", body);
}

void Appview::Impl::register_browse_pages(xrpc::XrpcServer& server) {
  auto page = [this](PageHandler handler) { return web_page(handler); };
  server.route("GET", "/", page(&Impl::home_page));
  server.route("GET", "/search", page(&Impl::search_page));
}

// ---- the network index ----

std::vector<web::RepoCard> Appview::Impl::recent_repos(int limit) {
  return web::cards_of(network_index->recent_pushes(limit));
}

std::vector<web::RepoCard> Appview::Impl::most_starred_repos(int limit) {
  std::vector<web::RepoCard> out;
  for (auto& card : web::cards_of(network_index->most_starred(limit)))
    if (card.stars > 0) out.push_back(std::move(card));
  return out;
}

std::vector<web::RepoCard> Appview::Impl::search_repos(const std::string& query, int offset, int limit) {
  return web::cards_of(network_index->search(query, {.limit = limit, .offset = offset}).items);
}

}  // namespace atcr::appview

// The web UI's page fragments (see views.h).
#include "appview/web/views.h"

#include <fmt/core.h>

#include <algorithm>
#include <tuple>

#include "appview/web/markdown.h"
#include "atcr/data/datetime.h"
#include "appview/web/web_session.h"
#include "atcr/net/http_client.h"

namespace atcr::appview::web {

namespace {

const std::string& repo_ref_identity(const RepoCard& repo) { return repo.handle.empty() ? repo.did : repo.handle; }

std::string repo_href(const RepoCard& repo) { return html_escape(repo_path(repo_ref_identity(repo), repo.repository)); }

std::string user_href(const RepoCard& repo) {
  return html_escape("/u/" + net::url_encode(repo_ref_identity(repo)));
}

std::string short_digest(std::string_view digest) {
  auto colon = digest.find(':');
  std::string_view hex = colon == std::string_view::npos ? digest : digest.substr(colon + 1);
  return std::string(hex.substr(0, 12));
}

std::string tag_rows(const RepoPage& page) {
  std::string rows;
  std::string ref = page.registry + "/" + repo_ref(page.repo);
  int n = 0;
  for (const TagRow& t : page.tags) {
    std::string platforms;
    for (const std::string& p : t.platforms) platforms += (platforms.empty() ? "" : ", ") + html_escape(p);
    std::string scan = t.scan.empty() ? std::string("<span class=\"muted\">not scanned</span>")
                                      : fmt::format(R"(<span class="badge scan {}">{}</span>)",
                                                    t.scan_clean ? "ok" : "bad", html_escape(t.scan));
    std::string id = fmt::format("pull-{}", n++);
    rows += fmt::format(
        R"(<tr class="tag"><td class="tag-name"><b>{tag}</b></td><td><code title="{digest}">{short}</code></td>)"
        R"(<td>{size}</td><td title="{created}">{age}</td><td class="platforms">{platforms}</td><td>{scan}</td>)"
        R"(<td class="pull"><pre id="{id}">{command}</pre><button type="button" data-copy="{id}" hidden>Copy</button></td></tr>)",
        fmt::arg("tag", html_escape(t.tag)), fmt::arg("digest", html_escape(t.digest)),
        fmt::arg("short", html_escape(short_digest(t.digest))), fmt::arg("size", format_size(t.size)),
        fmt::arg("created", html_escape(t.created_at)),
        fmt::arg("age", html_escape(format_age(t.created_at, std::chrono::system_clock::now()))),
        fmt::arg("platforms", platforms.empty() ? std::string("-") : platforms), fmt::arg("scan", scan),
        fmt::arg("id", id), fmt::arg("command", html_escape(pull_command(page.oci_client, ref + ":" + t.tag))));
  }
  return rows;
}

std::string star_form(const RepoPage& page, std::string_view csrf_field) {
  std::string action = repo_href(page.repo) + "/-/star";
  if (csrf_field.empty())
    return fmt::format(R"(<a id="star" href="/login?return_to={}">Sign in to star</a>)",
                       html_escape(net::url_encode(repo_path(repo_ref_identity(page.repo), page.repo.repository))));
  return fmt::format(
      R"(<form method="post" action="{action}">{csrf}<input type="hidden" name="star" value="{value}">)"
      R"(<button type="submit" id="star" class="{cls}">{label}</button></form>)",
      fmt::arg("action", action), fmt::arg("csrf", csrf_field), fmt::arg("value", page.starred ? "false" : "true"),
      fmt::arg("cls", page.starred ? "" : "primary"), fmt::arg("label", page.starred ? "Unstar" : "Star"));
}

std::string hold_status(const RepoPage& page) {
  if (page.hold_did.empty()) return {};
  std::string state = !page.hold_up ? std::string()
                      : *page.hold_up ? std::string(R"( <span class="badge ok" id="hold-state">reachable</span>)")
                                      : std::string(R"( <span class="badge bad" id="hold-state">unreachable</span>)");
  return fmt::format(R"(<span id="hold">Hold <code>{}</code>{}</span>)", html_escape(page.hold_did), state);
}

}  // namespace

std::string format_age(std::string_view datetime, std::chrono::system_clock::time_point now) {
  auto then = parse_datetime(datetime);
  if (!then) return {};
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - *then).count();
  if (seconds < 60) return "just now";
  auto ago = [](long long n, const char* unit) { return fmt::format("{} {}{} ago", n, unit, n == 1 ? "" : "s"); };
  if (seconds < 3600) return ago(seconds / 60, "minute");
  if (seconds < 86400) return ago(seconds / 3600, "hour");
  if (seconds < 86400 * 60) return ago(seconds / 86400, "day");
  if (seconds < 86400 * 730) return ago(seconds / (86400 * 30), "month");
  return ago(seconds / (86400 * 365), "year");
}

RepoCard card_of(const index::RepositorySummary& s) {
  return {.did = s.owner.did, .handle = s.owner.handle, .repository = s.repository, .description = s.description,
          .updated_at = s.last_push, .stars = s.star_count, .pulls = s.pull_count, .avatar_cid = s.avatar_cid};
}

std::vector<RepoCard> cards_of(const std::vector<index::RepositorySummary>& summaries) {
  std::vector<RepoCard> out;
  for (const auto& s : summaries) out.push_back(card_of(s));
  return out;
}

std::pair<std::string, bool> scan_summary(const index::ScanInfo& scan) {
  if (scan.status == "failed" || scan.status == "skipped") return {"scan " + scan.status, false};
  std::string out;
  for (auto [n, level] : {std::pair{scan.critical, "critical"}, {scan.high, "high"}, {scan.medium, "medium"},
                          {scan.low, "low"}})
    if (n > 0) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, level);
  return out.empty() ? std::pair{std::string("no known vulnerabilities"), true} : std::pair{out, false};
}

TagRow tag_row_of(const index::TagInfo& t) {
  TagRow row{.tag = t.tag, .digest = t.digest, .media_type = t.media_type,
             .size = static_cast<std::uint64_t>(std::max<std::int64_t>(t.size, 0)), .created_at = t.created_at};
  for (const auto& p : t.platforms) {
    if (p.os == "unknown") continue;  // attestation manifests
    row.platforms.push_back(p.os + "/" + p.architecture + (p.variant.empty() ? "" : "/" + p.variant));
  }
  if (t.scan) std::tie(row.scan, row.scan_clean) = scan_summary(*t.scan);
  return row;
}

std::string repo_path(std::string_view identity, std::string_view repository) {
  std::string path = "/r/" + net::url_encode(identity) + "/";
  while (true) {
    auto slash = repository.find('/');
    path += net::url_encode(repository.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path += '/';
    repository.remove_prefix(slash + 1);
  }
  return path;
}

std::string summary_line(std::string_view markdown) {
  while (!markdown.empty()) {
    auto end = markdown.find('\n');
    std::string_view line = markdown.substr(0, end);
    markdown = end == std::string_view::npos ? std::string_view() : markdown.substr(end + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#' || line.front() == '<' || line.front() == '!' || line.front() == '|' ||
        line.starts_with("```") || line.starts_with("---") || line.starts_with("==="))
      continue;
    std::string out;
    for (char c : line.substr(0, 300))
      if (c != '*' && c != '_' && c != '`') out += c;
    return out;
  }
  return {};
}

std::string repo_ref(const RepoCard& repo) {
  return repo_ref_identity(repo) + "/" + repo.repository;
}

const std::vector<std::string>& oci_clients() {
  static const std::vector<std::string> clients = {"docker", "podman", "buildah", "nerdctl", "crane", "none"};
  return clients;
}

std::string pull_command(std::string_view oci_client, std::string_view reference) {
  if (oci_client == "podman" || oci_client == "buildah" || oci_client == "nerdctl")
    return fmt::format("{} pull {}", oci_client, reference);
  if (oci_client == "crane") return fmt::format("crane pull {} image.tar", reference);
  return fmt::format("docker pull {}", reference);
}

std::string avatar_href(const RepoCard& repo) {
  if (repo.avatar_cid.empty()) return {};
  return repo_path(repo_ref_identity(repo), repo.repository) + "/-/avatar?cid=" + net::url_encode(repo.avatar_cid);
}

namespace {
// The avatar as an <img> of `px` square, "" without one.
std::string avatar_img(const RepoCard& repo, int px) {
  std::string href = avatar_href(repo);
  if (href.empty()) return {};
  return fmt::format(R"(<img class="avatar" src="{}" alt="" width="{}" height="{}">)", html_escape(href), px, px);
}
}  // namespace

std::string repo_cards(const std::vector<RepoCard>& repos, std::string_view empty_message) {
  if (repos.empty()) return fmt::format(R"(<p class="muted empty">{}</p>)", html_escape(empty_message));
  std::string out = "<ul class=\"cards\">";
  auto now = std::chrono::system_clock::now();
  for (const RepoCard& r : repos) {
    out += fmt::format(
        R"(<li class="card repo"><div class="name">{avatar}<a href="{user}">{owner}</a> / <a class="repo-link" href="{href}">{repo}</a></div>)"
        R"(<p class="description">{description}</p><p class="muted">&#9733; <span class="stars">{stars}</span> &middot; )"
        R"({pulls} pulls{age}</p></li>)",
        fmt::arg("avatar", avatar_img(r, 24)), fmt::arg("user", user_href(r)),
        fmt::arg("owner", html_escape(r.handle.empty() ? r.did : r.handle)),
        fmt::arg("href", repo_href(r)), fmt::arg("repo", html_escape(r.repository)),
        fmt::arg("description", html_escape(r.description.substr(0, 200))), fmt::arg("stars", r.stars),
        fmt::arg("pulls", r.pulls),
        fmt::arg("age", r.updated_at.empty() ? std::string()
                                             : " &middot; " + html_escape(format_age(r.updated_at, now))));
  }
  return out + "</ul>";
}

std::string repo_page_body(const RepoPage& page, std::string_view csrf_field) {
  std::string latest = page.tags.empty() ? std::string("latest") : page.tags.front().tag;
  std::string ref = page.registry + "/" + repo_ref(page.repo);
  std::string readme = page.readme.empty()
                           ? std::string(R"(<p class="muted">No README yet.</p>)")
                           : render_markdown(page.readme);
  std::string edit = page.can_edit ? fmt::format(R"( <a id="edit" href="{}/-/edit">Edit page</a>)", repo_href(page.repo))
                                   : std::string();
  std::string tags = page.tags.empty()
                         ? std::string(R"(<p class="muted" id="no-tags">No tags.</p>)")
                         : "<table id=\"tags\"><tr><th>Tag</th><th>Digest</th><th>Size</th><th>Pushed</th>"
                           "<th>Platforms</th><th>Scan</th><th>Pull</th></tr>" + tag_rows(page) + "</table>";
  return fmt::format(
      R"(<p class="owner">{avatar}by <a href="{user}">{owner}</a>{edit}</p>)"
      R"(<div class="stats">{star}<span>&#9733; <b id="star-count">{stars}</b> stars</span>)"
      R"(<span><b id="pull-count">{pulls}</b> pulls</span>{hold}</div>)"
      R"(<h2>Pull this image</h2><div class="pull"><pre id="pull-command">{pull}</pre>)"
      R"(<button type="button" data-copy="pull-command" hidden>Copy</button></div>)"
      R"(<h2>Tags</h2>{tags}<section class="readme" id="readme">{readme}</section>)",
      fmt::arg("avatar", avatar_img(page.repo, 64)), fmt::arg("user", user_href(page.repo)),
      fmt::arg("owner", html_escape(page.repo.handle.empty() ? page.repo.did : page.repo.handle)),
      fmt::arg("edit", edit), fmt::arg("star", star_form(page, csrf_field)), fmt::arg("stars", page.repo.stars),
      fmt::arg("pulls", page.repo.pulls), fmt::arg("hold", hold_status(page)),
      fmt::arg("pull", html_escape(pull_command(page.oci_client, ref + ":" + latest))), fmt::arg("tags", tags),
      fmt::arg("readme", readme));
}

std::string repo_meta(const RepoPage& page, std::string_view public_url) {
  std::string title = repo_ref(page.repo);
  std::string description = page.repo.description.empty() ? "A container image on ATCR" : page.repo.description;
  std::string url = std::string(public_url) + repo_path(repo_ref_identity(page.repo), page.repo.repository);
  return fmt::format(
      R"(<meta property="og:type" content="website"><meta property="og:site_name" content="ATCR">)"
      R"(<meta property="og:title" content="{title}"><meta property="og:description" content="{description}">)"
      R"(<meta property="og:url" content="{url}"><meta name="twitter:card" content="summary">)"
      R"(<meta name="description" content="{description}">{image})",
      fmt::arg("title", html_escape(title)), fmt::arg("description", html_escape(description.substr(0, 300))),
      fmt::arg("url", html_escape(url)),
      fmt::arg("image", page.repo.avatar_cid.empty()
                            ? std::string()
                            : fmt::format(R"(<meta property="og:image" content="{}">)",
                                          html_escape(std::string(public_url) + avatar_href(page.repo)))));
}

std::string pager(std::string_view base_query, int page, bool has_next) {
  if (page <= 1 && !has_next) return {};
  std::string out = "<nav class=\"pager\">";
  if (page > 1)
    out += fmt::format(R"(<a id="prev" href="?{}&amp;page={}">&larr; Previous</a>)", html_escape(base_query), page - 1);
  if (has_next)
    out += fmt::format(R"(<a id="next" href="?{}&amp;page={}">Next &rarr;</a>)", html_escape(base_query), page + 1);
  return out + "</nav>";
}

}  // namespace atcr::appview::web

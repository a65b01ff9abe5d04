// The web UI's repository and user pages:
//   GET  /r/<handle>/<repo>           README, tags, pull command, stars, pulls, hold, scans
//   POST /r/<handle>/<repo>/-/star    (CSRF) star=true|false: io.atcr.sailor.star in the viewer's PDS
//   GET  /r/<handle>/<repo>/-/edit    the owner's editor of io.atcr.repo.page
//   POST /r/<handle>/<repo>/-/edit    (CSRF) writes it through the owner's OAuth session
//   GET  /r/<handle>/<repo>/-/avatar  the repository page's avatar (checked image bytes; see web/avatars.h)
//   GET  /u/<handle>                  a user's repositories and stars
// Records are read from the owner's PDS (the truth); counts from the index.
#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "appview/appview_impl.h"
#include "appview/web/markdown.h"
#include "appview/web/views.h"
#include "atcr/data/datetime.h"
#include "atcr/data/syntax.h"
#include "atcr/log.h"
#include "atcr/oci/hold_records.h"
#include "atcr/oci/records.h"
#include "atcr/xrpc/client.h"
#include "atcr/xrpc/error.h"

namespace atcr::appview {

namespace {

constexpr int kListPages = 5;          // listRecords pages read per collection for a page view
constexpr std::size_t kMaxTags = 50;   // tags shown
constexpr std::size_t kScannedTags = 5;  // tags whose scan record is looked up

std::string string_field(const Value& v, std::string_view key) {
  const Value* f = v.find(key);
  return f && f->is_string() ? f->as_string() : std::string();
}

std::int64_t int_field(const Value& v, std::string_view key) {
  const Value* f = v.find(key);
  return f && f->is_integer() ? f->as_integer() : 0;
}

std::string platform_text(const oci::Platform& p) {
  return p.os + "/" + p.architecture + (p.variant.empty() ? "" : "/" + p.variant);
}

std::uint64_t image_size(const oci::ManifestRecord& m) {
  std::uint64_t size = m.config ? static_cast<std::uint64_t>(m.config->size) : 0;
  for (const auto& l : m.layers) size += static_cast<std::uint64_t>(std::max<std::int64_t>(l.size, 0));
  return size;
}

// The CID of a record's blob field `key` ({ref: {$link}}), "" if none.
std::string blob_cid(const Value& record, std::string_view key) {
  const Value* blob = record.find(key);
  const Value* ref = blob && blob->is_map() ? blob->find("ref") : nullptr;
  return ref && ref->is_link() ? ref->as_link().to_string() : std::string();
}

// An io.atcr.hold.scan record read from the hold (a page the index has not seen).
index::ScanInfo scan_of(const Value& scan) {
  return {.status = string_field(scan, "status"), .critical = int_field(scan, "critical"),
          .high = int_field(scan, "high"), .medium = int_field(scan, "medium"), .low = int_field(scan, "low")};
}

}  // namespace

std::string repo_page_rkey(std::string_view repository) {
  std::string key(repository);
  std::replace(key.begin(), key.end(), '/', '~');
  return key;
}

std::string star_subject(const std::string& owner_did, std::string_view repository) {
  return fmt::format("at://{}/{}/{}", owner_did, kRepoPageCollection, repo_page_rkey(repository));
}

std::optional<WebOwner> Appview::Impl::web_owner(const std::string& identity) {
  std::string normalized;
  try {
    normalized = oci::normalize_identity(identity);
  } catch (const oci::RegistryError&) {
    return std::nullopt;
  }
  try {
    auto [did, pds] = resolve_identity(normalized);
    std::string handle = normalized.starts_with("did:") ? verified_handle(did) : normalized;
    return WebOwner{did, pds, handle};
  } catch (const oci::RegistryError&) {
    return std::nullopt;
  }
}

Target WebOwner::target(std::string_view repository) const {
  Target t;
  t.did = did;
  t.pds_url = pds_url;
  t.name.identity = did;
  t.name.repository = std::string(repository);
  return t;
}

std::optional<Value> Appview::Impl::hold_record(const std::string& hold_did, std::string_view collection,
                                                const std::string& rkey) {
  try {
    Target hold;
    hold.did = hold_did;
    hold.pds_url = hold_client(hold_did).hold().url;
    return get_record(hold, collection, rkey);
  } catch (const Error& e) {
    log::debug("appview", "reading {} {}/{}: {}", hold_did, collection, rkey, e.what());
    return std::nullopt;
  }
}

std::vector<RecordEntry> Appview::Impl::stars_of(const std::string& did) {
  auto owner = web_owner(did);
  if (!owner) return {};
  return list_record_entries(owner->target(""), kStarCollection, kListPages);
}

std::string Appview::Impl::oci_client_of(const std::string& did) {
  auto owner = web_owner(did);
  if (!owner) return {};
  auto profile = get_record(owner->target(""), kProfileCollection, "self");
  return profile ? string_field(*profile, "ociClient") : std::string();
}

// Tags newest first, each with its manifest's size, platforms and hold.
void Appview::Impl::load_tags(const Target& t, web::RepoPage& page) {
  std::map<std::string, oci::ManifestRecord> manifests;  // digest -> record, this repository's
  for (const RecordEntry& e : list_record_entries(t, oci::kManifestCollection, kListPages)) {
    try {
      auto m = oci::ManifestRecord::from_value(e.value);
      if (m.repository == t.name.repository) manifests.emplace(m.digest.str(), std::move(m));
    } catch (const ParseError&) {
    }
  }
  std::vector<oci::TagRecord> tags;
  for (const RecordEntry& e : list_record_entries(t, oci::kTagCollection, kListPages)) {
    try {
      auto tag = oci::TagRecord::from_value(e.value);
      if (tag.repository == t.name.repository && tag.digest()) tags.push_back(std::move(tag));
    } catch (const ParseError&) {
    }
  }
  auto when = [](const oci::TagRecord& r) { return r.updated_at.empty() ? r.created_at : r.updated_at; };
  std::sort(tags.begin(), tags.end(), [&](const auto& a, const auto& b) { return when(a) > when(b); });
  std::string latest_hold_at;
  for (const auto& tag : tags) {
    if (page.tags.size() == kMaxTags) break;
    web::TagRow row{.tag = tag.tag, .digest = tag.digest()->str(), .created_at = when(tag)};
    if (auto m = manifests.find(row.digest); m != manifests.end()) {
      const oci::ManifestRecord& r = m->second;
      row.media_type = r.media_type;
      row.size = image_size(r);
      for (const auto& child : r.manifests) {
        if (!child.platform || child.platform->os == "unknown") continue;  // attestations
        row.platforms.push_back(platform_text(*child.platform));
        if (auto c = manifests.find(child.digest.str()); c != manifests.end()) row.size += image_size(c->second);
      }
      if (!r.hold_did.empty() && r.created_at >= latest_hold_at) {
        page.hold_did = r.hold_did;
        latest_hold_at = r.created_at;
      }
    }
    page.tags.push_back(std::move(row));
  }
  if (page.tags.empty() && !manifests.empty()) page.hold_did = manifests.begin()->second.hold_did;
  if (!page.repo.updated_at.empty() || page.tags.empty()) return;
  page.repo.updated_at = page.tags.front().created_at;
}

// The hold's view: reachable, pull count, scan records of the newest tags.
void Appview::Impl::load_hold_facts(const Target& t, web::RepoPage& page) {
  if (page.hold_did.empty()) return;
  try {
    page.hold_up = hold_health->reachable(hold_client(page.hold_did).hold().url);
  } catch (const Error&) {
    page.hold_up = false;
  }
  if (!*page.hold_up) return;
  if (auto stats = hold_record(page.hold_did, oci::kStatsCollection, oci::stats_rkey(t.did, t.name.repository)))
    page.repo.pulls = std::max(page.repo.pulls, int_field(*stats, "pullCount"));
  for (std::size_t i = 0; i < page.tags.size() && i < kScannedTags; ++i) {
    web::TagRow& row = page.tags[i];
    if (!row.scan.empty()) continue;  // the index has it
    auto colon = row.digest.find(':');
    if (colon == std::string::npos) continue;
    if (auto scan = hold_record(page.hold_did, kScanCollection, row.digest.substr(colon + 1)))
      std::tie(row.scan, row.scan_clean) = web::scan_summary(scan_of(*scan));
  }
}

std::optional<web::RepoPage> Appview::Impl::indexed_repo_page(const WebOwner& owner, const std::string& repository,
                                                              const std::optional<web::WebUser>& viewer) {
  auto detail = network_index->repository(owner.did, repository, viewer ? viewer->did : std::string());
  if (!detail) return std::nullopt;
  web::RepoPage page;
  page.repo = web::card_of(detail->summary);
  page.repo.handle = owner.handle;
  page.readme = detail->readme;
  if (page.repo.description.empty()) page.repo.description = web::summary_line(page.readme);
  for (const auto& tag : detail->tags)
    if (page.tags.size() < kMaxTags && !tag.digest.empty()) page.tags.push_back(web::tag_row_of(tag));
  page.hold_did = detail->hold_did;
  page.starred = detail->viewer_starred;
  return page;
}

std::optional<web::RepoPage> Appview::Impl::pds_repo_page(const WebOwner& owner, const std::string& repository) {
  Target t = owner.target(repository);
  web::RepoPage page;
  page.repo = {.did = owner.did, .handle = owner.handle, .repository = repository};
  std::optional<Value> record = get_record(t, kRepoPageCollection, repo_page_rkey(repository));
  if (record) {
    page.readme = string_field(*record, "description");
    page.repo.description = web::summary_line(page.readme);
    page.repo.updated_at = string_field(*record, "updatedAt");
    page.repo.avatar_cid = blob_cid(*record, "avatar");
  }
  load_tags(t, page);
  if (!record && page.tags.empty()) return std::nullopt;
  return page;
}

// From the index when it knows the repository (fast, with star counts),
// else from the owner's PDS; then what the hold and the viewer add.
std::optional<web::RepoPage> Appview::Impl::load_repo_page(const WebOwner& owner, const std::string& repository,
                                                           const std::optional<web::WebUser>& viewer) {
  bool indexed = true;
  std::optional<web::RepoPage> page = indexed_repo_page(owner, repository, viewer);
  if (!page) {
    indexed = false;
    page = pds_repo_page(owner, repository);
  }
  if (!page) return std::nullopt;
  page->registry = config.server.service;
  load_hold_facts(owner.target(repository), *page);
  if (viewer) {
    page->can_edit = viewer->did == owner.did;
    auto profile = network_index->profile(viewer->did);
    page->oci_client = profile ? profile->oci_client : oci_client_of(viewer->did);
    if (!indexed) {
      std::string subject = star_subject(owner.did, repository);
      for (const RecordEntry& e : stars_of(viewer->did))
        if (string_field(e.value, "subject") == subject) page->starred = true;
    }
  }
  return page;
}

void Appview::Impl::index_own_write(const std::string& did, std::string_view collection, const std::string& rkey,
                                    std::optional<Value> record) {
  index::RecordChange change{.did = did, .collection = std::string(collection), .rkey = rkey,
                             .action = record ? index::RecordAction::kCreate : index::RecordAction::kDelete,
                             .record = record ? std::move(*record) : Value(), .cid = ""};
  try {
    network_index->apply(change);
  } catch (const StorageError& e) {
    log::warn("appview", "indexing {}'s {}/{}: {}", did, collection, rkey, e.what());
  }
}

xrpc::ServerResponse Appview::Impl::repo_page(const xrpc::ServerRequest& req) {
  auto viewer = web_sessions->current(req);
  auto owner = web_owner(req.path_params[0]);
  if (!owner) return web_sessions->error_page(viewer, 404, "Not found", "No such user: " + req.path_params[0]);
  const std::string& repository = req.path_params[1];
  std::optional<web::RepoPage> page;
  if (oci::is_valid_repository(repository)) page = load_repo_page(*owner, repository, viewer);
  if (!page) return web_sessions->error_page(viewer, 404, "Not found", "No such repository: " + repository);
  std::string csrf = viewer ? web_sessions->csrf_field(*viewer) : std::string();
  return web_sessions->page(viewer, web::repo_ref(page->repo), web::repo_page_body(*page, csrf), 200,
                            web::repo_meta(*page, config.server.public_url));
}

// The avatar the repository's page names now (the index's, else the PDS
// record's), from its owner's PDS through the checks and cache of
// web::AvatarCache. No such repository or avatar: 404. An avatar that
// fails the checks, or a ?cid= that is no longer the avatar: a redirect to
// the site's icon (pages show a placeholder, not a broken image).
xrpc::ServerResponse Appview::Impl::repo_avatar(const xrpc::ServerRequest& req) {
  auto missing = [] {
    auto r = xrpc::ServerResponse::text("no such avatar\n", "text/plain; charset=utf-8", 404);
    r.header("Cache-Control", "public, max-age=60");
    return r;
  };
  const std::string& repository = req.path_params[1];
  auto owner = oci::is_valid_repository(repository) ? web_owner(req.path_params[0]) : std::nullopt;
  if (!owner) return missing();
  std::string cid;
  if (auto detail = network_index->repository(owner->did, repository)) {
    cid = detail->summary.avatar_cid;
  } else if (auto record = get_record(owner->target(repository), kRepoPageCollection, repo_page_rkey(repository))) {
    cid = blob_cid(*record, "avatar");
  }
  if (cid.empty()) return missing();
  std::string asked = req.param("cid").value_or("");
  auto avatar = asked.empty() || asked == cid ? avatars->get(owner->pds_url, owner->did, cid) : nullptr;
  if (!avatar) {
    auto r = xrpc::ServerResponse::empty(303);
    r.header("Location", "/favicon.ico").header("Cache-Control", "public, max-age=60");
    return r;
  }
  auto r = xrpc::ServerResponse::bytes(avatar->bytes, avatar->content_type);
  // The URL names the CID: its bytes never change.
  r.header("Cache-Control", asked.empty() ? "public, max-age=300" : "public, max-age=31536000, immutable");
  r.header("X-Content-Type-Options", "nosniff");
  r.header("Content-Security-Policy", "default-src 'none'; sandbox");
  return r;
}

xrpc::ServerResponse Appview::Impl::stale_form(const xrpc::ServerRequest& req, std::string_view title) {
  return web_sessions->error_page(web_sessions->current(req), 403, title,
                                  "The form was stale or not from this site (CSRF check); reload the page and try again.");
}

xrpc::ServerResponse Appview::Impl::session_ended(const web::WebUser& user, std::string_view title) {
  return web_sessions->error_page(user, 401, title, "Your PDS session has ended: log out and sign in again.");
}

xrpc::ServerResponse Appview::Impl::star_repo(const xrpc::ServerRequest& req) {
  auto form = req.form();
  auto user = web_sessions->user_of_form(req, form);
  if (!user) return stale_form(req, "Not starred");
  std::string want = web::field(form, "star");
  if (want != "true" && want != "false")
    return web_sessions->error_page(user, 400, "Not starred", "Say star=true or star=false.");
  const std::string& repository = req.path_params[1];
  auto owner = oci::is_valid_repository(repository) ? web_owner(req.path_params[0]) : std::nullopt;
  if (!owner) return web_sessions->error_page(user, 404, "Not starred", "No such repository.");
  auto session = oauth_session_of(user->did);
  if (!session) return session_ended(*user, "Not starred");
  std::string subject = star_subject(owner->did, repository);
  bool starred = false;
  for (const RecordEntry& e : stars_of(user->did)) {
    if (string_field(e.value, "subject") != subject) continue;
    if (want == "false") {
      session->delete_record(kStarCollection, e.rkey);
      index_own_write(user->did, kStarCollection, e.rkey, std::nullopt);
    }
    starred = true;
  }
  if (want == "true" && !starred) {
    Value star(Value::Map{{"$type", Value(kStarCollection)}, {"subject", Value(subject)},
                          {"createdAt", Value(now_datetime())}});
    std::string rkey = tids.next().to_string();
    session->create_record(kStarCollection, star, rkey);
    index_own_write(user->did, kStarCollection, rkey, std::move(star));
  }
  log::info("appview", "{} {} {}", user->did, want == "true" ? "starred" : "unstarred", subject);
  return web::redirect(web::repo_path(owner->handle.empty() ? owner->did : owner->handle, repository));
}

xrpc::ServerResponse Appview::Impl::repo_editor(const xrpc::ServerRequest& req) {
  auto user = web_sessions->current(req);
  if (!user) return web::redirect("/login?return_to=" + net::url_encode(req.path));
  auto owner = web_owner(req.path_params[0]);
  const std::string& repository = req.path_params[1];
  if (!owner || !oci::is_valid_repository(repository))
    return web_sessions->error_page(user, 404, "Not found", "No such repository.");
  if (owner->did != user->did)
    return web_sessions->error_page(user, 403, "Not yours", "Only the owner edits a repository's page.");
  auto record = get_record(owner->target(repository), kRepoPageCollection, repo_page_rkey(repository));
  std::string body = fmt::format(
      R"(<form method="post" id="page-editor">{csrf}<p><label for="description">README (markdown, at most {max} bytes; )"
      R"(no HTML)</label><br><textarea id="description" name="description" maxlength="{max}">{text}</textarea></p>)"
      R"(<p><button type="submit" class="primary" id="save">Save</button> <a href="{back}">Cancel</a></p></form>)",
      fmt::arg("csrf", web_sessions->csrf_field(*user)), fmt::arg("max", web::kMaxMarkdownBytes),
      fmt::arg("text", web::html_escape(record ? string_field(*record, "description") : std::string())),
      fmt::arg("back", web::html_escape(web::repo_path(owner->handle.empty() ? owner->did : owner->handle, repository))));
  return web_sessions->page(user, "Edit " + repository, body);
}

xrpc::ServerResponse Appview::Impl::save_repo_page(const xrpc::ServerRequest& req) {
  auto form = req.form();
  auto user = web_sessions->user_of_form(req, form);
  if (!user) return stale_form(req, "Not saved");
  std::string description = web::field(form, "description");
  if (description.size() > web::kMaxMarkdownBytes)
    return web_sessions->error_page(user, 400, "Not saved",
                                    fmt::format("The README is {} bytes; at most {} fit.", description.size(),
                                                web::kMaxMarkdownBytes));
  const std::string& repository = req.path_params[1];
  auto owner = oci::is_valid_repository(repository) ? web_owner(req.path_params[0]) : std::nullopt;
  if (!owner) return web_sessions->error_page(user, 404, "Not saved", "No such repository.");
  if (owner->did != user->did)
    return web_sessions->error_page(user, 403, "Not saved", "Only the owner edits a repository's page.");
  auto session = oauth_session_of(user->did);
  if (!session) return session_ended(*user, "Not saved");
  std::string rkey = repo_page_rkey(repository);
  auto existing = get_record(owner->target(repository), kRepoPageCollection, rkey);
  Value::Map record = existing ? existing->as_map() : Value::Map{};
  std::string now = now_datetime();
  record["$type"] = Value(kRepoPageCollection);
  record["repository"] = Value(repository);
  record["description"] = Value(description);
  record["userEdited"] = Value(true);
  record["updatedAt"] = Value(now);
  if (!record.count("createdAt")) record["createdAt"] = Value(now);
  Value page(std::move(record));
  session->put_record(kRepoPageCollection, rkey, page);
  index_own_write(owner->did, kRepoPageCollection, rkey, std::move(page));
  return web::redirect(web::repo_path(owner->handle.empty() ? owner->did : owner->handle, repository));
}

// A user's repositories from their PDS (a user the index has not seen yet).
std::vector<web::RepoCard> Appview::Impl::pds_user_repos(const WebOwner& owner) {
  Target t = owner.target("");
  std::map<std::string, web::RepoCard> repos;  // by repository
  auto card = [&](const std::string& repository) -> web::RepoCard& {
    return repos.try_emplace(repository, web::RepoCard{.did = owner.did, .handle = owner.handle,
                                                       .repository = repository}).first->second;
  };
  for (const RecordEntry& e : list_record_entries(t, oci::kTagCollection, kListPages)) {
    std::string repository = string_field(e.value, "repository");
    if (!oci::is_valid_repository(repository)) continue;
    std::string when = string_field(e.value, "updatedAt");
    if (when.empty()) when = string_field(e.value, "createdAt");
    web::RepoCard& c = card(repository);
    c.updated_at = std::max(c.updated_at, when);
  }
  for (const RecordEntry& e : list_record_entries(t, kRepoPageCollection, kListPages)) {
    std::string repository = string_field(e.value, "repository");
    if (oci::is_valid_repository(repository))
      card(repository).description = web::summary_line(string_field(e.value, "description"));
  }
  std::vector<web::RepoCard> list;
  for (auto& [name, c] : repos) list.push_back(std::move(c));
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.updated_at > b.updated_at; });
  return list;
}

xrpc::ServerResponse Appview::Impl::user_page(const xrpc::ServerRequest& req) {
  auto viewer = web_sessions->current(req);
  auto owner = web_owner(req.path_params[0]);
  if (!owner) return web_sessions->error_page(viewer, 404, "Not found", "No such user: " + req.path_params[0]);
  auto repos = web::cards_of(network_index->user_repositories(owner->did, {.limit = 100, .offset = 0}));
  if (repos.empty()) repos = pds_user_repos(*owner);
  for (auto& r : repos) r.handle = owner->handle;
  auto starred = web::cards_of(network_index->user_stars(owner->did, {.limit = 100, .offset = 0}));
  std::string body = fmt::format(R"(<p class="muted"><code>{}</code></p><h2>Repositories</h2><div id="repos">{}</div>)"
                                 R"(<h2>Starred</h2><div id="stars">{}</div>)",
                                 web::html_escape(owner->did), web::repo_cards(repos, "No repositories yet."),
                                 web::repo_cards(starred, "No stars yet."));
  return web_sessions->page(viewer, owner->handle.empty() ? owner->did : owner->handle, body);
}

void Appview::Impl::register_repo_pages(xrpc::XrpcServer& server) {
  auto page = [this](PageHandler handler) { return web_page(handler); };
  // The /-/ routes first: "-" starts no repository path component.
  server.route("POST", "/r/([^/]+)/(.+)/-/star", page(&Impl::star_repo));
  server.route("GET", "/r/([^/]+)/(.+)/-/edit", page(&Impl::repo_editor));
  server.route("POST", "/r/([^/]+)/(.+)/-/edit", page(&Impl::save_repo_page));
  server.route("GET", "/r/([^/]+)/(.+)/-/avatar", page(&Impl::repo_avatar));
  server.route("GET", "/r/([^/]+)/(.+)", page(&Impl::repo_page));
  server.route("GET", "/u/([^/]+)", page(&Impl::user_page));
}

}  // namespace atcr::appview

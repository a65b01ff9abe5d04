// The admin panel's pages: crew, settings, storage (see admin_panel.h).
// Forms post back and land on their page again (303), which says what
// changed; every value shown is escaped.
#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <set>

#include "atcr/data/syntax.h"
#include "atcr/log.h"
#include "atcr/oci/hold_records.h"
#include "atcr/storage/blob_key.h"
#include "hold/admin/admin_panel.h"

namespace atcr::hold {

namespace {

using web::html_escape;
using Form = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kRoles[] = {"member", "read", "write", "admin"};
constexpr std::string_view kPermissions[] = {kBlobRead, kBlobWrite, kCrewAdmin};
constexpr std::size_t kMaxListedBlobs = 1'000'000;  // the storage page's listing bound
constexpr std::size_t kLargestRepositories = 20;

std::vector<std::string> all_values(const Form& form, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [key, value] : form)
    if (key == name && std::find(out.begin(), out.end(), value) == out.end()) out.push_back(value);
  return out;
}

std::string checked(bool on) { return on ? " checked" : ""; }
std::string selected(bool on) { return on ? " selected" : ""; }

std::string role_select(const std::string& current) {
  std::string html = R"(<select name="role">)";
  for (std::string_view role : kRoles)
    html += fmt::format(R"(<option value="{0}"{1}>{0}</option>)", role, selected(role == current));
  return html + "</select>";
}

std::string permission_boxes(const std::vector<std::string>& granted) {
  std::string html;
  for (std::string_view p : kPermissions) {
    bool on = std::find(granted.begin(), granted.end(), p) != granted.end();
    html += fmt::format(R"(<label><input type="checkbox" name="permissions" value="{0}"{1}> {0}</label> )", p,
                        checked(on));
  }
  return html;
}

std::string tier_select(const HoldConfig::Quota& quota, const std::string& current) {
  std::string html = fmt::format(R"(<select name="tier"><option value=""{}>default ({})</option>)",
                                 selected(current.empty()), html_escape(quota.default_tier));
  for (const auto& [name, bytes] : quota.tiers)
    html += fmt::format(R"(<option value="{0}"{1}>{0} ({2})</option>)", html_escape(name), selected(name == current),
                        format_size(bytes));
  return html + "</select>";
}

// The crew record a form describes (role, permissions, tier) for `did`.
CrewMember member_of_form(const Form& form, std::string did) {
  CrewMember m;
  m.member = std::move(did);
  m.role = web::field(form, "role");
  if (std::find(std::begin(kRoles), std::end(kRoles), m.role) == std::end(kRoles))
    throw ParseError("choose a role: member, read, write or admin");
  m.permissions = all_values(form, "permissions");
  m.tier = web::field(form, "tier");
  return m;
}

xrpc::ServerResponse back_to(std::string_view page, std::string_view done) {
  return web::redirect(fmt::format("{}?done={}", page, net::url_encode(done)));
}

struct UserStorage {
  std::set<std::string> digests;
  std::uint64_t bytes = 0;
};

}  // namespace

std::string done_notice(const xrpc::ServerRequest& req) {
  std::string text = req.param("done").value_or("");
  if (text.empty() || text.size() > 300) return {};
  return fmt::format(R"(<p class="notice" id="notice">{}</p>)", html_escape(text));
}

std::string AdminPanel::member_did(const std::string& typed) {
  std::string input = web::account_input(typed);
  if (input.empty()) throw ParseError("enter the member's handle or DID");
  if (input.starts_with("did:")) {
    if (!syntax::is_valid_did(input)) throw ParseError(fmt::format("'{}' is not a DID", input));
    return input;
  }
  if (!syntax::is_valid_handle(input)) throw ParseError(fmt::format("'{}' is neither a handle nor a DID", input));
  return hold_.resolver->resolve_handle(input);
}

std::string AdminPanel::who_html(const std::string& did) {
  std::string handle;
  try {
    handle = hold_.resolver->resolve(did).handle.value_or("");
  } catch (const Error&) {
    // shown by DID alone
  }
  if (handle.empty()) return fmt::format("<code>{}</code>", html_escape(did));
  return fmt::format("@{} <code>{}</code>", html_escape(handle), html_escape(did));
}

xrpc::ServerResponse AdminPanel::crew_page(const xrpc::ServerRequest& req, const web::WebUser& user) {
  std::string owner = hold_.access.captain().owner;
  std::string csrf = sessions_.csrf_field(user);
  std::string rows;
  for (const CrewMember& m : hold_.crew_members()) {
    std::string did = html_escape(m.member);
    if (m.member == owner) {
      rows += fmt::format(R"(<tr data-did="{}"><td>{}</td><td colspan="3">owner: every permission, no quota</td></tr>)",
                          did, who_html(m.member));
      continue;
    }
    rows += fmt::format(
        R"(<tr data-did="{did}"><td>{who}<br><small>since {added}</small></td>)"
        R"(<td><form method="post" action="/admin/crew/update" class="update">{csrf})"
        R"(<input type="hidden" name="did" value="{did}">{role} {perms} {tier} <button>Save</button></form></td>)"
        R"(<td><form method="post" action="/admin/crew/remove" class="remove">{csrf})"
        R"(<input type="hidden" name="did" value="{did}"><button>Remove</button></form></td></tr>)",
        fmt::arg("did", did), fmt::arg("who", who_html(m.member)), fmt::arg("added", html_escape(m.added_at)),
        fmt::arg("csrf", csrf), fmt::arg("role", role_select(m.role)), fmt::arg("perms", permission_boxes(m.permissions)),
        fmt::arg("tier", tier_select(hold_.config.quota, m.tier)));
  }
  std::string body = fmt::format(
      R"({notice}<table id="crew"><tr><th>Member</th><th>Role, permissions, tier</th><th></th></tr>{rows}</table>)"
      R"(<h2>Add a member</h2><form method="post" action="/admin/crew/add" id="add-crew">{csrf})"
      R"(<p><label for="member">Handle or DID</label><br><input type="text" id="member" name="member" required></p>)"
      R"(<p>{role} {perms} {tier}</p><p><button id="add">Add</button></p></form>)",
      fmt::arg("notice", done_notice(req)), fmt::arg("rows", rows), fmt::arg("csrf", csrf),
      fmt::arg("role", role_select("write")),
      fmt::arg("perms", permission_boxes({std::string(kBlobRead), std::string(kBlobWrite)})),
      fmt::arg("tier", tier_select(hold_.config.quota, "")));
  return sessions_.page(user, "Crew", body);
}

xrpc::ServerResponse AdminPanel::crew_add(const xrpc::ServerRequest& req, const web::WebUser& user) {
  Form form = req.form();
  CrewMember stored = hold_.put_crew(member_of_form(form, member_did(web::field(form, "member"))));
  log::info("hold-admin", "{} added {} to the crew", user.did, stored.member);
  return back_to("/admin/crew", fmt::format("{} is crew ({}).", stored.member, stored.role));
}

xrpc::ServerResponse AdminPanel::crew_update(const xrpc::ServerRequest& req, const web::WebUser&) {
  Form form = req.form();
  std::string did = web::field(form, "did");
  if (!syntax::is_valid_did(did)) throw ParseError("no member was named");
  CrewMember stored = hold_.put_crew(member_of_form(form, did));
  return back_to("/admin/crew", fmt::format("{} updated ({}).", stored.member, stored.role));
}

xrpc::ServerResponse AdminPanel::crew_remove(const xrpc::ServerRequest& req, const web::WebUser& user) {
  std::string did = web::field(req.form(), "did");
  if (!syntax::is_valid_did(did)) throw ParseError("no member was named");
  if (!hold_.remove_crew(did))
    return sessions_.error_page(user, 404, "Not removed", fmt::format("{} is not in the crew (removed already?).", did));
  log::info("hold-admin", "{} removed {} from the crew", user.did, did);
  return back_to("/admin/crew", fmt::format("{} is no longer crew.", did));
}

xrpc::ServerResponse AdminPanel::settings_page(const xrpc::ServerRequest& req, const web::WebUser& user) {
  CaptainSettings s = CaptainSettings::of(hold_.access.captain());
  std::string body = fmt::format(
      R"({notice}<form method="post" action="/admin/settings" id="settings">{csrf})"
      R"(<p><label><input type="checkbox" name="public" id="public"{pub}> Public: anyone may pull</label></p>)"
      R"(<p><label><input type="checkbox" name="allow_all_crew" id="allow_all_crew"{all}> )"
      R"(Anyone signed in may join the crew and push</label></p>)"
      R"(<p><label><input type="checkbox" name="bluesky_posts" id="bluesky_posts"{posts}> )"
      R"(Announce pushes with Bluesky posts from the hold's account</label></p>)"
      R"(<p><button id="save">Save</button></p></form>)"
      R"(<p><small>Written to the captain record. A restart keeps them unless the config file changes them.</small></p>)",
      fmt::arg("notice", done_notice(req)), fmt::arg("csrf", sessions_.csrf_field(user)), fmt::arg("pub", checked(s.is_public)),
      fmt::arg("all", checked(s.allow_all_crew)), fmt::arg("posts", checked(s.bluesky_posts)));
  return sessions_.page(user, "Settings", body);
}

xrpc::ServerResponse AdminPanel::settings_save(const xrpc::ServerRequest& req, const web::WebUser& user) {
  Form form = req.form();
  CaptainSettings s{!web::field(form, "public").empty(), !web::field(form, "allow_all_crew").empty(),
                    !web::field(form, "bluesky_posts").empty()};
  hold_.set_captain_settings(s);
  log::info("hold-admin", "{} saved the settings", user.did);
  return back_to("/admin/settings", "Settings saved.");
}

xrpc::ServerResponse AdminPanel::storage_page(const xrpc::ServerRequest&, const web::WebUser& user) {
  // What the layer records charge (each digest once per user, as quotas
  // count) and per repository.
  std::map<std::string, UserStorage> users;
  std::map<std::pair<std::string, std::string>, UserStorage> repositories;
  for_each_record(*hold_.pds, oci::kLayerCollection, [&](const pds::ListedRecord& r) {
    std::optional<oci::LayerRecord> layer;
    try {
      layer = oci::LayerRecord::from_value(r.value);
    } catch (const ParseError&) {
      return;
    }
    auto size = static_cast<std::uint64_t>(layer->size);
    std::string digest = layer->digest.str();
    if (UserStorage& u = users[layer->user_did]; u.digests.insert(digest).second) u.bytes += size;
    std::string repo = layer->repository.empty() ? "(unnamed)" : layer->repository;
    if (UserStorage& s = repositories[{layer->user_did, repo}]; s.digests.insert(digest).second) s.bytes += size;
  });

  std::string owner = hold_.access.captain().owner;
  std::string user_rows;
  for (const auto& [did, u] : users) {
    std::optional<CrewMember> crew = hold_.access.crew(did);
    Limit limit = limit_for(hold_.config.quota, did == owner, crew ? crew->tier : "");
    user_rows += fmt::format(R"(<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>)", who_html(did),
                             u.digests.size(), format_size(u.bytes),
                             html_escape(did == owner ? "owner" : limit.tier.empty() ? "-" : limit.tier),
                             limit.bytes ? format_size(*limit.bytes) : "unlimited");
  }
  std::vector<std::pair<std::uint64_t, std::pair<std::string, std::string>>> largest;
  for (const auto& [key, s] : repositories) largest.push_back({s.bytes, key});
  std::sort(largest.begin(), largest.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  if (largest.size() > kLargestRepositories) largest.resize(kLargestRepositories);
  std::string repo_rows;
  for (const auto& [bytes, key] : largest)
    repo_rows += fmt::format(R"(<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>)", html_escape(key.second),
                             who_html(key.first), format_size(bytes));

  // What the store holds, bounded.
  std::size_t blobs = 0;
  std::uint64_t blob_bytes = 0;
  std::string continuation;
  do {
    storage::ListPage page = hold_.store->list(storage::kBlobsPrefix, continuation);
    for (const storage::ListedKey& k : page.keys) {
      if (!k.key.ends_with("/data")) continue;
      ++blobs;
      blob_bytes += k.size;
    }
    continuation = page.continuation;
  } while (!continuation.empty() && blobs < kMaxListedBlobs);

  std::string body = fmt::format(
      R"(<p id="blobs">{blobs}{more} blob(s) stored, {bytes}.</p>)"
      R"(<h2>Usage by user</h2><table id="usage"><tr><th>User</th><th>Blobs</th><th>Size</th><th>Tier</th><th>Quota</th></tr>{users}</table>)"
      R"(<h2>Largest repositories</h2><table id="repositories"><tr><th>Repository</th><th>Owner</th><th>Size</th></tr>{repos}</table>)",
      fmt::arg("blobs", blobs), fmt::arg("more", continuation.empty() ? "" : "+"),
      fmt::arg("bytes", format_size(blob_bytes)), fmt::arg("users", user_rows), fmt::arg("repos", repo_rows));
  return sessions_.page(user, "Storage", body);
}

}  // namespace atcr::hold

// The web UI's settings:
//   GET  /settings   default hold and OCI client (io.atcr.sailor.profile),
//                    devices, crews and storage used on the holds
//   POST /settings   (CSRF) writes the profile through the OAuth session
#include <fmt/core.h>

#include <algorithm>
#include <set>

#include "appview/appview_impl.h"
#include "appview/web/views.h"
#include "atcr/data/datetime.h"
#include "atcr/data/syntax.h"
#include "atcr/log.h"
#include "atcr/oci/hold_records.h"
#include "atcr/xrpc/client.h"

namespace atcr::appview {

namespace {

using oci::kCrewCollection;
constexpr int kCrewPages = 5;

std::string text_of(const Value* v) { return v && v->is_string() ? v->as_string() : std::string(); }

std::string client_options(const std::string& chosen) {
  std::string out;
  for (const std::string& c : web::oci_clients())
    out += fmt::format(R"(<option value="{0}"{1}>{0}</option>)", c,
                       c == chosen || (chosen.empty() && c == "docker") ? " selected" : "");
  return out;
}

}  // namespace

// One hold's row: the user's crew role there and the storage they use.
std::string Appview::Impl::hold_usage_row(const std::string& hold_did, const std::string& did) {
  std::string role = "-", used = "-", limit = "-";
  bool up = false;
  try {
    HoldClient hold = hold_client(hold_did);
    up = hold_health->reachable(hold.hold().url);
    if (up) {
      Target t{.name = {}, .did = hold_did, .pds_url = hold.hold().url};
      for (const RecordEntry& e : list_record_entries(t, kCrewCollection, kCrewPages))
        if (text_of(e.value.find("member")) == did) role = text_of(e.value.find("role"));
      // Your own usage needs your service token (the hold refuses anyone else).
      std::string token = service_token(did, hold_did, "io.atcr.hold.getQuota");
      Value quota = xrpc::XrpcClient(hold.hold().url, http)
                        .query("io.atcr.hold.getQuota", {{"userDid", did}}, {.bearer = token});
      const Value* total = quota.find("totalSize");
      const Value* blobs = quota.find("uniqueBlobs");
      if (total && total->is_integer())
        used = fmt::format("{} in {} blobs", web::format_size(static_cast<std::uint64_t>(std::max<std::int64_t>(total->as_integer(), 0))),
                           blobs && blobs->is_integer() ? blobs->as_integer() : 0);
      const Value* cap = quota.find("limit");
      if (cap && cap->is_integer())
        limit = web::format_size(static_cast<std::uint64_t>(std::max<std::int64_t>(cap->as_integer(), 0)));
      if (std::string tier = text_of(quota.find("tier")); !tier.empty()) limit += " (" + tier + ")";
    }
  } catch (const Error& e) {
    log::debug("appview", "hold {} usage of {}: {}", hold_did, did, e.what());
  }
  return fmt::format(R"(<tr class="hold" data-did="{did}"><td><code>{did}</code></td><td>{state}</td>)"
                     R"(<td class="role">{role}</td><td class="used">{used}</td><td>{limit}</td></tr>)",
                     fmt::arg("did", web::html_escape(hold_did)),
                     fmt::arg("state", up ? R"(<span class="badge ok">reachable</span>)"
                                          : R"(<span class="badge bad">unreachable</span>)"),
                     fmt::arg("role", web::html_escape(role)), fmt::arg("used", web::html_escape(used)),
                     fmt::arg("limit", web::html_escape(limit)));
}

xrpc::ServerResponse Appview::Impl::settings_page(const xrpc::ServerRequest& req) {
  auto user = web_sessions->current(req);
  if (!user) return web::redirect("/login?return_to=%2Fsettings");
  auto owner = web_owner(user->did);
  if (!owner) return web_sessions->error_page(user, 502, "Settings", "Your DID does not resolve right now.");
  auto profile = get_record(owner->target(""), kProfileCollection, "self");
  std::string hold = profile ? text_of(profile->find("defaultHold")) : std::string();
  std::string client = profile ? text_of(profile->find("ociClient")) : std::string();
  std::set<std::string> holds;
  for (const std::string& h : {hold, config.server.default_hold_did})
    if (syntax::is_valid_did(h)) holds.insert(h);
  for (const index::CrewInfo& crew : network_index->crew_memberships(user->did)) holds.insert(crew.hold_did);
  std::string usage;
  for (const std::string& h : holds) usage += hold_usage_row(h, user->did);
  std::string saved = req.param("saved") ? R"(<p id="saved" class="badge ok">Saved.</p>)" : "";
  std::string body = fmt::format(
      R"({saved}<h2>Profile</h2><form method="post" action="/settings" id="profile">{csrf})"
      R"(<p><label for="defaultHold">Default hold (the DID your pushes store blobs on)</label><br>)"
      R"(<input type="text" id="defaultHold" name="defaultHold" value="{hold}" placeholder="{placeholder}"></p>)"
      R"(<p><label for="ociClient">OCI client (for the pull commands shown)</label><br>)"
      R"(<select id="ociClient" name="ociClient">{clients}</select></p>)"
      R"(<p><button type="submit" class="primary" id="save">Save</button></p></form>)"
      R"(<h2>Holds</h2><table id="holds"><tr><th>Hold</th><th>State</th><th>Crew role</th><th>Stored</th>)"
      R"(<th>Limit</th></tr>{usage}</table>)"
      R"(<h2>Devices</h2>{devices})",
      fmt::arg("saved", saved), fmt::arg("csrf", web_sessions->csrf_field(*user)),
      fmt::arg("hold", web::html_escape(hold)), fmt::arg("placeholder", web::html_escape(config.server.default_hold_did)),
      fmt::arg("clients", client_options(client)), fmt::arg("usage", usage), fmt::arg("devices", devices_table(*user)));
  return web_sessions->page(user, "Settings", body);
}

xrpc::ServerResponse Appview::Impl::save_settings(const xrpc::ServerRequest& req) {
  auto form = req.form();
  auto user = web_sessions->user_of_form(req, form);
  if (!user) return stale_form(req, "Not saved");
  std::string hold = web::field(form, "defaultHold");
  hold.erase(0, hold.find_first_not_of(" \t"));
  hold.erase(hold.find_last_not_of(" \t") + 1);
  std::string client = web::field(form, "ociClient");
  const auto& clients = web::oci_clients();
  if (!client.empty() && std::find(clients.begin(), clients.end(), client) == clients.end())
    return web_sessions->error_page(user, 400, "Not saved", "Unknown OCI client: " + client);
  if (!hold.empty() && !syntax::is_valid_did(hold))
    return web_sessions->error_page(user, 400, "Not saved", "The default hold must be a DID, e.g. did:web:hold.example.com");
  if (!hold.empty()) {
    try {
      hold_client(hold);
    } catch (const oci::RegistryError& e) {
      return web_sessions->error_page(user, 400, "Not saved", e.message());
    }
  }
  auto session = oauth_session_of(user->did);
  if (!session) return session_ended(*user, "Not saved");
  auto owner = web_owner(user->did);
  if (!owner) return web_sessions->error_page(user, 502, "Not saved", "Your DID does not resolve right now.");
  auto existing = get_record(owner->target(""), kProfileCollection, "self");
  Value::Map profile = existing ? existing->as_map() : Value::Map{};
  std::string now = now_datetime();
  profile["$type"] = Value(kProfileCollection);
  if (!profile.count("createdAt")) profile["createdAt"] = Value(now);
  profile["updatedAt"] = Value(now);
  if (hold.empty()) profile.erase("defaultHold");
  else profile["defaultHold"] = Value(hold);
  if (client.empty()) profile.erase("ociClient");
  else profile["ociClient"] = Value(client);
  Value record(std::move(profile));
  session->put_record(kProfileCollection, "self", record);
  index_own_write(user->did, kProfileCollection, "self", std::move(record));
  push_holds.erase(user->did);
  log::info("appview", "{} set default hold {} and OCI client {}", user->did, hold.empty() ? "(none)" : hold,
            client.empty() ? "(none)" : client);
  return web::redirect("/settings?saved=1");
}

void Appview::Impl::register_settings_pages(xrpc::XrpcServer& server) {
  auto page = [this](PageHandler handler) { return web_page(handler); };
  server.route("GET", "/settings", page(&Impl::settings_page));
  server.route("POST", "/settings", page(&Impl::save_settings));
}

}  // namespace atcr::appview

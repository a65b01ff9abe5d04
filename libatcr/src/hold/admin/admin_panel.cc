// The admin panel's sign-in, owner checks and overview (see admin_panel.h).
#include "hold/admin/admin_panel.h"

#include <fmt/core.h>

#include "atcr/crypto/keys.h"
#include "atcr/log.h"
#include "atcr/version.h"

namespace atcr::hold {

namespace {

constexpr std::string_view kAuthorize = "/admin/auth/authorize";

std::shared_ptr<const net::HttpClient> oauth_http() {
  net::HttpOptions o;
  o.timeout = std::chrono::seconds(30);
  o.connect_timeout = std::chrono::seconds(5);
  o.user_agent = "atcr-hold/" ATCR_VERSION;
  return std::make_shared<const net::HttpClient>(o);
}

oauth::ClientOptions client_options(const HoldConfig& config) {
  oauth::ClientOptions o;
  o.base_url = config.server.public_url;
  o.scope = "atproto";  // who signed in is all the hold needs to know
  o.client_name = "ATCR hold admin";
  o.redirect_path = "/admin/auth/callback";
  o.allow_http = config.identity.development;
  if (!oauth::is_loopback_url(config.server.public_url))
    o.client_key = PrivateKey::load_or_generate((config.server.data_dir / "oauth-client.key").string(), KeyType::kP256);
  return o;
}

}  // namespace

web::Site admin_site() {
  web::Site site;
  site.cookie_name = "atcr_hold_admin";
  site.brand = "Hold admin";
  site.home_path = "/admin";
  site.login_path = "/admin/auth/login";
  site.logout_path = "/admin/auth/logout";
  site.nav = {{"Crew", "/admin/crew"}, {"Settings", "/admin/settings"}, {"Storage", "/admin/storage"},
             {"GC", "/admin/gc"}};
  site.log_component = "hold-admin";
  site.bind_user_agent = true;
  return site;
}

AdminPanel::AdminPanel(Hold::Impl& hold)
    : hold_(hold),
      http_(oauth_http()),
      client_(client_options(hold.config), *hold.resolver, http_),
      sessions_((hold.config.server.data_dir / "admin.sqlite").string(), hold.config.server.data_dir / "admin-session.key",
                hold.config.server.public_url.starts_with("https://"), hold.config.admin.session_lifetime,
                admin_site()),
      pending_(sessions_.database()) {}

bool AdminPanel::is_owner(const std::string& did) {
  hold_.access.ensure_current(*hold_.pds);
  return did == hold_.access.captain().owner;
}

xrpc::ServerResponse AdminPanel::not_owner(const std::optional<web::WebUser>& user) {
  return sessions_.error_page(user, 403, "Owner only",
                              "This panel is for the hold's owner (the captain record's owner DID) only.");
}

xrpc::Handler AdminPanel::open(Handler handler) {
  return sessions_.guard([this, handler](const xrpc::ServerRequest& req) { return (this->*handler)(req); });
}

xrpc::Handler AdminPanel::owner_get(Page page) {
  return sessions_.guard([this, page](const xrpc::ServerRequest& req) {
    auto user = sessions_.current(req);
    if (!user) return web::redirect(fmt::format("/admin/auth/login?return_to={}", net::url_encode(req.path)));
    if (!is_owner(user->did)) return not_owner(user);
    return (this->*page)(req, *user);
  });
}

xrpc::Handler AdminPanel::owner_post(Page page) {
  return sessions_.guard([this, page](const xrpc::ServerRequest& req) {
    auto user = sessions_.user_of_form(req, req.form());
    if (!user)
      return sessions_.error_page(sessions_.current(req), 403, "Not changed",
                                  "The form was stale or not from this site (CSRF check); reload the page and try again.");
    if (!is_owner(user->did)) return not_owner(user);
    return (this->*page)(req, *user);
  });
}

xrpc::ServerResponse AdminPanel::login_page(const xrpc::ServerRequest& req) {
  std::string return_to = web::safe_return_to(req.param("return_to").value_or("/admin"), "/admin");
  return sessions_.page(sessions_.current(req), "Sign in",
                        "<p>Sign in as this hold's owner.</p>" + web::login_form(kAuthorize, return_to, ""));
}

xrpc::ServerResponse AdminPanel::authorize(const xrpc::ServerRequest& req) {
  std::string input = web::account_input(req.param("handle").value_or(""));
  std::string return_to = web::safe_return_to(req.param("return_to").value_or("/admin"), "/admin");
  if (input.empty())
    return sessions_.page(std::nullopt, "Sign in",
                          "<p class=\"error\" id=\"error\">Enter your handle, DID or PDS URL.</p>" +
                              web::login_form(kAuthorize, return_to, ""),
                          400);
  oauth::PendingAuthorization pending = client_.start(input);
  std::string location = pending.authorization_url;
  pending_.put({std::move(pending), return_to});
  return web::redirect(std::move(location));
}

xrpc::ServerResponse AdminPanel::callback(const xrpc::ServerRequest& req) {
  oauth::CallbackParams cb = web::callback_params(req);
  auto pending = pending_.take(cb.state);
  if (!pending)
    return sessions_.error_page(std::nullopt, 400, "Sign-in failed",
                                "This sign-in is unknown, expired or already used (state). Start again.");
  oauth::TokenSet tokens = client_.finish(pending->authorization, cb);
  if (!is_owner(tokens.did)) {
    log::info("hold-admin", "{} ({}) signed in but does not own this hold", tokens.did, log::escape(tokens.handle));
    return not_owner(std::nullopt);
  }
  log::info("hold-admin", "the owner {} signed in via {}", tokens.did, tokens.issuer);
  auto r = web::redirect(pending->return_to);
  r.header("Set-Cookie", sessions_.start(tokens.did, tokens.handle, req));
  return r;
}

xrpc::ServerResponse AdminPanel::logout(const xrpc::ServerRequest& req) {
  if (!sessions_.user_of_form(req, req.form()))
    return sessions_.error_page(sessions_.current(req), 403, "Log out failed",
                                "The form was stale or not from this site (CSRF check); reload the page and try again.");
  auto r = web::redirect("/admin/auth/login");
  r.header("Set-Cookie", sessions_.end(req));
  return r;
}

xrpc::ServerResponse AdminPanel::client_metadata(const xrpc::ServerRequest&) {
  return web::client_document(client_.metadata());
}

xrpc::ServerResponse AdminPanel::client_jwks(const xrpc::ServerRequest&) {
  return web::client_document(client_.jwks());
}

xrpc::ServerResponse AdminPanel::overview(const xrpc::ServerRequest&, const web::WebUser& user) {
  Captain captain = hold_.access.captain();
  std::size_t crew = hold_.crew_members().size();
  auto yes_no = [](bool b) { return b ? "yes" : "no"; };
  return sessions_.page(
      user, "Overview",
      fmt::format(R"(<p id="hold">Hold <code>{}</code> at <code>{}</code>.</p><ul>)"
                  R"(<li><a href="/admin/crew">Crew</a>: {} member(s)</li>)"
                  R"(<li><a href="/admin/settings">Settings</a>: public {}, anyone may join {}, Bluesky posts {}</li>)"
                  R"(<li><a href="/admin/storage">Storage</a>: usage, repositories, blobs</li>)"
                  R"(<li><a href="/admin/gc">Garbage collection</a>: preview, run, last runs</li></ul>)",
                  web::html_escape(hold_.pds->did()), web::html_escape(hold_.config.server.public_url), crew,
                  yes_no(captain.is_public), yes_no(captain.allow_all_crew), yes_no(captain.enable_bluesky_posts)));
}

void AdminPanel::register_routes(xrpc::XrpcServer& server) {
  server.route("GET", "/admin/?", owner_get(&AdminPanel::overview));
  server.route("GET", "/admin/auth/login", open(&AdminPanel::login_page));
  server.route("GET", "/admin/auth/authorize", open(&AdminPanel::authorize));
  server.route("GET", "/admin/auth/callback", open(&AdminPanel::callback));
  server.route("POST", "/admin/auth/logout", open(&AdminPanel::logout));
  server.route("GET", "/client-metadata\\.json", open(&AdminPanel::client_metadata));
  server.route("GET", "/\\.well-known/jwks\\.json", open(&AdminPanel::client_jwks));
  server.route("GET", "/admin/crew", owner_get(&AdminPanel::crew_page));
  server.route("POST", "/admin/crew/add", owner_post(&AdminPanel::crew_add));
  server.route("POST", "/admin/crew/update", owner_post(&AdminPanel::crew_update));
  server.route("POST", "/admin/crew/remove", owner_post(&AdminPanel::crew_remove));
  server.route("GET", "/admin/settings", owner_get(&AdminPanel::settings_page));
  server.route("POST", "/admin/settings", owner_post(&AdminPanel::settings_save));
  server.route("GET", "/admin/storage", owner_get(&AdminPanel::storage_page));
  server.route("GET", "/admin/gc", owner_get(&AdminPanel::gc_page));
  server.route("POST", "/admin/gc/preview", owner_post(&AdminPanel::gc_preview));
  server.route("POST", "/admin/gc/run", owner_post(&AdminPanel::gc_run));
}

}  // namespace atcr::hold

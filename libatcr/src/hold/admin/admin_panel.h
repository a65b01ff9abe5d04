// Internal: the hold's admin panel, the owner's web pages (admin.enabled):
//
//   GET  /admin                      overview
//   GET  /admin/auth/login           the handle form; ATProto OAuth sign-in:
//   GET  /admin/auth/authorize       ?handle= -> discovery, PAR -> 303 to the authorization server
//   GET  /admin/auth/callback        code exchange; only the owner gets a session
//   POST /admin/auth/logout          ends the browser session
//   GET  /admin/crew                 members, with forms to add, change and remove
//   POST /admin/crew/add             handle or DID, role, permissions, tier
//   POST /admin/crew/update          did, role, permissions, tier
//   POST /admin/crew/remove          did
//   GET  /admin/settings, POST       public, allowAllCrew, enableBlueskyPosts (the captain record)
//   GET  /admin/storage              usage per user and tier, largest repositories, blobs stored
//   GET  /admin/gc                   garbage collection: the last runs (GC history), with
//   POST /admin/gc/preview           a dry run: what would go now, and why (a page)
//   POST /admin/gc/run               a run (409 while another is on) -> 303 to /admin/gc
//   GET  /client-metadata.json, /.well-known/jwks.json: the OAuth client (confidential on
//        an https public URL, with data_dir/oauth-client.key; loopback in development)
//
// Owner = the captain record's owner DID, checked on every request (a
// hold handed to someone else shuts its former owner out at once). A
// browser session (web/web_session.h: signed cookie "atcr_hold_admin",
// bound to the browser's User-Agent, rows in data_dir/admin.sqlite) is
// made only for the owner; anyone else who signs in gets a 403 page. Every
// POST carries the session's CSRF token; a missing or wrong one is a 403
// and changes nothing. Every failure is an HTML page (WebSessions::guard).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "atcr/net/http_client.h"
#include "atcr/oauth/client.h"
#include "hold/hold_impl.h"
#include "web/oauth_login.h"
#include "web/web_session.h"

namespace atcr::hold {

// The panel's Site: its cookie, brand, navigation and paths.
web::Site admin_site();
// The notice a form's redirect carries (?done=), escaped; "" if none.
std::string done_notice(const xrpc::ServerRequest& req);

class AdminPanel {
 public:
  explicit AdminPanel(Hold::Impl& hold);
  void register_routes(xrpc::XrpcServer& server);

  web::WebSessions& sessions() { return sessions_; }

 private:
  using Page = xrpc::ServerResponse (AdminPanel::*)(const xrpc::ServerRequest&, const web::WebUser&);
  using Handler = xrpc::ServerResponse (AdminPanel::*)(const xrpc::ServerRequest&);
  // A page or form only the owner may use: not signed in -> the sign-in
  // form (GET) or 403 (POST); a POST without the CSRF token -> 403;
  // anyone but the owner -> 403.
  xrpc::Handler owner_get(Page page);
  xrpc::Handler owner_post(Page page);
  xrpc::Handler open(Handler handler);
  bool is_owner(const std::string& did);
  xrpc::ServerResponse not_owner(const std::optional<web::WebUser>& user);

  // admin_panel.cc: sign-in and the overview.
  xrpc::ServerResponse login_page(const xrpc::ServerRequest& req);
  xrpc::ServerResponse authorize(const xrpc::ServerRequest& req);
  xrpc::ServerResponse callback(const xrpc::ServerRequest& req);
  xrpc::ServerResponse logout(const xrpc::ServerRequest& req);
  xrpc::ServerResponse client_metadata(const xrpc::ServerRequest& req);
  xrpc::ServerResponse client_jwks(const xrpc::ServerRequest& req);
  xrpc::ServerResponse overview(const xrpc::ServerRequest& req, const web::WebUser& user);

  // admin_pages.cc: crew, settings, storage.
  xrpc::ServerResponse crew_page(const xrpc::ServerRequest& req, const web::WebUser& user);
  xrpc::ServerResponse crew_add(const xrpc::ServerRequest& req, const web::WebUser& user);
  xrpc::ServerResponse crew_update(const xrpc::ServerRequest& req, const web::WebUser& user);
  xrpc::ServerResponse crew_remove(const xrpc::ServerRequest& req, const web::WebUser& user);
  xrpc::ServerResponse settings_page(const xrpc::ServerRequest& req, const web::WebUser& user);
  xrpc::ServerResponse settings_save(const xrpc::ServerRequest& req, const web::WebUser& user);
  xrpc::ServerResponse storage_page(const xrpc::ServerRequest& req, const web::WebUser& user);
  // admin_gc.cc: garbage collection.
  xrpc::ServerResponse gc_page(const xrpc::ServerRequest& req, const web::WebUser& user);
  xrpc::ServerResponse gc_preview(const xrpc::ServerRequest& req, const web::WebUser& user);
  xrpc::ServerResponse gc_run(const xrpc::ServerRequest& req, const web::WebUser& user);
  // The DID a crew form names (a DID, or a handle resolved); ParseError if neither.
  std::string member_did(const std::string& typed);
  // "@handle (did)" for a DID, or the DID alone when its handle does not resolve.
  std::string who_html(const std::string& did);

  Hold::Impl& hold_;
  std::shared_ptr<const net::HttpClient> http_;
  oauth::Client client_;
  web::WebSessions sessions_;
  web::PendingLogins pending_;
};

}  // namespace atcr::hold

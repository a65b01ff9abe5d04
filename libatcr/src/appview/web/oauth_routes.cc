// The AppView's web sign-in with ATProto OAuth:
//   GET  /login                    the handle form
//   GET  /auth/oauth/authorize     ?handle=... -> discovery, PAR -> 303 to the authorization server
//   GET  /auth/oauth/callback      code exchange, OAuth session saved, profile ensured, cookie set
//   POST /auth/logout              (CSRF) ends the user's browser sessions and revokes the
//                                  OAuth grant at their authorization server (devices stop)
//   GET  /client-metadata.json     the client metadata (the confidential client's client_id)
//   GET  /.well-known/jwks.json    the client's public key
// and the rest of the web UI's routes (browse, repository and settings pages).
// Every failure is an HTML error page (WebSessions::guard).
#include <fmt/core.h>

#include "appview/appview_impl.h"
#include "appview/web/oauth_store.h"
#include "appview/web/static_assets.h"
#include "appview/web/web_session.h"
#include "atcr/log.h"
#include "web/oauth_login.h"

namespace atcr::appview {

namespace {

constexpr std::string_view kAuthorize = "/auth/oauth/authorize";

}  // namespace

std::shared_ptr<xrpc::PdsSession> Appview::Impl::oauth_session_of(const std::string& did) {
  return oauth_sessions->get(did);
}

xrpc::ServerResponse Appview::Impl::login_page(const xrpc::ServerRequest& req) {
  auto user = web_sessions->current(req);
  std::string return_to = atcr::web::safe_return_to(req.param("return_to").value_or("/"));
  return web_sessions->page(user, "Sign in", atcr::web::login_form(kAuthorize, return_to, ""));
}

xrpc::ServerResponse Appview::Impl::oauth_authorize(const xrpc::ServerRequest& req) {
  std::string input = atcr::web::account_input(req.param("handle").value_or(""));
  std::string return_to = atcr::web::safe_return_to(req.param("return_to").value_or("/"));
  if (input.empty())
    return web_sessions->page(std::nullopt, "Sign in",
                     "<p class=\"error\" id=\"error\">Enter your handle, DID or PDS URL.</p>" +
                         atcr::web::login_form(kAuthorize, return_to, ""),
                     400);
  oauth::PendingAuthorization pending = oauth_sessions->client().start(input);
  std::string location = pending.authorization_url;
  oauth_sessions->put_pending({std::move(pending), return_to});
  return web::redirect(std::move(location));
}

xrpc::ServerResponse Appview::Impl::oauth_callback(const xrpc::ServerRequest& req) {
  oauth::CallbackParams cb = atcr::web::callback_params(req);
  auto pending = oauth_sessions->take_pending(cb.state);
  if (!pending)
    return web_sessions->error_page(std::nullopt, 400, "Sign-in failed",
                           "This sign-in is unknown, expired or already used (state). Start again.");
  oauth::TokenSet tokens = oauth_sessions->client().finish(pending->authorization, cb);
  auto session = oauth_sessions->adopt(tokens, pending->authorization.dpop_key);
  ensure_profile(*session, tokens.did, tokens.pds_url);
  migrate_manifest_keys(*session, tokens.did, tokens.pds_url);
  log::info("appview", "{} ({}) signed in with OAuth via {}", tokens.did, tokens.handle, tokens.issuer);
  auto r = web::redirect(pending->return_to);
  r.header("Set-Cookie", web_sessions->start(tokens.did, tokens.handle));
  return r;
}

xrpc::ServerResponse Appview::Impl::logout(const xrpc::ServerRequest& req) {
  auto form = req.form();
  auto user = web_sessions->user_of_form(req, form);
  if (!user) return stale_form(req, "Log out failed");
  // The grant goes too: its tokens stop working at the PDS, and the
  // devices approved under it stop at /auth/token (device_login).
  oauth_sessions->revoke(user->did);
  auto r = web::redirect("/login");
  r.header("Set-Cookie", web_sessions->end(req));
  web_sessions->end_all(user->did);
  log::info("appview", "{} logged out", user->did);
  return r;
}

xrpc::ServerResponse Appview::Impl::client_metadata(const xrpc::ServerRequest&) {
  return atcr::web::client_document(oauth_sessions->client().metadata());
}

xrpc::ServerResponse Appview::Impl::client_jwks(const xrpc::ServerRequest&) {
  return atcr::web::client_document(oauth_sessions->client().jwks());
}

xrpc::Handler Appview::Impl::web_page(PageHandler handler) {
  return web_sessions->guard([this, handler](const xrpc::ServerRequest& req) { return (this->*handler)(req); });
}

void Appview::Impl::register_web(xrpc::XrpcServer& server) {
  auto page = [this](PageHandler handler) { return web_page(handler); };
  web::register_static_assets(server);
  register_browse_pages(server);
  register_repo_pages(server);
  register_settings_pages(server);
  server.route("GET", "/login", page(&Impl::login_page));
  server.route("GET", "/auth/oauth/authorize", page(&Impl::oauth_authorize));
  server.route("GET", "/auth/oauth/callback", page(&Impl::oauth_callback));
  server.route("POST", "/auth/logout", page(&Impl::logout));
  server.route("GET", "/client-metadata.json", page(&Impl::client_metadata));
  server.route("GET", "/\\.well-known/jwks\\.json", page(&Impl::client_jwks));
}

}  // namespace atcr::appview

// Internal: the browser side of a service's web pages (the AppView's
// sign-in, device approval and web UI; the hold's admin panel). Each
// service configures it with a Site (cookie name, brand, navigation).
//
//   - who is signed in: a browser session is a random id in an HMAC-signed
//     cookie (Site::cookie_name; HttpOnly, SameSite=Lax, Secure when the
//     public URL is https), looked up in the web_sessions table of the
//     service's database (logout deletes the row, so a copied cookie dies too);
//   - CSRF: every form POST carries a "csrf" field, an HMAC of the session
//     id (csrf_token / csrf_ok);
//   - pages: one layout (page), HTML error pages (error_page), escaping
//     (html_escape) for everything user-supplied.
//
// Thread-safe. Key: the key_path given (32 random bytes, hex, 0600), made
// on first use.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/xrpc/server.h"
#include "atcr/db/database.h"

namespace atcr::web {

struct WebUser {
  std::string did;
  std::string handle;      // "" if unknown
  std::string session_id;  // the cookie's random id (CSRF tokens derive from it)
  std::string display() const { return handle.empty() ? did : handle; }
};

// What differs between the services that show pages.
struct Site {
  std::string cookie_name = "atcr_session";
  std::string brand = "ATCR";  // the header's home link and every title's suffix
  std::string home_path = "/";
  std::string login_path = "/login";         // "Sign in" links
  std::string logout_path = "/auth/logout";  // the logout form's action (a POST with "csrf")
  // Header links (label, path) shown to a signed-in user, after the brand.
  std::vector<std::pair<std::string, std::string>> nav;
  std::string log_component = "web";  // guard()'s log lines
  // The site's own stylesheet and script (versioned paths it serves). With
  // a stylesheet the built-in inline style goes and the CSP allows styles
  // from 'self' only; with a script, scripts from 'self' (never inline).
  std::string stylesheet_path;
  std::string script_path;
  // When set, a search box (GET, field "q") in every page's header.
  std::string search_path;
  // The cookie's signature also covers the browser's User-Agent, so a
  // cookie copied into another browser is nobody there.
  bool bind_user_agent = false;
};

class WebSessions {
 public:
  WebSessions(const std::string& db_path, const std::filesystem::path& key_path, bool secure_cookies,
              std::chrono::seconds lifetime, Site site = {});
  // The same over a database opened already (several instances sharing it
  // share their sessions) and a 32-byte cookie key (the same on each).
  WebSessions(std::shared_ptr<db::Database> database, Bytes key, bool secure_cookies, std::chrono::seconds lifetime,
              Site site = {});

  const Site& site() const { return site_; }
  // The database the sessions live in (the service's other web state, e.g.
  // PendingLogins, goes in it too).
  const std::shared_ptr<db::Database>& database() const { return db_; }

  // The signed-in user of a request, or nullopt (no cookie, bad signature,
  // logged out, expired).
  std::optional<WebUser> current(const xrpc::ServerRequest& req);
  // A new browser session for `did`: the Set-Cookie header value.
  // `req`: the request that signed in (its User-Agent, for
  // Site::bind_user_agent).
  std::string start(const std::string& did, const std::string& handle, const xrpc::ServerRequest& req = {});
  // Ends the request's session (if any): the Set-Cookie value that clears it.
  std::string end(const xrpc::ServerRequest& req);
  // Forgets every browser session of `did` (its OAuth grant ended).
  void end_all(const std::string& did);

  std::string csrf_token(const WebUser& user) const;
  // True iff `token` is this user's CSRF token (constant-time compare).
  bool csrf_ok(const WebUser& user, std::string_view token) const;
  // The "csrf" field of a form POST checked against the signed-in user:
  // the user, or nullopt if not signed in / the token is missing or wrong.
  std::optional<WebUser> user_of_form(const xrpc::ServerRequest& req,
                                      const std::vector<std::pair<std::string, std::string>>& form);

  // A page in the common layout (title, the site's navigation and a
  // "signed in as" bar with a logout button when `user` is set), with a
  // Content-Security-Policy that allows no inline script. `body_html` and
  // `head_html` (extra <head> elements, e.g. OpenGraph meta tags) must be
  // escaped already.
  xrpc::ServerResponse page(const std::optional<WebUser>& user, std::string_view title,
                            std::string_view body_html, int status = 200, std::string_view head_html = {}) const;
  // An HTML error page; `message` is escaped here.
  xrpc::ServerResponse error_page(const std::optional<WebUser>& user, int status, std::string_view title,
                                  std::string_view message) const;
  // Wraps a page handler so every failure is an HTML error page: bad
  // input 400, an unknown account 400, an upstream (PDS, authorization
  // server) refusal or outage 502, anything else 500 (detail logged only).
  xrpc::Handler guard(xrpc::Handler handler);
  // <input type="hidden" name="csrf" value="...">
  std::string csrf_field(const WebUser& user) const;

 private:
  std::string sign(std::string_view text) const;
  // The cookie's signature of session `id` for the browser of `req`.
  std::string cookie_signature(std::string_view id, const xrpc::ServerRequest& req) const;
  std::string cookie(std::string_view value, std::int64_t max_age) const;
  std::string header_html(const std::optional<WebUser>& user) const;

  Bytes key_;
  bool secure_;
  std::chrono::seconds lifetime_;
  Site site_;
  std::shared_ptr<db::Database> db_;
};

// &, <, >, " and ' escaped: safe in element content and quoted attributes.
std::string html_escape(std::string_view text);
// A redirect (303 See Other by default) to `location`.
xrpc::ServerResponse redirect(std::string location, int status = 303);
// The first value of `name` in form fields or query params; "" if absent.
std::string field(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view name);

}  // namespace atcr::web

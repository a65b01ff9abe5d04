// Internal: the AppView's browser side, shared by its web pages (OAuth
// sign-in, device approval, settings, the web UI): the web layer's
// sessions, CSRF, layout, error pages and escaping (web/web_session.h),
// named in the AppView's namespace, with the AppView's Site.
//
// Browser sessions live in the web_sessions table of appview.sqlite, the
// cookie key in data_dir/web-session.key. The OAuth-backed PDS session of a
// signed-in DID is Appview::Impl::oauth_session_of(did) (appview_impl.h;
// nullptr if the user has none or it ended).
#pragma once

#include "appview/web/static_assets.h"
#include "web/web_session.h"

namespace atcr::appview::web {

using atcr::web::field;
using atcr::web::html_escape;
using atcr::web::redirect;
using atcr::web::Site;
using atcr::web::WebSessions;
using atcr::web::WebUser;

// The AppView's pages: cookie "atcr_session", brand "ATCR", sign-in at
// /login, logout at /auth/logout; our stylesheet and script
// (static_assets.h), a search box, a Settings link.
inline Site appview_site() {
  Site site;
  site.cookie_name = "atcr_session";
  site.brand = "ATCR";
  site.log_component = "appview";
  site.nav = {{"Settings", "/settings"}};
  site.stylesheet_path = stylesheet_path();
  site.script_path = script_path();
  site.search_path = "/search";
  return site;
}

}  // namespace atcr::appview::web

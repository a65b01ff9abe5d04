// The web layer's Site (web/web_session.h): each service's cookie name,
// brand, navigation and sign-in paths, so two services' sessions on one
// host never read each other's cookie.
#include <doctest/doctest.h>

#include "temp_dir.h"
#include "web/web_session.h"

using namespace atcr;
using namespace atcr::web;

namespace {

Site admin_site() {
  Site site;
  site.cookie_name = "atcr_hold_admin";
  site.brand = "Hold <admin>";
  site.home_path = "/admin";
  site.login_path = "/admin/login";
  site.logout_path = "/admin/logout";
  site.nav = {{"Crew", "/admin/crew"}, {"Settings", "/admin/settings"}};
  return site;
}

xrpc::ServerRequest with_cookie(const std::string& set_cookie) {
  xrpc::ServerRequest req;
  req.headers.emplace_back("cookie", set_cookie.substr(0, set_cookie.find(';')));
  return req;
}

}  // namespace

TEST_CASE("a site's cookie, brand, navigation and paths") {
  test::TempDir dir{"atcr-web-site"};
  WebSessions admin((dir / "db.sqlite").string(), dir / "admin.key", false, std::chrono::hours(1), admin_site());
  WebSessions other((dir / "db.sqlite").string(), dir / "admin.key", false, std::chrono::hours(1));
  std::string set_cookie = admin.start("did:plc:alice7fhzbvaiqzgqg2fd6a", "alice.test");
  CHECK(set_cookie.rfind("atcr_hold_admin=", 0) == 0);
  auto req = with_cookie(set_cookie);
  auto user = admin.current(req);
  REQUIRE(user);
  CHECK(!other.current(req));  // same key and table, but another site's cookie name

  auto signed_in = admin.page(user, "Crew", "<p>x</p>");
  CHECK(signed_in.body.find("<title>Crew - Hold &lt;admin&gt;</title>") != std::string::npos);
  CHECK(signed_in.body.find(R"(<a href="/admin">Hold &lt;admin&gt;</a>)") != std::string::npos);
  CHECK(signed_in.body.find(R"(<a href="/admin/crew">Crew</a>)") != std::string::npos);
  CHECK(signed_in.body.find(R"(action="/admin/logout")") != std::string::npos);

  auto anonymous = admin.error_page(std::nullopt, 403, "Owner only", "not yours");
  CHECK(anonymous.status == 403);
  CHECK(anonymous.body.find("/admin/crew") == std::string::npos);  // no navigation before sign-in
  CHECK(anonymous.body.find(R"(href="/admin/login")") != std::string::npos);
}

TEST_CASE("a site that binds sessions to the browser: a copied cookie is nobody elsewhere") {
  test::TempDir dir{"atcr-web-site"};
  Site site = admin_site();
  site.bind_user_agent = true;
  WebSessions web((dir / "db.sqlite").string(), dir / "web.key", false, std::chrono::hours(1), site);
  xrpc::ServerRequest browser;
  browser.headers.emplace_back("user-agent", "Firefox/140");
  std::string set_cookie = web.start("did:plc:alice7fhzbvaiqzgqg2fd6a", "", browser);
  auto same = with_cookie(set_cookie);
  same.headers.emplace_back("user-agent", "Firefox/140");
  CHECK(web.current(same));
  auto other = with_cookie(set_cookie);
  other.headers.emplace_back("user-agent", "curl/8.0");
  CHECK(!web.current(other));
  CHECK(!web.current(with_cookie(set_cookie)));  // no User-Agent at all
}

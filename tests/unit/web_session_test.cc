// The AppView's browser sessions (appview/web/web_session.h): signed
// cookies, server-side logout, CSRF tokens, escaping and error pages.
#include "appview/web/web_session.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "temp_dir.h"
#include "test_database.h"

using namespace atcr;
using namespace atcr::appview::web;

namespace {

// "atcr_session=<value>" from a Set-Cookie header value.
std::string cookie_pair(const std::string& set_cookie) { return set_cookie.substr(0, set_cookie.find(';')); }

xrpc::ServerRequest with_cookie(const std::string& cookie) {
  xrpc::ServerRequest req;
  req.headers.emplace_back("cookie", "theme=dark; " + cookie);
  return req;
}

}  // namespace

TEST_CASE("browser sessions: signed cookies, looked up server-side, ended by logout") {
  test::TempDir dir{"atcr-web"};
  std::string db = test::database_url(dir.path(), "db.sqlite");  // SQLite, or PostgreSQL in the integration suite
  WebSessions web(db, dir / "web.key", false, std::chrono::hours(1));
  std::string set_cookie = web.start("did:plc:alice7fhzbvaiqzgqg2fd6a", "alice.test");
  CHECK(set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(set_cookie.find("SameSite=Lax") != std::string::npos);
  CHECK(set_cookie.find("Secure") == std::string::npos);
  CHECK((std::filesystem::status(dir / "web.key").permissions() & std::filesystem::perms::group_all) ==
        std::filesystem::perms::none);

  auto req = with_cookie(cookie_pair(set_cookie));
  auto user = web.current(req);
  REQUIRE(user);
  CHECK(user->did == "did:plc:alice7fhzbvaiqzgqg2fd6a");
  CHECK(user->display() == "alice.test");

  SUBCASE("a forged or altered cookie is nobody") {
    std::string value = cookie_pair(set_cookie);
    std::string other_id = value;
    other_id[std::string("atcr_session=").size()] ^= 1;
    CHECK(!web.current(with_cookie(other_id)));
    CHECK(!web.current(with_cookie("atcr_session=abc.def")));
    CHECK(!web.current(with_cookie("atcr_session=")));
    CHECK(!web.current(xrpc::ServerRequest{}));
    // The same id signed by another key (another AppView's data dir).
    test::TempDir other{"atcr-web"};
    WebSessions stranger(test::database_url(other.path(), "db.sqlite"), other / "web.key", false, std::chrono::hours(1));
    CHECK(!stranger.current(req));
  }
  SUBCASE("CSRF tokens belong to one browser session") {
    std::string token = web.csrf_token(*user);
    CHECK(web.csrf_ok(*user, token));
    CHECK(!web.csrf_ok(*user, ""));
    CHECK(!web.csrf_ok(*user, token + "x"));
    auto second = web.current(with_cookie(cookie_pair(web.start(user->did, user->handle))));
    REQUIRE(second);
    CHECK(!web.csrf_ok(*second, token));
    CHECK(web.user_of_form(req, {{"csrf", token}}));
    CHECK(!web.user_of_form(req, {{"csrf", web.csrf_token(*second)}}));
    CHECK(!web.user_of_form(req, {}));
  }
  SUBCASE("logout ends the session on the server, so a copied cookie dies too") {
    std::string cleared = web.end(req);
    CHECK(cleared.find("Max-Age=0") != std::string::npos);
    CHECK(!web.current(req));
  }
  SUBCASE("end_all ends every browser of the DID") {
    web.end_all(user->did);
    CHECK(!web.current(req));
  }
  SUBCASE("https public URLs get Secure cookies") {
    WebSessions secure(db, dir / "web.key", true, std::chrono::hours(1));
    CHECK(secure.start("did:plc:alice7fhzbvaiqzgqg2fd6a", "").find("; Secure") != std::string::npos);
    CHECK(secure.current(req));  // same key, same table
  }
}

TEST_CASE("pages escape what users typed") {
  CHECK(html_escape(R"(<script>alert("x")</script> & 'y')") ==
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
  test::TempDir dir{"atcr-web"};
  WebSessions web((dir / "db.sqlite").string(), dir / "web.key", false, std::chrono::hours(1));
  auto page = web.error_page(std::nullopt, 400, "Sign-in <failed>", "no account <b>x</b>");
  CHECK(page.status == 400);
  CHECK(page.content_type.find("text/html") == 0);
  CHECK(page.body.find("<b>x</b>") == std::string::npos);
  CHECK(page.body.find("&lt;b&gt;x&lt;/b&gt;") != std::string::npos);
  CHECK(page.body.find("Sign-in &lt;failed&gt;") != std::string::npos);
  WebUser u{"did:plc:alice7fhzbvaiqzgqg2fd6a", "<evil>", "sid"};
  auto signed_in = web.page(u, "Home", "<p>hi</p>");
  CHECK(signed_in.body.find("&lt;evil&gt;") != std::string::npos);
  CHECK(signed_in.body.find(web.csrf_token(u)) != std::string::npos);  // the logout form's token
}

// The web UI's pages and forms (appview/web/): fragments escape what users
// wrote; every form POST needs the session's CSRF token (403), then valid
// input (a 400 HTML page), then a live OAuth session (401); unknown users
// and repositories are 404 pages; pages carry a CSP with no inline script;
// static assets are cached for a year under a versioned path.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <regex>

#include "appview/web/avatars.h"
#include "appview/web/static_assets.h"
#include "appview/web/views.h"
#include "appview/web/web_session.h"
#include "atcr/appview/appview.h"
#include "atcr/crypto/keys.h"
#include "atcr/data/cid.h"
#include "atcr/net/http_client.h"
#include "atcr/xrpc/server.h"
#include "memory_resolver.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::appview;
using namespace atcr::appview::web;

namespace {

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

constexpr const char* kHostile = R"(<script>alert("x")</script>' onmouseover='y)";

// An AppView serving on loopback, with a browser session minted for a DID.
struct WebFixture {
  test::TempDir dir{"atcr-webui"};
  test::MemoryResolver resolver;
  std::unique_ptr<Appview> app;
  xrpc::XrpcServer server;
  net::HttpClient http;
  std::string cookie;  // "atcr_session=..."
  std::string csrf;
  std::string base;

  WebFixture() {
    resolver.add("did:plc:alice7fhzbvaiqzgqg2fd6a", PrivateKey::generate(KeyType::kP256).public_key());
    AppviewConfig c;
    c.server.data_dir = dir.path();
    c.server.public_url = "http://127.0.0.1:5000";
    c.server.service = "127.0.0.1:5000";
    c.server.default_hold_did = "did:web:hold.example.com";
    app = std::make_unique<Appview>(c, AppviewOptions{.resolver = &resolver, .http = nullptr});
    app->register_endpoints(server);
    server.start();
    base = "http://127.0.0.1:" + std::to_string(server.port());
    WebSessions sessions((dir / "appview.sqlite").string(), dir / "web-session.key", false, std::chrono::hours(1));
    std::string set_cookie = sessions.start("did:plc:alice7fhzbvaiqzgqg2fd6a", "alice.test");
    cookie = set_cookie.substr(0, set_cookie.find(';'));
    xrpc::ServerRequest req;
    req.headers.emplace_back("cookie", cookie);
    csrf = sessions.csrf_token(*sessions.current(req));
  }
  ~WebFixture() { server.stop(); }

  net::HttpResponse get(const std::string& path, bool signed_in = false) {
    net::Headers h;
    if (signed_in) h.emplace_back("Cookie", cookie);
    return http.get(base + path, h);
  }
  net::HttpResponse post(const std::string& path, const std::string& form, bool signed_in = true) {
    net::Headers h;
    if (signed_in) h.emplace_back("Cookie", cookie);
    return http.post(base + path, "application/x-www-form-urlencoded", as_bytes(form), h);
  }
  std::string with_csrf(const std::string& form) { return "csrf=" + net::url_encode(csrf) + "&" + form; }
};

void check_html_page(const net::HttpResponse& r, int status) {
  CHECK(r.status == status);
  CHECK(r.header("content-type").starts_with("text/html"));
  std::string csp = r.header("content-security-policy");
  CHECK(has(csp, "script-src 'self'"));
  CHECK(!has(csp, "unsafe-inline"));
  // No inline script or style: every <script> has a src, no style attributes.
  std::string body = r.text();
  CHECK(!std::regex_search(body, std::regex("<script(?![^>]*\\ssrc=)")));
  CHECK(!has(body, " style="));
  CHECK(!has(body, "<style"));
}

}  // namespace

TEST_CASE("views: everything users wrote is escaped") {
  RepoPage page;
  page.repo = {.did = "did:plc:alice7fhzbvaiqzgqg2fd6a", .handle = "alice.test", .repository = "app",
               .description = kHostile, .updated_at = "2026-01-01T00:00:00.000Z", .stars = 3, .pulls = 7};
  page.readme = std::string("# hi\n\n") + kHostile;
  page.registry = "registry.example";
  page.hold_did = kHostile;
  page.hold_up = true;
  page.tags.push_back({.tag = "v1<b>", .digest = std::string("sha256:") + std::string(64, 'a'),
                       .media_type = kHostile, .size = 1500000, .created_at = kHostile,
                       .platforms = {kHostile}, .scan = kHostile});
  for (const std::string& html : {repo_page_body(page, R"(<input type="hidden" name="csrf" value="t">)"),
                                  repo_cards({page.repo}, kHostile), repo_meta(page, "https://r.example")}) {
    CAPTURE(html);
    CHECK(!has(html, "<script>alert"));
    CHECK(!has(html, "' onmouseover"));
    CHECK(!has(html, "v1<b>"));
  }
  std::string body = repo_page_body(page, "");
  CHECK(has(body, "docker pull registry.example/alice.test/app:v1&lt;b&gt;"));
  CHECK(has(body, "1.5 MB"));
  CHECK(has(body, R"(href="/login?return_to=%2Fr%2Falice.test%2Fapp")"));  // signed out: no form
  CHECK(has(repo_page_body(page, "<csrf>"), R"(action="/r/alice.test/app/-/star")"));
  CHECK(has(repo_cards({}, "<none>"), "&lt;none&gt;"));
  CHECK(has(pager("q=a&b", 2, true), "?q=a&amp;b&amp;page=3"));
}

// The hold's reachability and the tags' scan records as the page shows them.
TEST_CASE("views: hold state and scan badges") {
  RepoPage page;
  page.repo = {.did = "did:plc:alice7fhzbvaiqzgqg2fd6a", .handle = "alice.test", .repository = "app"};
  page.hold_did = "did:web:hold.example.com";
  CHECK(!has(repo_page_body(page, ""), "hold-state"));  // not checked
  page.hold_up = false;
  CHECK(has(repo_page_body(page, ""), R"(<span class="badge bad" id="hold-state">unreachable</span>)"));
  page.hold_up = true;
  CHECK(has(repo_page_body(page, ""), R"(<span class="badge ok" id="hold-state">reachable</span>)"));

  CHECK(scan_summary({.status = "ok", .critical = 3, .high = 1}) == std::pair<std::string, bool>{"3 critical, 1 high", false});
  CHECK(scan_summary({.status = "ok"}) == std::pair<std::string, bool>{"no known vulnerabilities", true});
  CHECK(scan_summary({.status = "failed"}).first == "scan failed");
  index::TagInfo tag{.tag = "v1", .digest = "sha256:" + std::string(64, 'a')};
  CHECK(tag_row_of(tag).scan.empty());
  tag.scan = index::ScanInfo{.status = "ok", .low = 2};
  page.tags.push_back(tag_row_of(tag));
  tag.scan = index::ScanInfo{.status = "ok"};
  page.tags.push_back(tag_row_of(tag));
  page.tags.push_back(tag_row_of({.tag = "v0", .digest = "sha256:" + std::string(64, 'b')}));
  std::string body = repo_page_body(page, "");
  CHECK(has(body, R"(<span class="badge scan bad">2 low</span>)"));
  CHECK(has(body, R"(<span class="badge scan ok">no known vulnerabilities</span>)"));
  CHECK(has(body, R"(<span class="muted">not scanned</span>)"));
}

TEST_CASE("views: sizes, ages, pull commands, summaries, paths") {
  CHECK(format_size(999) == "999 B");
  CHECK(format_size(1'500'000) == "1.5 MB");
  auto now = std::chrono::system_clock::from_time_t(1'767'225'600);  // 2026-01-01T00:00:00Z
  CHECK(format_age("2026-01-01T00:00:00.000Z", now) == "just now");
  CHECK(format_age("2025-12-31T23:55:00Z", now) == "5 minutes ago");
  CHECK(format_age("2025-12-30T00:00:00Z", now) == "2 days ago");
  CHECK(format_age("not a date", now).empty());
  CHECK(format_age("", now).empty());
  CHECK(pull_command("podman", "r.example/a/b:1") == "podman pull r.example/a/b:1");
  CHECK(pull_command("crane", "r.example/a/b:1") == "crane pull r.example/a/b:1 image.tar");
  CHECK(pull_command("", "r.example/a/b:1") == "docker pull r.example/a/b:1");
  CHECK(pull_command("<evil>", "x") == "docker pull x");
  CHECK(summary_line("# Title\n\n![logo](x.png)\n\nA *small* `tool`.\nmore") == "A small tool.");
  CHECK(summary_line("").empty());
  CHECK(repo_path("did:plc:abc", "team/app") == "/r/did%3Aplc%3Aabc/team/app");
}

TEST_CASE("avatars: image types by their bytes; links and OpenGraph escape the CID") {
  using namespace std::string_view_literals;
  auto bytes = [](std::string_view s) { return Bytes(s.begin(), s.end()); };
  CHECK(image_type(bytes("\x89PNG\r\n\x1a\n....")) == "image/png");
  CHECK(image_type(bytes("\xff\xd8\xff\xe0")) == "image/jpeg");
  CHECK(image_type(bytes("RIFF\x10\0\0\0WEBPVP8 "sv)) == "image/webp");
  for (std::string_view not_image : {""sv, "<svg onload=alert(1)>"sv, "<html>"sv, "GIF89a"sv, "RIFF\0\0\0\0WAVE"sv, "\x89PNG"sv})
    CHECK(image_type(bytes(not_image)).empty());

  RepoPage page;
  page.repo = {.did = "did:plc:alice7fhzbvaiqzgqg2fd6a", .handle = "alice.test", .repository = "team/app",
               .avatar_cid = "bafkrei\"><script>x"};
  CHECK(avatar_href(page.repo) == "/r/alice.test/team/app/-/avatar?cid=bafkrei%22%3E%3Cscript%3Ex");
  for (const std::string& html : {repo_page_body(page, ""), repo_cards({page.repo}, ""), repo_meta(page, "https://r.example")}) {
    CAPTURE(html);
    CHECK(!has(html, "<script>x"));
    CHECK(has(html, "/r/alice.test/team/app/-/avatar?cid=bafkrei%22%3E%3Cscript%3Ex"));
  }
  CHECK(has(repo_meta(page, "https://r.example"), R"(<meta property="og:image" content="https://r.example/r/alice.test/team/app/-/avatar?cid=)"));
  page.repo.avatar_cid.clear();
  CHECK(!has(repo_page_body(page, ""), "class=\"avatar\""));
  CHECK(!has(repo_meta(page, "https://r.example"), "og:image"));
}

// What a PDS answers for getBlob is checked before it is served from the
// AppView's origin: the CID's bytes, an image, within the size limit.
TEST_CASE("avatars: a PDS's wrong bytes, non-images, oversize blobs and errors are refused") {
  Bytes png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3};
  Bytes svg{'<', 's', 'v', 'g', '>'};
  Bytes big(kMaxAvatarBytes + 1, 0xff);
  big[0] = 0xff, big[1] = 0xd8, big[2] = 0xff;
  std::map<std::string, Bytes> blobs;  // what the "PDS" serves, by the CID asked for
  std::string png_cid = Cid::compute(Codec::kRaw, png).to_string();
  std::string svg_cid = Cid::compute(Codec::kRaw, svg).to_string();
  std::string big_cid = Cid::compute(Codec::kRaw, big).to_string();
  std::string swapped_cid = Cid::compute(Codec::kRaw, Bytes{1, 2, 3}).to_string();
  blobs[png_cid] = png, blobs[svg_cid] = svg, blobs[big_cid] = big, blobs[swapped_cid] = png;
  int requests = 0;
  xrpc::XrpcServer pds;
  pds.query("com.atproto.sync.getBlob", [&](const xrpc::ServerRequest& req) {
    ++requests;
    auto it = blobs.find(req.param("cid").value_or(""));
    if (it == blobs.end()) return xrpc::ServerResponse::text("{\"error\":\"BlobNotFound\"}", "application/json", 400);
    return xrpc::ServerResponse::bytes(it->second, "image/png");  // the PDS's type is not believed
  });
  pds.start();
  std::string url = "http://127.0.0.1:" + std::to_string(pds.port());
  AvatarCache cache(std::make_shared<net::HttpClient>());
  auto ok = cache.get(url, "did:plc:alice7fhzbvaiqzgqg2fd6a", png_cid);
  REQUIRE(ok);
  CHECK(ok->content_type == "image/png");
  CHECK(ok->bytes == png);
  CHECK(cache.get(url, "did:plc:alice7fhzbvaiqzgqg2fd6a", png_cid) == ok);  // cached
  CHECK(requests == 1);
  for (const std::string& cid : {svg_cid, big_cid, swapped_cid, Cid::compute(Codec::kRaw, Bytes{9}).to_string(),
                                 std::string("not-a-cid")}) {
    CAPTURE(cid);
    CHECK(cache.get(url, "did:plc:alice7fhzbvaiqzgqg2fd6a", cid) == nullptr);
  }
  int before = requests;
  CHECK(cache.get(url, "did:plc:alice7fhzbvaiqzgqg2fd6a", svg_cid) == nullptr);  // the failure is remembered
  CHECK(requests == before);
  pds.stop();
}

TEST_CASE("web UI over HTTP: status codes, CSRF, bad input, caching") {
  WebFixture f;
  SUBCASE("pages") {
    check_html_page(f.get("/"), 200);
    check_html_page(f.get("/", true), 200);
    check_html_page(f.get("/search?q=%3Cscript%3E"), 200);
    CHECK(has(f.get("/search?q=%3Cscript%3E").text(), R"(value="&lt;script&gt;")"));
    check_html_page(f.get("/search?q=" + std::string(300, 'a')), 400);
    check_html_page(f.get("/search?q=a&page=x"), 400);
    check_html_page(f.get("/search?q=a&page=100000"), 400);
    // Unknown users (no such handle, a DID without a PDS) and repositories: 404 pages.
    check_html_page(f.get("/u/nobody.invalid"), 404);
    check_html_page(f.get("/r/nobody.invalid/app"), 404);
    check_html_page(f.get("/r/did:plc:alice7fhzbvaiqzgqg2fd6a/app"), 404);
    check_html_page(f.get("/r/did:plc:alice7fhzbvaiqzgqg2fd6a/UPPER..bad"), 404);
    auto hostile = f.get("/u/%3Cscript%3Ex");
    check_html_page(hostile, 404);
    CHECK(!has(hostile.text(), "<script>x"));
    // Signed out, settings and the editor send to the sign-in page.
    CHECK(f.get("/settings").status == 303);
    CHECK(f.get("/settings").header("location") == "/login?return_to=%2Fsettings");
    CHECK(f.get("/r/alice.test/app/-/edit").status == 303);
    // No avatar for unknown repositories (a plain 404, not an image).
    CHECK(f.get("/r/did:plc:alice7fhzbvaiqzgqg2fd6a/app/-/avatar").status == 404);
    CHECK(f.get("/r/nobody.invalid/app/-/avatar?cid=x").status == 404);
  }
  SUBCASE("static assets: versioned, cached for a year; other paths 404") {
    auto css = f.get(stylesheet_path());
    CHECK(css.status == 200);
    CHECK(css.header("content-type").starts_with("text/css"));
    CHECK(css.header("cache-control") == "public, max-age=31536000, immutable");
    CHECK(f.get(script_path()).header("content-type").starts_with("text/javascript"));
    CHECK(f.get("/static/0000/atcr.css").status == 404);
    CHECK(has(f.get("/").text(), stylesheet_path()));
  }
  SUBCASE("every form POST needs the CSRF token: 403 pages") {
    for (const char* path : {"/settings", "/r/alice.test/app/-/star", "/r/alice.test/app/-/edit"}) {
      CAPTURE(path);
      check_html_page(f.post(path, "star=true&defaultHold=", false), 403);
      check_html_page(f.post(path, "csrf=forged&star=true&defaultHold="), 403);
      check_html_page(f.post(path, "star=true&defaultHold="), 403);
      // A signed-out browser with someone's token is still refused.
      check_html_page(f.post(path, f.with_csrf("star=true"), false), 403);
    }
  }
  SUBCASE("bad input: 400 pages naming the problem, before anything is written") {
    auto bad_hold = f.post("/settings", f.with_csrf("defaultHold=" + net::url_encode(kHostile) + "&ociClient=docker"));
    check_html_page(bad_hold, 400);
    CHECK(has(bad_hold.text(), "must be a DID"));
    auto bad_client = f.post("/settings", f.with_csrf("defaultHold=&ociClient=" + net::url_encode(kHostile)));
    check_html_page(bad_client, 400);
    CHECK(!has(bad_client.text(), "<script>alert"));
    check_html_page(f.post("/settings", f.with_csrf("defaultHold=did:web:nowhere.example&ociClient=podman")), 400);
    check_html_page(f.post("/r/alice.test/app/-/star", f.with_csrf("star=maybe")), 400);
    check_html_page(f.post("/r/alice.test/app/-/edit", f.with_csrf("description=" + std::string(100001, 'a'))), 400);
    check_html_page(f.post("/settings", "csrf=" + net::url_encode(f.csrf) + "&%zz"), 400);  // a malformed form
    // Unknown repositories: 404, even with a valid form.
    check_html_page(f.post("/r/nobody.invalid/app/-/star", f.with_csrf("star=true")), 404);
  }
  SUBCASE("valid input without a live OAuth session: 401, sign in again") {
    auto r = f.post("/settings", f.with_csrf("defaultHold=&ociClient=podman"));
    check_html_page(r, 401);
    CHECK(has(r.text(), "sign in again"));
  }
}

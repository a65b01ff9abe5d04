// The hold's admin panel (hold/admin/admin_panel.h) over HTTP: who gets
// in, CSRF on every form, the crew records and captain settings its forms
// write, escaping. The OAuth sign-in itself is the e2e test's
// (tests/e2e/admin_test.sh, chromium against the reference PDS); here a
// browser session is made white-box with the panel's own key and table.
#include <doctest/doctest.h>

#include "atcr/data/json.h"
#include "atcr/hold/hold.h"
#include "atcr/net/http_client.h"
#include "free_port.h"
#include "hold/admin/admin_panel.h"
#include "memory_resolver.h"
#include "temp_dir.h"

using namespace atcr;

namespace {

constexpr std::string_view kBrowser = "Mozilla/5.0 (test browser)";
const std::string kOwner = "did:plc:ownerownerownerowner000";
const std::string kAlice = "did:plc:alicealicealicealice000";

class AdminFixture {
 public:
  AdminFixture() : port_(test::free_port()) {
    for (const std::string& did : {kOwner, kAlice})
      resolver_.add(did, PrivateKey::generate(KeyType::kSecp256k1).public_key());
    start();
  }

  void start(bool is_public = false) {
    server_.reset();
    hold_.reset();
    hold::HoldConfig c;
    c.server.public_url = "http://127.0.0.1:" + std::to_string(port_);
    c.server.port = port_;
    c.server.is_public = is_public;
    c.server.data_dir = dir_ / "data";
    c.registration.owner_did = kOwner;
    c.storage.driver = hold::HoldConfig::Driver::kFilesystem;
    c.storage.path = dir_ / "blobs";
    c.storage.presign = false;
    c.quota.tiers = {{"deckhand", 1000}, {"bosun", 1'000'000}};
    hold_ = std::make_unique<hold::Hold>(c, hold::HoldOptions{&resolver_});
    xrpc::ServerOptions so;
    so.port = port_;
    so.logger = nullptr;
    server_ = std::make_unique<xrpc::XrpcServer>(so);
    hold_->register_endpoints(*server_);
    server_->start();
    sessions_ = std::make_unique<web::WebSessions>((dir_ / "data" / "admin.sqlite").string(),
                                                   dir_ / "data" / "admin-session.key", false, std::chrono::hours(1),
                                                   hold::admin_site());
  }

  // A signed-in browser of `did`: its Cookie header and CSRF token.
  struct Browser {
    std::string cookie;
    std::string csrf;
  };
  Browser sign_in(const std::string& did) {
    xrpc::ServerRequest signing_in;
    signing_in.headers.emplace_back("user-agent", std::string(kBrowser));
    std::string set_cookie = sessions_->start(did, "", signing_in);
    Browser b{set_cookie.substr(0, set_cookie.find(';')), ""};
    xrpc::ServerRequest later;
    later.headers.emplace_back("cookie", b.cookie);
    later.headers.emplace_back("user-agent", std::string(kBrowser));
    auto user = sessions_->current(later);
    REQUIRE(user);
    b.csrf = sessions_->csrf_token(*user);
    return b;
  }

  net::HttpResponse get(const std::string& path, const Browser* as = nullptr, std::string_view agent = kBrowser) {
    net::HttpRequest req;
    req.url = url() + path;
    req.headers.emplace_back("User-Agent", std::string(agent));
    if (as) req.headers.emplace_back("Cookie", as->cookie);
    return http_.send(req);
  }

  // A form POST; `csrf` = false leaves the token out.
  net::HttpResponse post(const std::string& path, const Browser* as, std::vector<std::pair<std::string, std::string>> form,
                         bool csrf = true) {
    if (as && csrf) form.emplace_back("csrf", as->csrf);
    std::string body;
    for (const auto& [k, v] : form) body += (body.empty() ? "" : "&") + net::url_encode(k) + "=" + net::url_encode(v);
    net::HttpRequest req;
    req.method = "POST";
    req.url = url() + path;
    req.headers.emplace_back("User-Agent", std::string(kBrowser));
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    if (as) req.headers.emplace_back("Cookie", as->cookie);
    req.body = to_bytes(body);
    return http_.send(req);
  }

  std::optional<Value> record(std::string_view collection, const std::string& rkey) {
    auto r = get("/xrpc/com.atproto.repo.getRecord?repo=" + net::url_encode(hold_->did()) +
                 "&collection=" + std::string(collection) + "&rkey=" + net::url_encode(rkey));
    if (r.status != 200) return std::nullopt;
    return json::parse(r.text()).at("value");
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  test::TempDir dir_{"atcr-hold-admin"};
  test::MemoryResolver resolver_;
  int port_;
  std::unique_ptr<hold::Hold> hold_;
  std::unique_ptr<xrpc::XrpcServer> server_;
  std::unique_ptr<web::WebSessions> sessions_;
  net::HttpClient http_;
};

bool has(const net::HttpResponse& r, std::string_view text) { return r.text().find(text) != std::string::npos; }

std::vector<std::pair<std::string, std::string>> member_form(const std::string& who, const std::string& role,
                                                             std::vector<std::string> permissions,
                                                             const std::string& tier = "") {
  std::vector<std::pair<std::string, std::string>> f{{"member", who}, {"did", who}, {"role", role}, {"tier", tier}};
  for (auto& p : permissions) f.emplace_back("permissions", std::move(p));
  return f;
}

}  // namespace

TEST_CASE("admin panel: only the owner's browser gets in") {
  AdminFixture f;
  auto anonymous = f.get("/admin/crew");
  CHECK(anonymous.status == 303);
  CHECK(anonymous.header("location") == "/admin/auth/login?return_to=%2Fadmin%2Fcrew");
  auto login = f.get("/admin/auth/login?return_to=//evil.example");
  CHECK(login.status == 200);
  CHECK(has(login, R"(name="return_to" value="/admin")"));  // never an open redirect

  auto owner = f.sign_in(kOwner);
  auto crew = f.get("/admin/crew", &owner);
  CHECK(crew.status == 200);
  CHECK(crew.header("content-type").starts_with("text/html"));
  CHECK(has(crew, kOwner));
  CHECK(f.get("/admin", &owner).status == 200);
  CHECK(f.get("/admin/storage", &owner).status == 200);

  auto alice = f.sign_in(kAlice);
  auto refused = f.get("/admin/crew", &alice);
  CHECK(refused.status == 403);
  CHECK(has(refused, "Owner only"));
  CHECK(f.post("/admin/crew/add", &alice, member_form(kAlice, "admin", {"crew:admin"})).status == 403);
  CHECK(!f.record(hold::kCrewCollection, kAlice));

  SUBCASE("the cookie is bound to the browser that signed in") {
    CHECK(f.get("/admin/crew", &owner, "curl/8.0").status == 303);
  }
  SUBCASE("logout is a POST with the CSRF token, and ends the session") {
    CHECK(f.post("/admin/auth/logout", &owner, {}, false).status == 403);
    CHECK(f.get("/admin/crew", &owner).status == 200);
    CHECK(f.post("/admin/auth/logout", &owner, {}).status == 303);
    CHECK(f.get("/admin/crew", &owner).status == 303);
  }
}

TEST_CASE("admin panel: crew forms write io.atcr.hold.crew records, each with the CSRF token") {
  AdminFixture f;
  auto owner = f.sign_in(kOwner);
  auto form = member_form(kAlice, "write", {"blob:read", "blob:write"}, "bosun");

  CHECK(f.post("/admin/crew/add", &owner, form, false).status == 403);
  auto forged = form;
  forged.emplace_back("csrf", "forged");
  CHECK(f.post("/admin/crew/add", &owner, forged, false).status == 403);
  CHECK(!f.record(hold::kCrewCollection, kAlice));

  auto added = f.post("/admin/crew/add", &owner, form);
  CHECK(added.status == 303);
  CHECK(added.header("location").starts_with("/admin/crew?done="));
  auto record = f.record(hold::kCrewCollection, kAlice);
  REQUIRE(record);
  CHECK(record->at("$type").as_string() == "io.atcr.hold.crew");
  CHECK(record->at("member").as_string() == kAlice);
  CHECK(record->at("role").as_string() == "write");
  CHECK(record->at("permissions") == Value(Value::Array{Value("blob:read"), Value("blob:write")}));
  CHECK(record->at("tier").as_string() == "bosun");
  std::string added_at = record->at("addedAt").as_string();
  CHECK(!added_at.empty());
  CHECK(has(f.get("/admin/crew", &owner), kAlice));

  CHECK(f.post("/admin/crew/update", &owner, member_form(kAlice, "read", {"blob:read"})).status == 303);
  record = f.record(hold::kCrewCollection, kAlice);
  REQUIRE(record);
  CHECK(record->at("role").as_string() == "read");
  CHECK(record->at("permissions") == Value(Value::Array{Value("blob:read")}));
  CHECK(record->find("tier") == nullptr);  // the default tier
  CHECK(record->at("addedAt").as_string() == added_at);

  CHECK(f.post("/admin/crew/remove", &owner, {{"did", kAlice}}, false).status == 403);
  CHECK(f.record(hold::kCrewCollection, kAlice));
  CHECK(f.post("/admin/crew/remove", &owner, {{"did", kAlice}}).status == 303);
  CHECK(!f.record(hold::kCrewCollection, kAlice));
  CHECK(f.post("/admin/crew/remove", &owner, {{"did", kAlice}}).status == 404);
  // The owner stays.
  CHECK(f.post("/admin/crew/remove", &owner, {{"did", kOwner}}).status == 400);
  CHECK(f.record(hold::kCrewCollection, kOwner));
}

TEST_CASE("admin panel: bad input is a 400 page that changes nothing and echoes nothing unescaped") {
  AdminFixture f;
  auto owner = f.sign_in(kOwner);
  auto hostile = f.post("/admin/crew/add", &owner, member_form("<script>alert(1)</script>", "write", {"blob:read"}));
  CHECK(hostile.status == 400);
  CHECK(hostile.header("content-type").starts_with("text/html"));
  CHECK(!has(hostile, "<script>alert"));
  CHECK(has(hostile, "&lt;script&gt;"));
  CHECK(f.post("/admin/crew/add", &owner, member_form(kAlice, "owner", {"blob:read"})).status == 400);
  CHECK(f.post("/admin/crew/add", &owner, member_form(kAlice, "<b>", {"blob:read"})).status == 400);
  CHECK(f.post("/admin/crew/add", &owner, member_form(kAlice, "write", {"blob:delete"})).status == 400);
  CHECK(f.post("/admin/crew/add", &owner, member_form(kAlice, "write", {"blob:read"}, "platinum")).status == 400);
  CHECK(f.post("/admin/crew/add", &owner, member_form(kOwner, "read", {"blob:read"})).status == 400);
  CHECK(f.post("/admin/crew/add", &owner, member_form("nobody.invalid", "read", {"blob:read"})).status == 400);
  CHECK(!f.record(hold::kCrewCollection, kAlice));
  auto notice = f.get("/admin/crew?done=%3Cimg%20src%3Dx%3E", &owner);
  CHECK(!has(notice, "<img"));
}

TEST_CASE("admin panel: settings write the captain record and outlive a restart, until the config changes") {
  AdminFixture f;
  auto owner = f.sign_in(kOwner);
  CHECK(f.post("/admin/settings", &owner, {{"public", "on"}, {"bluesky_posts", "on"}}, false).status == 403);
  CHECK(f.post("/admin/settings", &owner, {{"public", "on"}, {"bluesky_posts", "on"}}).status == 303);
  auto captain = f.record(hold::kCaptainCollection, "self");
  REQUIRE(captain);
  CHECK(captain->at("public").as_bool());
  CHECK(!captain->at("allowAllCrew").as_bool());
  CHECK(captain->at("enableBlueskyPosts").as_bool());
  CHECK(f.get("/admin/settings", &owner).text().find(R"(id="public" checked)") != std::string::npos);

  f.start(false);  // same config: the panel's settings stay
  captain = f.record(hold::kCaptainCollection, "self");
  CHECK(captain->at("public").as_bool());
  CHECK(captain->at("enableBlueskyPosts").as_bool());

  f.start(true);  // the config now says public: applied (it was already)
  f.start(false);  // the config changed back: the config wins
  captain = f.record(hold::kCaptainCollection, "self");
  CHECK(!captain->at("public").as_bool());
  CHECK(captain->at("enableBlueskyPosts").as_bool());  // the config never changed that one
}

TEST_CASE("admin panel: garbage collection: preview and run, owner-only POSTs with the CSRF token; last runs") {
  AdminFixture f;
  auto owner = f.sign_in(kOwner);
  auto alice = f.sign_in(kAlice);
  auto empty = f.get("/admin/gc", &owner);
  CHECK(empty.status == 200);
  CHECK(has(empty, R"(id="gc-preview")"));
  CHECK(has(empty, "No collection has run yet"));

  // Refused: signed out, not the owner, no or a forged CSRF token. None runs.
  CHECK(f.get("/admin/gc").status == 303);
  CHECK(f.get("/admin/gc", &alice).status == 403);
  CHECK(f.post("/admin/gc/run", nullptr, {}).status == 403);
  CHECK(f.post("/admin/gc/run", &alice, {}).status == 403);
  CHECK(f.post("/admin/gc/preview", &alice, {}).status == 403);
  CHECK(f.post("/admin/gc/run", &owner, {}, false).status == 403);
  CHECK(f.post("/admin/gc/preview", &owner, {{"csrf", "forged"}}, false).status == 403);
  CHECK(has(f.get("/admin/gc", &owner), "No collection has run yet"));

  // A preview is a page of what would go (here nothing: the owner's PDS
  // cannot be read, which the page says, escaped).
  auto preview = f.post("/admin/gc/preview", &owner, {});
  CHECK(preview.status == 200);
  CHECK(preview.header("content-type").starts_with("text/html"));
  CHECK(has(preview, R"(id="gc-summary">Preview: )"));
  CHECK(has(preview, "would delete 0 blob(s)"));
  CHECK(has(preview, "could not be read"));
  CHECK(has(preview, R"(id="gc-run")"));

  // A run lands back on the page, which lists both, newest first.
  auto run = f.post("/admin/gc/run", &owner, {});
  CHECK(run.status == 303);
  CHECK(run.header("location").starts_with("/admin/gc?done=Collected"));
  auto after = f.get(run.header("location"), &owner);
  CHECK(has(after, R"(id="notice">Collected: 0 blob(s) deleted)"));
  auto runs = after.text();
  auto first_run = runs.find(R"(<tr class="run">)");
  auto first_preview = runs.find(R"(<tr class="preview">)");
  CHECK(first_run != std::string::npos);
  CHECK(first_preview != std::string::npos);
  CHECK(first_run < first_preview);
  CHECK(has(after, R"(id="gc-last")"));
}

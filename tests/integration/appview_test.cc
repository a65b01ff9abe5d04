// The AppView end to end, in process: the reference PDS + PLC (through
// with-pds.sh), two in-process holds (http://localhost:<port>) on the filesystem driver (a public one
// open to all crew, a private one), and the AppView, driven over HTTP with
// the OCI distribution API as clients use it: token flow, monolithic,
// chunked and streamed uploads, manifests by tag and digest, an index,
// tag pagination, referrers, deletes, mounts, a private hold refusing a
// non-crew pull, and a tampered manifest blob refused on pull.
#include <doctest/doctest.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "free_port.h"
#include "appview/device_store.h"
#include "atcr/appview/appview.h"
#include "atcr/crypto/random.h"
#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"
#include "atcr/hold/hold.h"
#include "atcr/oci/digest.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/records.h"
#include "atcr/oci/registry_login.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/session.h"
#include "pds_fixture.h"
#include "temp_dir.h"
#include "util/sqlite.h"

using namespace atcr;
using namespace atcr::test;

namespace {


struct User {
  Account account;
  std::string app_password;
};

User new_user(const xrpc::XrpcClient& pds) {
  User u{create_account(pds), ""};
  Value out = pds.procedure("com.atproto.server.createAppPassword", Value(Value::Map{{"name", Value("atcr")}}), {},
                            {.bearer = u.account.access_jwt});
  u.app_password = out.at("password").as_string();
  return u;
}

// Writes (or, with a null record, deletes) a record in the user's repo
// straight at the PDS, behind the AppView's back.
void write_at_pds(const xrpc::XrpcClient& pds, const User& u, std::string_view collection, const std::string& rkey,
                  std::optional<Value> record) {
  Value::Map in{{"repo", Value(u.account.did)}, {"collection", Value(std::string(collection))}, {"rkey", Value(rkey)}};
  if (record) in["record"] = std::move(*record);
  pds.procedure(record ? "com.atproto.repo.putRecord" : "com.atproto.repo.deleteRecord", Value(std::move(in)), {},
                {.bearer = u.account.access_jwt});
}

// An io.atcr.sailor.profile naming the hold the user pushes to.
Value profile_naming(const std::string& hold_did) {
  return Value(Value::Map{{"$type", Value("io.atcr.sailor.profile")},
                          {"defaultHold", Value(hold_did)},
                          {"createdAt", Value("2025-01-01T00:00:00.000Z")}});
}

struct RunningHold {
  std::unique_ptr<hold::Hold> hold;
  std::unique_ptr<xrpc::XrpcServer> server;
  std::string did() const { return hold->did(); }
};

// Everything shared by the test cases (booting it once keeps the run short).
struct World {
  std::shared_ptr<const net::HttpClient> http = test_http();
  xrpc::XrpcClient pds{pds_url(), http};
  identity::DirectoryResolver resolver{loopback_resolver_options()};
  TempDir dir{"atcr-appview-it"};
  User alice = new_user(pds);
  User bob = new_user(pds);
  User carol = new_user(pds);  // owns the private hold
  RunningHold public_hold = start_hold("public", alice.account.did, true, true);
  RunningHold private_hold = start_hold("private", carol.account.did, false, false);
  std::unique_ptr<appview::Appview> appview;
  std::unique_ptr<xrpc::XrpcServer> server;
  std::string base;

  appview::AppviewConfig config;

  World() {
    int port = free_port();
    base = "http://127.0.0.1:" + std::to_string(port);
    appview::AppviewConfig& c = config;
    c.server.port = port;
    c.server.public_url = base;
    c.server.service = "127.0.0.1:" + std::to_string(port);
    c.server.data_dir = dir / "appview";
    c.server.default_hold_did = public_hold.did();
    c.identity.plc_url = plc_url();
    c.uploads.part_size = 5 << 20;
    c.auth.device_poll_interval = std::chrono::seconds(1);
    c.uploads.max_sessions_per_user = 6;
    c.identity.development = true;  // the holds users name are on loopback
    start_appview();

    // Carol's blobs go to her private hold: her profile says so before her
    // first login (which would otherwise create it with the default).
    write_at_pds(pds, carol, "io.atcr.sailor.profile", "self", profile_naming(private_hold.did()));
  }

  // A new AppView process, as after a restart: same config, same data_dir.
  void start_appview() {
    server.reset();
    appview.reset();
    appview = std::make_unique<appview::Appview>(config, appview::AppviewOptions{&resolver, http});
    xrpc::ServerOptions so;
    so.port = config.server.port;
    so.max_body_bytes = 5 << 20;
    so.logger = nullptr;
    server = std::make_unique<xrpc::XrpcServer>(so);
    appview->register_endpoints(*server);
    server->start();
  }

  RunningHold start_hold(const std::string& name, const std::string& owner, bool is_public, bool allow_all) {
    int port = free_port();
    hold::HoldConfig c;
    // A host name, not an IP: the reference PDS refuses getServiceAuth for
    // aud did:web:127.0.0.1%3A... (did:web names hosts, not addresses).
    c.server.public_url = "http://localhost:" + std::to_string(port);
    c.server.port = port;
    c.server.is_public = is_public;
    c.server.data_dir = dir / (name + "-data");
    c.registration.owner_did = owner;
    c.registration.allow_all_crew = allow_all;
    c.storage.driver = hold::HoldConfig::Driver::kFilesystem;
    c.storage.path = dir / (name + "-blobs");
    c.storage.presign = false;
    c.identity.plc_url = plc_url();
    RunningHold h;
    h.hold = std::make_unique<hold::Hold>(c, hold::HoldOptions{&resolver});
    xrpc::ServerOptions so;
    so.port = port;
    so.logger = nullptr;
    h.server = std::make_unique<xrpc::XrpcServer>(so);
    h.hold->register_endpoints(*h.server);
    h.server->start();
    return h;
  }
};

World& world() {
  static World w;
  return w;
}

// An OCI client with a registry token.
struct Client {
  World& w = world();
  std::string token;

  static std::string basic(const User& u) {
    return "Basic " + base64::encode(as_bytes(u.account.handle + ":" + u.app_password));
  }

  net::HttpResponse token_request(const std::string& scope, const std::string& auth) {
    net::HttpRequest r;
    r.url = w.base + "/auth/token?service=" + net::url_encode(w.server->url().substr(7)) +
            (scope.empty() ? "" : "&scope=" + net::url_encode(scope));
    if (!auth.empty()) r.headers.emplace_back("Authorization", auth);
    return w.http->send(r);
  }

  void login(const User& u, const std::string& scope) {
    auto r = token_request(scope, basic(u));
    REQUIRE_MESSAGE(r.status == 200, r.text());
    token = json::parse(r.text()).at("token").as_string();
  }

  net::HttpResponse send(const std::string& method, const std::string& path, std::string_view body = {},
                         net::Headers headers = {}) {
    net::HttpRequest r;
    r.method = method;
    r.url = path.starts_with("http") ? path : w.base + path;
    r.headers = std::move(headers);
    if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
    r.body = to_bytes(body);
    return w.http->send(r);
  }

  static std::string error_code(const net::HttpResponse& r) {
    try {
      return json::parse(r.text()).at("errors").as_array().at(0).at("code").as_string();
    } catch (const std::exception&) {
      return "<no error body: " + r.text().substr(0, 200) + ">";
    }
  }

  // Monolithic upload; returns the digest.
  std::string push_blob(const std::string& name, const std::string& data) {
    std::string digest = oci::Digest::of(data).str();
    auto r = send("POST", "/v2/" + name + "/blobs/uploads/?digest=" + digest, data,
                  {{"Content-Type", "application/octet-stream"}});
    REQUIRE_MESSAGE(r.status == 201, r.text());
    CHECK(r.header("docker-content-digest") == digest);
    return digest;
  }

  net::HttpResponse put_manifest(const std::string& name, const std::string& ref, const std::string& body,
                                 const std::string& type = "application/vnd.oci.image.manifest.v1+json") {
    return send("PUT", "/v2/" + name + "/manifests/" + ref, body, {{"Content-Type", type}});
  }
};

std::string descriptor(const std::string& type, const std::string& data) {
  return fmt::format(R"({{"mediaType":"{}","digest":"{}","size":{}}})", type, oci::Digest::of(data).str(),
                     data.size());
}

std::string image_manifest(const std::string& config, const std::vector<std::string>& layers,
                           const std::string& extra = "") {
  std::string out = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":)" +
                    descriptor("application/vnd.oci.image.config.v1+json", config) + R"(,"layers":[)";
  for (std::size_t i = 0; i < layers.size(); ++i)
    out += (i ? "," : "") + descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layers[i]);
  return out + "]" + extra + "}";
}

std::string random_text(std::size_t n) {
  Bytes b = random_bytes(n);
  return std::string(b.begin(), b.end());
}

std::string name_of(const User& u, const std::string& repo) { return u.account.handle + "/" + repo; }

}  // namespace

TEST_CASE("token flow: challenge, bad and good passwords, anonymous pull-only") {
  Client c;
  auto v2 = c.send("GET", "/v2/");
  CHECK(v2.status == 401);
  CHECK(v2.header("www-authenticate") ==
        fmt::format(R"(Bearer realm="{}/auth/token",service="{}")", c.w.base, c.w.base.substr(7)));
  CHECK(v2.header("docker-distribution-api-version") == "registry/2.0");

  std::string name = name_of(c.w.alice, "app");
  User wrong = c.w.alice;
  wrong.app_password = "xxxx-xxxx-xxxx-xxxx";
  auto bad = c.token_request("repository:" + name + ":pull,push", Client::basic(wrong));
  CHECK(bad.status == 401);
  CHECK(Client::error_code(bad) == "UNAUTHORIZED");

  c.login(c.w.alice, "repository:" + name + ":pull,push");
  v2 = c.send("GET", "/v2/");
  CHECK(v2.status == 200);
  CHECK(v2.header("docker-distribution-api-version") == "registry/2.0");
  CHECK(c.send("GET", "/v2/", {}, {{"Authorization", "Bearer junk"}}).status == 401);

  // Anonymous: a token, but push is not granted.
  auto anon = c.token_request("repository:" + name + ":pull,push", "");
  REQUIRE(anon.status == 200);
  Value tok = json::parse(anon.text());
  CHECK(tok.at("expires_in").as_integer() == 900);
  Client a;
  a.token = tok.at("token").as_string();
  auto push = a.send("POST", "/v2/" + name + "/blobs/uploads/");
  CHECK(push.status == 401);
  CHECK(push.header("www-authenticate").find("scope=\"repository:" + name + ":pull,push\"") != std::string::npos);
}

TEST_CASE("blobs: monolithic, chunked (out of order refused), streamed, digest mismatch; HEAD and GET") {
  Client c;
  std::string name = name_of(c.w.alice, "blobs");
  c.login(c.w.alice, "repository:" + name + ":pull,push");

  std::string small = random_text(1000);
  std::string d1 = c.push_blob(name, small);
  auto head = c.send("HEAD", "/v2/" + name + "/blobs/" + d1);
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "1000");
  CHECK(head.header("docker-content-digest") == d1);
  auto get = c.send("GET", "/v2/" + name + "/blobs/" + d1);
  REQUIRE(get.status == 307);
  auto bytes = c.w.http->get(get.header("location"));
  CHECK(bytes.status == 200);
  CHECK(bytes.text() == small);
  CHECK(c.send("HEAD", "/v2/" + name + "/blobs/sha256:" + std::string(64, '0')).status == 404);
  CHECK(Client::error_code(c.send("GET", "/v2/" + name + "/blobs/sha256:" + std::string(64, '0'))) == "BLOB_UNKNOWN");
  CHECK(Client::error_code(c.send("GET", "/v2/" + name + "/blobs/sha256:xyz")) == "DIGEST_INVALID");

  // Chunked, 11 MiB in three PATCHes: parts of 5 MiB reach the hold as they fill.
  std::string big = random_text(11 << 20);
  std::string big_digest = oci::Digest::of(big).str();
  auto start = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  REQUIRE(start.status == 202);
  std::string location = start.header("location");
  CHECK(!start.header("docker-upload-uuid").empty());
  CHECK(start.header("range") == "0-0");
  std::size_t first = 3 << 20, second = 6 << 20;
  auto p1 = c.send("PATCH", location, std::string_view(big).substr(0, first),
                   {{"Content-Type", "application/octet-stream"}, {"Content-Range", fmt::format("0-{}", first - 1)}});
  REQUIRE(p1.status == 202);
  CHECK(p1.header("range") == fmt::format("0-{}", first - 1));
  auto wrong = c.send("PATCH", location, std::string_view(big).substr(0, 10),
                      {{"Content-Type", "application/octet-stream"}, {"Content-Range", "0-9"}});
  CHECK(wrong.status == 416);
  auto p2 = c.send("PATCH", p1.header("location"), std::string_view(big).substr(first, second),
                   {{"Content-Type", "application/octet-stream"},
                    {"Content-Range", fmt::format("{}-{}", first, first + second - 1)}});
  REQUIRE(p2.status == 202);
  auto status = c.send("GET", location);
  CHECK(status.status == 204);
  CHECK(status.header("range") == fmt::format("0-{}", first + second - 1));
  auto done = c.send("PUT", location + "?digest=" + big_digest, std::string_view(big).substr(first + second),
                     {{"Content-Type", "application/octet-stream"},
                      {"Content-Range", fmt::format("{}-{}", first + second, big.size() - 1)}});
  REQUIRE_MESSAGE(done.status == 201, done.text());
  CHECK(done.header("location") == "/v2/" + name + "/blobs/" + big_digest);
  CHECK(c.send("HEAD", "/v2/" + name + "/blobs/" + big_digest).header("content-length") == std::to_string(big.size()));

  // Streamed: one PATCH with no Content-Range, then PUT with no body.
  std::string streamed = random_text(7 << 20);
  std::string sd = oci::Digest::of(streamed).str();
  auto s0 = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  REQUIRE(s0.status == 202);
  auto s1 = c.send("PATCH", s0.header("location"), streamed, {{"Content-Type", "application/octet-stream"}});
  REQUIRE(s1.status == 202);
  auto s2 = c.send("PUT", s1.header("location") + "?digest=" + sd);
  REQUIRE_MESSAGE(s2.status == 201, s2.text());
  auto sget = c.send("GET", "/v2/" + name + "/blobs/" + sd);
  REQUIRE(sget.status == 307);
  CHECK(oci::Digest::of(c.w.http->get(sget.header("location")).body).str() == sd);

  // A digest that does not match the bytes.
  auto m0 = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  REQUIRE(m0.status == 202);
  auto m1 = c.send("PUT", m0.header("location") + "?digest=" + d1, "not the same bytes",
                   {{"Content-Type", "application/octet-stream"}});
  CHECK(m1.status == 400);
  CHECK(Client::error_code(m1) == "DIGEST_INVALID");
  CHECK(c.send("GET", m0.header("location")).status == 404);  // the session is gone

  // Cancel.
  auto x0 = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  CHECK(c.send("DELETE", x0.header("location")).status == 204);
  CHECK(Client::error_code(c.send("GET", x0.header("location"))) == "BLOB_UPLOAD_UNKNOWN");
}

TEST_CASE("manifests: push and pull by tag and digest, missing blobs, an index, tags, referrers, delete, catalog") {
  Client c;
  std::string name = name_of(c.w.alice, "web");
  c.login(c.w.alice, "repository:" + name + ":pull,push,delete");
  std::string config = R"({"architecture":"amd64","os":"linux"})";
  std::string layer = random_text(3000);
  c.push_blob(name, config);
  c.push_blob(name, layer);

  std::string missing = image_manifest(config, {layer, "never uploaded"});
  auto refused = c.put_manifest(name, "broken", missing);
  CHECK(refused.status == 400);
  CHECK(Client::error_code(refused) == "MANIFEST_BLOB_UNKNOWN");

  std::string manifest = image_manifest(config, {layer});
  std::string digest = oci::Digest::of(manifest).str();
  auto put = c.put_manifest(name, "v1", manifest);
  REQUIRE_MESSAGE(put.status == 201, put.text());
  CHECK(put.header("docker-content-digest") == digest);
  CHECK(put.header("location") == "/v2/" + name + "/manifests/" + digest);
  CHECK(c.put_manifest(name, "sha256:" + std::string(64, 'a'), manifest).status == 400);  // digest mismatch

  Client anon;  // manifests are public
  for (const std::string& ref : {std::string("v1"), digest}) {
    auto get = anon.send("GET", "/v2/" + name + "/manifests/" + ref);
    REQUIRE_MESSAGE(get.status == 200, get.text());
    CHECK(get.text() == manifest);
    CHECK(get.header("content-type") == "application/vnd.oci.image.manifest.v1+json");
    CHECK(get.header("docker-content-digest") == digest);
    auto head = anon.send("HEAD", "/v2/" + name + "/manifests/" + ref);
    CHECK(head.status == 200);
    CHECK(head.header("content-length") == std::to_string(manifest.size()));
  }
  CHECK(Client::error_code(anon.send("GET", "/v2/" + name + "/manifests/nope")) == "MANIFEST_UNKNOWN");
  // The anonymous pull of a blob on the public hold: no credentials needed.
  CHECK(anon.send("GET", "/v2/" + name + "/blobs/" + oci::Digest::of(layer).str()).status == 307);

  // Another user cannot push here.
  Client b;
  b.login(c.w.bob, "repository:" + name + ":pull,push");
  auto denied = b.put_manifest(name, "evil", manifest);
  CHECK(denied.status == 403);
  CHECK(Client::error_code(denied) == "DENIED");

  // An index over two platform manifests.
  std::string arm = image_manifest(config, {layer}, R"(,"annotations":{"arch":"arm64"})");
  REQUIRE(c.put_manifest(name, oci::Digest::of(arm).str(), arm).status == 201);
  std::string index = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{}]}})",
      descriptor("application/vnd.oci.image.manifest.v1+json", manifest),
      descriptor("application/vnd.oci.image.manifest.v1+json", arm));
  auto pi = c.put_manifest(name, "multi", index, "application/vnd.oci.image.index.v1+json");
  REQUIRE_MESSAGE(pi.status == 201, pi.text());
  CHECK(anon.send("GET", "/v2/" + name + "/manifests/multi").text() == index);
  std::string bad_index = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}})",
      descriptor("application/vnd.oci.image.manifest.v1+json", "no such manifest"));
  CHECK(Client::error_code(c.put_manifest(name, "badidx", bad_index, "application/vnd.oci.image.index.v1+json")) ==
        "MANIFEST_BLOB_UNKNOWN");

  // Tags: sorted, paginated.
  for (const char* t : {"v3", "v2", "a0"}) REQUIRE(c.put_manifest(name, t, manifest).status == 201);
  auto all = anon.send("GET", "/v2/" + name + "/tags/list");
  REQUIRE(all.status == 200);
  CHECK(json::parse(all.text()).at("tags").as_array().size() == 5);
  CHECK(json::serialize(json::parse(all.text()).at("tags")) == R"(["a0","multi","v1","v2","v3"])");
  auto page1 = anon.send("GET", "/v2/" + name + "/tags/list?n=2");
  CHECK(json::serialize(json::parse(page1.text()).at("tags")) == R"(["a0","multi"])");
  CHECK(page1.header("link") == "</v2/" + name + "/tags/list?n=2&last=multi>; rel=\"next\"");
  auto page3 = anon.send("GET", "/v2/" + name + "/tags/list?n=2&last=v2");
  CHECK(json::serialize(json::parse(page3.text()).at("tags")) == R"(["v3"])");
  CHECK(page3.header("link").empty());
  CHECK(Client::error_code(anon.send("GET", "/v2/" + name + "/tags/list?n=x")) == "PAGINATION_NUMBER_INVALID");

  // A tag moves: its record in the PDS (not only the AppView's cache) now
  // names the other manifest, and the manifest it left is still there.
  REQUIRE(c.put_manifest(name, "v2", arm).status == 201);
  Value tag = c.w.pds.query("com.atproto.repo.getRecord",
                            xrpc::Params{{"repo", c.w.alice.account.did},
                                         {"collection", std::string(oci::kTagCollection)},
                                         {"rkey", oci::tag_rkey("web", "v2")}});
  CHECK(tag.at("value").at("manifestDigest").as_string() == oci::Digest::of(arm).str());
  CHECK(anon.send("GET", "/v2/" + name + "/manifests/v2").text() == arm);
  CHECK(anon.send("GET", "/v2/" + name + "/manifests/" + digest).status == 200);

  // Referrers: an artifact whose subject is the image.
  std::string empty = "{}";
  c.push_blob(name, empty);
  std::string sig = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig","config":{},"layers":[{}],"subject":{},"annotations":{{"k":"v"}}}})",
      descriptor("application/vnd.oci.empty.v1+json", empty), descriptor("application/vnd.oci.empty.v1+json", empty),
      descriptor("application/vnd.oci.image.manifest.v1+json", manifest));
  std::string sig_digest = oci::Digest::of(sig).str();
  auto ps = c.put_manifest(name, sig_digest, sig);
  REQUIRE_MESSAGE(ps.status == 201, ps.text());
  CHECK(ps.header("oci-subject") == digest);
  auto refs = anon.send("GET", "/v2/" + name + "/referrers/" + digest);
  REQUIRE(refs.status == 200);
  CHECK(refs.header("content-type") == "application/vnd.oci.image.index.v1+json");
  Value ri = json::parse(refs.text());
  REQUIRE(ri.at("manifests").as_array().size() == 1);
  const Value& r0 = ri.at("manifests").as_array()[0];
  CHECK(r0.at("digest").as_string() == sig_digest);
  CHECK(r0.at("size").as_integer() == static_cast<std::int64_t>(sig.size()));
  CHECK(r0.at("artifactType").as_string() == "application/vnd.example.sig");
  CHECK(r0.at("annotations").at("k").as_string() == "v");
  auto filtered = anon.send("GET", "/v2/" + name + "/referrers/" + digest + "?artifactType=application/other");
  CHECK(filtered.header("oci-filters-applied") == "artifactType");
  CHECK(json::parse(filtered.text()).at("manifests").as_array().empty());
  CHECK(json::parse(anon.send("GET", "/v2/" + name + "/referrers/" + oci::Digest::of(layer).str()).text())
            .at("manifests").as_array().empty());

  // Catalog: what was pushed through this AppView.
  auto cat = anon.send("GET", "/v2/_catalog");
  REQUIRE(cat.status == 200);
  CHECK(cat.text().find("\"" + name + "\"") != std::string::npos);

  // Delete a tag, then the manifest by digest (its other tags go too).
  CHECK(c.send("DELETE", "/v2/" + name + "/manifests/v3").status == 202);
  CHECK(anon.send("GET", "/v2/" + name + "/manifests/v3").status == 404);
  CHECK(anon.send("GET", "/v2/" + name + "/manifests/v2").status == 200);
  CHECK(c.send("DELETE", "/v2/" + name + "/manifests/" + sig_digest).status == 202);
  CHECK(Client::error_code(anon.send("GET", "/v2/" + name + "/manifests/" + sig_digest)) == "MANIFEST_UNKNOWN");
  CHECK(c.send("DELETE", "/v2/" + name + "/manifests/" + sig_digest).status == 404);
  // The owner deletes a blob of theirs: 202, then it is unknown.
  std::string layer_path = "/v2/" + name + "/blobs/" + oci::Digest::of(layer).str();
  CHECK(c.send("DELETE", layer_path).status == 202);
  CHECK(c.send("HEAD", layer_path).status == 404);
  CHECK(Client::error_code(c.send("DELETE", layer_path)) == "BLOB_UNKNOWN");
}

TEST_CASE("pull counts: one client pulling a repository again within the window counts once") {
  Client c;
  std::string name = name_of(c.w.alice, "counted");
  c.login(c.w.alice, "repository:" + name + ":pull,push");
  std::string config = R"({"os":"linux","counted":1})";
  c.push_blob(name, config);
  std::string manifest = image_manifest(config, {});
  REQUIRE(c.put_manifest(name, "v1", manifest).status == 201);
  std::string digest = oci::Digest::of(manifest).str();
  auto pulls = [&] {
    sqlite::Database db((c.w.dir / "appview" / "index.sqlite").string());
    sqlite::Statement st(db, "SELECT count FROM index_pulls WHERE did = ? AND repository = ?");
    st.bind(1, c.w.alice.account.did).bind(2, std::string("counted"));
    return st.step() ? st.column_int(0) : 0;
  };
  std::int64_t before = pulls();
  Client anon;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(anon.send("GET", "/v2/" + name + "/manifests/v1").status == 200);
    REQUIRE(anon.send("GET", "/v2/" + name + "/manifests/" + digest).status == 200);
    REQUIRE(anon.send("HEAD", "/v2/" + name + "/manifests/v1").status == 200);  // a HEAD is no pull
  }
  CHECK(pulls() == before + 1);
  // Another client (alice, signed in) is another pull; hers repeat once too.
  for (int i = 0; i < 3; ++i) REQUIRE(c.send("GET", "/v2/" + name + "/manifests/v1").status == 200);
  CHECK(pulls() == before + 2);

  // The index failing (its tables gone for a moment) costs a count and an
  // entry, never the pull or the push (the records are in the PDS; the
  // firehose brings them to the index).
  auto index_tables = [&](const char* from, const char* to) {
    sqlite::Database db((c.w.dir / "appview" / "index.sqlite").string());
    for (std::string table : {"index_pulls", "index_manifests"})
      db.exec(("ALTER TABLE " + table + from + " RENAME TO " + table + to).c_str());
  };
  index_tables("", "_away");
  Client bob;
  bob.login(bob.w.bob, "repository:" + name + ":pull");
  CHECK(bob.send("GET", "/v2/" + name + "/manifests/v1").status == 200);
  std::string config2 = R"({"os":"linux","counted":2})";
  c.push_blob(name, config2);
  CHECK(c.put_manifest(name, "v2", image_manifest(config2, {})).status == 201);
  index_tables("_away", "");
  CHECK(pulls() == before + 2);
}

TEST_CASE("cross-repository mount: 201 when the pusher's hold has the blob, else an upload") {
  Client a;
  std::string from = name_of(a.w.alice, "base");
  a.login(a.w.alice, "repository:" + from + ":pull,push");
  std::string blob = random_text(500);
  std::string digest = a.push_blob(from, blob);

  Client b;
  std::string to = name_of(b.w.bob, "derived");
  b.login(b.w.bob, "repository:" + to + ":pull,push repository:" + from + ":pull");
  auto m = b.send("POST", "/v2/" + to + "/blobs/uploads/?mount=" + digest + "&from=" + from);
  CHECK(m.status == 201);
  CHECK(m.header("location") == "/v2/" + to + "/blobs/" + digest);
  CHECK(m.header("docker-content-digest") == digest);
  auto fallback = b.send("POST", "/v2/" + to + "/blobs/uploads/?mount=sha256:" + std::string(64, '1') + "&from=" + from);
  CHECK(fallback.status == 202);
  CHECK(!fallback.header("docker-upload-uuid").empty());
}

TEST_CASE("a pusher's HEAD answers for the push hold; a puller's for the hold the manifests point at") {
  World& w = world();
  User dave = new_user(w.pds);
  std::string name = name_of(dave, "moved");
  Client c;
  c.login(dave, "repository:" + name + ":pull,push");
  std::string config = R"({"architecture":"amd64","os":"linux"})";
  std::string layer = random_text(700);
  std::string manifest = image_manifest(config, {layer});
  c.push_blob(name, config);
  std::string digest = c.push_blob(name, layer);
  REQUIRE(c.put_manifest(name, "1", manifest).status == 201);  // on the default (public) hold

  // Dave names another hold: his next pushes go there.
  RunningHold second = w.start_hold("second", dave.account.did, true, true);
  write_at_pds(w.pds, dave, "io.atcr.sailor.profile", "self", profile_naming(second.did()));
  w.start_appview();  // forgets the cached push hold

  // Pushing: the layer is not on the push hold, so it must be uploaded;
  // a 200 here would have the client skip it and the manifest fail.
  c.login(dave, "repository:" + name + ":pull,push");
  CHECK(c.send("HEAD", "/v2/" + name + "/blobs/" + digest).status == 404);
  CHECK(Client::error_code(c.put_manifest(name, "2", manifest)) == "MANIFEST_BLOB_UNKNOWN");
  // Pulling: the repository's manifests point at the first hold.
  Client puller;
  puller.login(dave, "repository:" + name + ":pull");
  CHECK(puller.send("HEAD", "/v2/" + name + "/blobs/" + digest).status == 200);
  Client anonymous;
  CHECK(anonymous.send("HEAD", "/v2/" + name + "/blobs/" + digest).status == 200);

  c.push_blob(name, config);
  c.push_blob(name, layer);
  CHECK(c.send("HEAD", "/v2/" + name + "/blobs/" + digest).status == 200);
  CHECK(c.put_manifest(name, "2", manifest).status == 201);
  // Pulls now follow the latest manifest to the second hold.
  auto get = puller.send("GET", "/v2/" + name + "/blobs/" + digest);
  REQUIRE(get.status == 307);
  std::string port = second.server->url().substr(second.server->url().rfind(':'));
  CHECK_MESSAGE(get.header("location").find("localhost" + port + "/") != std::string::npos, get.header("location"));
}

TEST_CASE("a push whose tag the index has wrong (changed at the PDS behind its back) still lands") {
  World& w = world();
  User fay = new_user(w.pds);
  std::string name = name_of(fay, "stale");
  Client c;
  c.login(fay, "repository:" + name + ":pull,push");
  std::string config = R"({"architecture":"arm64","os":"linux"})";
  c.push_blob(name, config);
  auto manifest_with = [&](const std::string& text) {
    std::string layer = text + random_text(64);
    c.push_blob(name, layer);
    return image_manifest(config, {layer});
  };
  // The index follows Fay's repo from here on, so it answers for her tags.
  w.appview->index().set_repo_state(fay.account.did, {"3kaaaaaaaaaa2", "bafycommit", "bafydata"});
  REQUIRE(c.put_manifest(name, "gone", manifest_with("a")).status == 201);
  CHECK(w.appview->index().has_tag_record(fay.account.did, oci::tag_rkey("stale", "gone")) == true);
  auto tag_at_pds = [&](const std::string& tag) {
    return w.pds.query("com.atproto.repo.getRecord", {{"repo", fay.account.did},
                                                      {"collection", "io.atcr.tag"},
                                                      {"rkey", oci::tag_rkey("stale", tag)}});
  };
  auto digest_of = [](const std::string& manifest) { return oci::Digest::of(manifest).str(); };

  // Deleted at the PDS: the index still says "there", the push updates it.
  write_at_pds(w.pds, fay, "io.atcr.tag", oci::tag_rkey("stale", "gone"), std::nullopt);
  std::string second = manifest_with("b");
  auto again = c.put_manifest(name, "gone", second);
  CHECK_MESSAGE(again.status == 201, again.text());
  CHECK(tag_at_pds("gone").at("value").at("manifestDigest").as_string() == digest_of(second));

  // Made at the PDS: the index says "not there", the push creates it.
  Value made = tag_at_pds("gone").at("value");
  made.as_map()["tag"] = Value("made");
  write_at_pds(w.pds, fay, "io.atcr.tag", oci::tag_rkey("stale", "made"), made);
  CHECK(w.appview->index().has_tag_record(fay.account.did, oci::tag_rkey("stale", "made")) == false);
  std::string third = manifest_with("c");
  auto made_push = c.put_manifest(name, "made", third);
  CHECK_MESSAGE(made_push.status == 201, made_push.text());
  CHECK(tag_at_pds("made").at("value").at("manifestDigest").as_string() == digest_of(third));
  auto pulled = c.send("GET", "/v2/" + name + "/manifests/made");
  CHECK(pulled.header("docker-content-digest") == digest_of(third));
}

TEST_CASE("a private hold: its owner pulls (bytes proxied), others are refused") {
  Client c;
  std::string name = name_of(c.w.carol, "secret");
  c.login(c.w.carol, "repository:" + name + ":pull,push");
  std::string config = R"({"os":"linux"})";
  std::string layer = random_text(2048);
  c.push_blob(name, config);
  std::string ld = c.push_blob(name, layer);
  REQUIRE(c.put_manifest(name, "v1", image_manifest(config, {layer})).status == 201);

  auto mine = c.send("GET", "/v2/" + name + "/blobs/" + ld);
  REQUIRE_MESSAGE(mine.status == 200, mine.text());
  CHECK(mine.text() == layer);
  auto ranged = c.send("GET", "/v2/" + name + "/blobs/" + ld, {}, {{"Range", "bytes=10-19"}});
  CHECK(ranged.status == 206);
  CHECK(ranged.text() == layer.substr(10, 10));

  Client anon;
  auto a = anon.send("GET", "/v2/" + name + "/blobs/" + ld);
  CHECK(a.status == 401);
  CHECK(!a.header("www-authenticate").empty());
  Client b;
  b.login(b.w.bob, "repository:" + name + ":pull");
  auto denied = b.send("GET", "/v2/" + name + "/blobs/" + ld);
  CHECK(denied.status == 403);
  CHECK(Client::error_code(denied) == "DENIED");
}

TEST_CASE("a hold a user names on this host's network is refused outside development; the default hold is not") {
  Client c;
  World& w = c.w;
  std::string name = name_of(w.carol, "addr");
  c.login(w.carol, "repository:" + name + ":pull,push");
  w.config.identity.development = false;
  w.start_appview();
  // carol's profile names her (loopback) private hold: refused, no bytes sent.
  auto r = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  CHECK(r.status == 502);
  CHECK(Client::error_code(r) == "UNAVAILABLE");
  CHECK_MESSAGE(r.text().find("private or loopback address") != std::string::npos, r.text());
  // The operator's default hold (also on loopback) is trusted as configured.
  Client a;
  std::string alice_name = name_of(w.alice, "addr");
  a.login(w.alice, "repository:" + alice_name + ":pull,push");
  CHECK(a.push_blob(alice_name, "default hold bytes").size() > 0);
  w.config.identity.development = true;
  w.start_appview();
}

TEST_CASE("a manifest record pointing at bytes with another digest is refused on pull") {
  Client c;
  std::string repo = "tampered";
  std::string name = name_of(c.w.alice, repo);
  c.login(c.w.alice, "repository:" + name + ":pull,push");
  std::string config = R"({"os":"linux","x":1})";
  c.push_blob(name, config);
  std::string genuine = image_manifest(config, {});
  std::string evil = image_manifest(config, {}, R"(,"annotations":{"evil":"yes"})");
  oci::Digest claimed = oci::Digest::of(genuine);

  // Write, straight to the PDS, a record for `genuine` whose blob is `evil`
  // (under the key older atcr versions used, which is still read).
  auto session = xrpc::PdsSession::create(pds_url(), c.w.alice.account.handle, c.w.alice.app_password, c.w.http);
  Value blob = session.upload_blob(as_bytes(evil), "application/vnd.oci.image.manifest.v1+json");
  oci::Manifest m = oci::Manifest::parse(genuine, "application/vnd.oci.image.manifest.v1+json");
  session.put_record(oci::kManifestCollection, oci::legacy_manifest_rkey(repo, claimed),
                     oci::manifest_record(m, repo, claimed, c.w.public_hold.did(), blob, "2025-01-01T00:00:00.000Z"));

  Client anon;
  auto r = anon.send("GET", "/v2/" + name + "/manifests/" + claimed.str());
  CHECK(r.status == 502);
  CHECK(Client::error_code(r) == "MANIFEST_INVALID");
  CHECK(r.text().find("refusing") != std::string::npos);
}

namespace {

// The claims of a registry token, unverified (the test only reads them).
Value token_claims(const std::string& jwt) {
  auto dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
  return json::parse(to_string(base64::decode_url(jwt.substr(dot1 + 1, dot2 - dot1 - 1))));
}

std::string error_message(const net::HttpResponse& r) {
  try {
    return json::parse(r.text()).at("errors").as_array().at(0).at("message").as_string();
  } catch (const std::exception&) {
    return r.text();
  }
}

std::string basic(const std::string& user, const std::string& secret) {
  return "Basic " + base64::encode(as_bytes(user + ":" + secret));
}

net::HttpResponse device_post(World& w, const std::string& path, const std::string& form,
                              const std::string& type = "application/x-www-form-urlencoded") {
  return w.http->post(w.base + path, type, as_bytes(form));
}

// The approval page's side, until a browser drives it (tests/e2e): the
// same database the AppView keeps its device codes in.
appview::DeviceStore approver(World& w) {
  return appview::DeviceStore((w.dir / "appview" / "appview.sqlite").string(), {});
}

}  // namespace

// The success path (a device approved in the browser after an OAuth
// sign-in, then /auth/token, docker and skopeo with its secret) needs the
// PDS's sign-in pages in a real browser: tests/e2e/oauth_test.sh and
// docker_test.sh. Here: the protocol, and every refusal.
TEST_CASE("device flow: codes, slow_down, one hand-out; a secret needs an OAuth sign-in, not an app password") {
  Client c;
  World& w = c.w;
  c.login(w.alice, "");  // an app-password login: alice has a live session, but not an OAuth one
  auto store = approver(w);

  auto start = oci::start_device_login(*w.http, w.base, "alice@ci", "ci-host");
  CHECK(appview::normalize_user_code(start.user_code) == start.user_code);
  CHECK(start.verification_uri == w.base + "/device");
  CHECK(start.verification_uri_complete == w.base + "/device?code=" + start.user_code);
  CHECK(start.interval == std::chrono::seconds(1));
  CHECK(start.expires_in == std::chrono::seconds(600));
  auto shown = store.pending(start.user_code);
  REQUIRE(shown);
  CHECK(shown->device_name == "alice@ci");
  CHECK(shown->host == "ci-host");
  CHECK(shown->ip == "127.0.0.1");

  // Polled too fast: slow_down.
  CHECK(oci::poll_device_login(*w.http, w.base, start.device_code).state == oci::DevicePollState::kPending);
  CHECK(oci::poll_device_login(*w.http, w.base, start.device_code).state == oci::DevicePollState::kSlowDown);

  REQUIRE(store.decide(start.user_code, w.alice.account.did, true));
  oci::DeviceGrant grant = oci::wait_for_device_login(*w.http, w.base, start);
  CHECK(grant.did == w.alice.account.did);
  CHECK(grant.handle == w.alice.account.handle);
  CHECK(grant.secret.starts_with(appview::kDeviceSecretPrefix));
  // Handed out once.
  auto again = device_post(w, "/auth/device/token",
                           "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=" +
                               net::url_encode(start.device_code));
  CHECK(again.status == 400);
  CHECK(json::parse(again.text()).at("error").as_string() == "invalid_grant");

  // alice's only session here is an app-password one: her device secret is
  // refused (handle or DID), saying she is not signed in with OAuth and what to run.
  const std::string hint = "docker-credential-atcr login " + w.base.substr(7);
  std::string name = name_of(w.alice, "device");
  for (const std::string& user : {w.alice.account.handle, w.alice.account.did}) {
    auto r = c.token_request("repository:" + name + ":pull,push", basic(user, grant.secret));
    CHECK(r.status == 401);
    CHECK(Client::error_code(r) == "UNAUTHORIZED");
    CHECK_MESSAGE(error_message(r).find("not signed in on this registry with ATProto OAuth") != std::string::npos,
                  error_message(r));
    CHECK_MESSAGE(error_message(r).find(hint) != std::string::npos, error_message(r));
  }
  CHECK_THROWS_AS(oci::registry_login(*w.http, w.base, w.alice.account.handle, grant.secret), oci::RegistryError);
  // The app password itself still works, and says so.
  auto pw = c.token_request("", Client::basic(w.alice));
  REQUIRE(pw.status == 200);
  CHECK(token_claims(json::parse(pw.text()).at("token").as_string()).at("auth_method").as_string() == "app_password");

  // Another user's name with alice's secret, a wrong secret: 401, the device kind.
  for (const auto& auth : {basic(w.bob.account.handle, grant.secret),
                           basic(w.alice.account.handle, std::string(appview::kDeviceSecretPrefix) + "wrong")}) {
    auto r = c.token_request("repository:" + name + ":pull,push", auth);
    CHECK(r.status == 401);
    CHECK(Client::error_code(r) == "UNAUTHORIZED");
    CHECK_MESSAGE(error_message(r).find("revoked, or the secret is wrong") != std::string::npos, error_message(r));
    CHECK_MESSAGE(error_message(r).find(hint) != std::string::npos, error_message(r));
  }

  // Revoked: the device kind of refusal (checked before the session).
  auto devices = store.devices(w.alice.account.did);
  REQUIRE(devices.size() == 1);
  CHECK(store.revoke(w.alice.account.did, devices[0].id));
  auto revoked = c.token_request("repository:" + name + ":pull,push", basic(w.alice.account.handle, grant.secret));
  CHECK(revoked.status == 401);
  CHECK(Client::error_code(revoked) == "UNAUTHORIZED");
  CHECK(error_message(revoked).find("revoked") != std::string::npos);
  // A Basic challenge (what the endpoint takes), not Bearer's
  // insufficient_scope, which clients show as "access denied" instead.
  CHECK_MESSAGE(revoked.header("www-authenticate").starts_with("Basic realm="), revoked.header("www-authenticate"));
  CHECK(error_message(revoked).find(hint) != std::string::npos);
}

TEST_CASE("device flow: a denied code, a user without a live session, malformed polls") {
  Client c;
  World& w = c.w;
  auto store = approver(w);

  auto denied = oci::start_device_login(*w.http, w.base, "x", "y");
  REQUIRE(store.decide(denied.user_code, w.bob.account.did, false));
  try {
    oci::wait_for_device_login(*w.http, w.base, denied);
    FAIL("a denied login succeeded");
  } catch (const oci::RegistryError& e) {
    CHECK(e.code() == oci::ErrorCode::kDenied);
  }

  // A user who never signed in here (no session): the device secret alone
  // does not sign them in.
  User dave = new_user(w.pds);
  auto start = oci::start_device_login(*w.http, w.base, "dave@ci", "ci");
  REQUIRE(store.decide(start.user_code, dave.account.did, true));
  auto grant = oci::wait_for_device_login(*w.http, w.base, start);
  auto r = c.token_request("", basic(dave.account.handle, grant.secret));
  CHECK(r.status == 401);
  CHECK_MESSAGE(error_message(r).find("docker-credential-atcr login") != std::string::npos, error_message(r));

  auto code_of = [](const net::HttpResponse& resp) {
    try {
      return json::parse(resp.text()).at("error").as_string();
    } catch (const std::exception&) {
      return "<" + resp.text() + ">";
    }
  };
  const std::string grant_type = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";
  CHECK(code_of(device_post(w, "/auth/device/token", "grant_type=password&device_code=x")) == "unsupported_grant_type");
  CHECK(code_of(device_post(w, "/auth/device/token", grant_type)) == "invalid_request");
  CHECK(code_of(device_post(w, "/auth/device/token", grant_type + "&device_code=nope")) == "invalid_grant");
  CHECK(code_of(device_post(w, "/auth/device/token", "%zz")) == "invalid_request");
  CHECK(code_of(device_post(w, "/auth/device/token", "{", "application/json")) == "invalid_request");
  CHECK(code_of(device_post(w, "/auth/device/token", std::string(20000, 'a'))) == "invalid_request");
  // JSON works as well as a form.
  auto json_code = device_post(w, "/auth/device/code", R"({"device_name":"j","host":"h"})", "application/json");
  CHECK(json_code.status == 200);
  CHECK(store.pending(json::parse(json_code.text()).at("user_code").as_string())->device_name == "j");
}

TEST_CASE("uploads: a chunked upload goes on after an AppView restart; its partial part waits on disk") {
  Client c;
  std::string name = name_of(c.w.alice, "resume");
  c.login(c.w.alice, "repository:" + name + ":pull,push");
  std::string big = random_text(8 << 20);
  std::string digest = oci::Digest::of(big).str();
  // 100 KiB (below the size a filesystem hold gets as a part of its own:
  // it waits on disk), then the rest of 6 MiB: one 5 MiB part goes to the
  // hold, 1 MiB waits.
  std::size_t first = 6 << 20;
  auto start = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  REQUIRE(start.status == 202);
  std::string location = start.header("location");
  std::string uuid = start.header("docker-upload-uuid");
  for (auto [from, to] : {std::pair<std::size_t, std::size_t>{0, 100 << 10}, {100 << 10, first}}) {
    auto p = c.send("PATCH", location, std::string_view(big).substr(from, to - from),
                    {{"Content-Type", "application/octet-stream"}, {"Content-Range", fmt::format("{}-{}", from, to - 1)}});
    REQUIRE_MESSAGE(p.status == 202, p.text());
  }
  auto spill = c.w.config.server.data_dir / "uploads" / uuid;
  REQUIRE(std::filesystem::exists(spill));
  CHECK(std::filesystem::file_size(spill) == first - (5 << 20));

  c.w.start_appview();  // the restart

  auto status = c.send("GET", location);
  REQUIRE_MESSAGE(status.status == 204, status.text());
  CHECK(status.header("range") == fmt::format("0-{}", first - 1));
  auto p2 = c.send("PATCH", location, std::string_view(big).substr(first, 1 << 20),
                   {{"Content-Type", "application/octet-stream"},
                    {"Content-Range", fmt::format("{}-{}", first, first + (1 << 20) - 1)}});
  REQUIRE_MESSAGE(p2.status == 202, p2.text());
  auto done = c.send("PUT", location + "?digest=" + digest, std::string_view(big).substr(first + (1 << 20)),
                     {{"Content-Type", "application/octet-stream"},
                      {"Content-Range", fmt::format("{}-{}", first + (1 << 20), big.size() - 1)}});
  REQUIRE_MESSAGE(done.status == 201, done.text());
  CHECK_FALSE(std::filesystem::exists(spill));
  auto get = c.send("GET", "/v2/" + name + "/blobs/" + digest);
  REQUIRE(get.status == 307);
  CHECK(oci::Digest::of(c.w.http->get(get.header("location")).body).str() == digest);
  // Ended sessions are gone for good, restart or not.
  c.w.start_appview();
  CHECK(Client::error_code(c.send("GET", location)) == "BLOB_UPLOAD_UNKNOWN");
}

TEST_CASE("uploads: a filesystem hold takes each chunk of 256 KiB or more as a part, also after a restart") {
  Client c;
  std::string name = name_of(c.w.alice, "direct");
  c.login(c.w.alice, "repository:" + name + ":pull,push");
  std::string blob = random_text(700 << 10);
  std::string digest = oci::Digest::of(blob).str();
  auto start = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  REQUIRE(start.status == 202);
  std::string location = start.header("location");
  auto spill = c.w.config.server.data_dir / "uploads" / start.header("docker-upload-uuid");
  auto patch = [&](std::size_t from, std::size_t to) {
    return c.send("PATCH", location, std::string_view(blob).substr(from, to - from),
                  {{"Content-Type", "application/octet-stream"}, {"Content-Range", fmt::format("{}-{}", from, to - 1)}});
  };
  REQUIRE(patch(0, 300 << 10).status == 202);
  CHECK_FALSE(std::filesystem::exists(spill));  // at the hold already, not on the AppView's disk
  c.w.start_appview();  // the size the hold takes is part of the saved session
  REQUIRE(patch(300 << 10, 600 << 10).status == 202);
  CHECK_FALSE(std::filesystem::exists(spill));
  auto done = c.send("PUT", location + "?digest=" + digest, std::string_view(blob).substr(600 << 10),
                     {{"Content-Type", "application/octet-stream"}});
  REQUIRE_MESSAGE(done.status == 201, done.text());
  auto get = c.send("GET", "/v2/" + name + "/blobs/" + digest);
  REQUIRE(get.status == 307);
  CHECK(to_string(c.w.http->get(get.header("location")).body) == blob);
}

TEST_CASE("uploads: a user's sessions in progress are capped (429 TOOMANYREQUESTS), ending one frees a place") {
  World& w = world();
  User dave = new_user(w.pds);
  Client c;
  std::string name = name_of(dave, "many");
  c.login(dave, "repository:" + name + ":pull,push");
  std::vector<std::string> open;
  for (std::size_t i = 0; i < w.config.uploads.max_sessions_per_user; ++i) {
    auto r = c.send("POST", "/v2/" + name + "/blobs/uploads/");
    REQUIRE_MESSAGE(r.status == 202, r.text());
    c.send("PATCH", r.header("location"), random_text(100), {{"Content-Type", "application/octet-stream"}});
    open.push_back(r.header("location"));
  }
  auto refused = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  CHECK(refused.status == 429);
  CHECK(Client::error_code(refused) == "TOOMANYREQUESTS");
  CHECK(refused.text().find("uploads in progress") != std::string::npos);
  CHECK(c.send("DELETE", open.back()).status == 204);
  open.pop_back();
  auto again = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  CHECK(again.status == 202);
  open.push_back(again.header("location"));

  // Idle sessions expire, those saved before a restart included (aborted
  // at the hold, spill files removed).
  auto ttl = w.config.uploads.session_ttl;
  w.config.uploads.session_ttl = std::chrono::seconds(1);
  w.start_appview();
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  w.appview->housekeeping();
  w.config.uploads.session_ttl = ttl;
  w.start_appview();
  for (const auto& l : open) CHECK(Client::error_code(c.send("GET", l)) == "BLOB_UPLOAD_UNKNOWN");
  CHECK(std::filesystem::is_empty(w.config.server.data_dir / "uploads"));
  auto after = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  CHECK(after.status == 202);
  CHECK(c.send("DELETE", after.header("location")).status == 204);
}

TEST_CASE("an app password revoked at the PDS: the next token request and push fail at once") {
  World& w = world();
  User erin = new_user(w.pds);  // app password "atcr"
  Client c;
  std::string name = name_of(erin, "revoked");
  std::string scope = "repository:" + name + ":pull,push";
  c.login(erin, scope);
  c.push_blob(name, random_text(100));
  // Remembered logins are re-checked with the PDS, and stand while it agrees.
  CHECK(c.token_request(scope, Client::basic(erin)).status == 200);

  w.pds.procedure("com.atproto.server.revokeAppPassword", Value(Value::Map{{"name", Value("atcr")}}), {},
                  {.bearer = erin.account.access_jwt});

  auto again = c.token_request(scope, Client::basic(erin));
  CHECK(again.status == 401);
  CHECK(Client::error_code(again) == "UNAUTHORIZED");
  // The registry token from before still verifies, but the PDS session
  // behind it has ended: no more pushes.
  auto push = c.send("POST", "/v2/" + name + "/blobs/uploads/");
  CHECK(push.status == 401);
  CHECK(Client::error_code(push) == "UNAUTHORIZED");
  CHECK(push.text().find("log in again") != std::string::npos);
}


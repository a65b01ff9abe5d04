// The hold in-process: filesystem storage, callers with keys this test
// generates (resolved from memory), requests over loopback HTTP. The same
// flows against the reference PDS's tokens and radosgw are in
// tests/integration/hold_test.cc.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "atcr/crypto/keys.h"
#include "atcr/crypto/random.h"
#include "atcr/data/json.h"
#include "atcr/hold/hold.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/digest.h"
#include "atcr/oci/hold_records.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/metrics.h"
#include "atcr/xrpc/service_auth.h"
#include "atcr/xrpc/websocket_client.h"
#include "free_port.h"
#include "memory_resolver.h"
#include "temp_dir.h"

using namespace atcr;

namespace {


struct User {
  std::string did;
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
};

struct Options {
  const User* owner = nullptr;  // default: the fixture's `owner`
  bool is_public = false;
  bool allow_all_crew = false;
  bool quota = false;
  std::chrono::seconds presign_expiry{15 * 60};
  std::filesystem::path avatar{};  // registration.profile_avatar
  bool posts = false;            // registration.enable_bluesky_posts
  bool metrics = false;          // GET /metrics, the hold instrumented
};

class HoldFixture {
 public:
  explicit HoldFixture(Options options = {}) : port_(test::free_port()) {
    for (User* u : {&owner, &alice, &bob}) resolver_.add(u->did, u->key.public_key());
    start(options);
  }

  void start(Options options) {
    server_.reset();
    hold_.reset();
    metrics_.reset();
    hold::HoldConfig c;
    c.server.public_url = url();
    c.server.port = port_;
    c.server.is_public = options.is_public;
    c.server.data_dir = dir_ / "data";
    c.registration.owner_did = options.owner ? options.owner->did : owner.did;
    c.registration.allow_all_crew = options.allow_all_crew;
    c.storage.driver = hold::HoldConfig::Driver::kFilesystem;
    c.storage.path = dir_ / "blobs";
    c.storage.presign = false;
    c.storage.presign_expiry = options.presign_expiry;
    c.quota.enabled = options.quota;
    c.quota.tiers = {{"deckhand", 1000}, {"bosun", 1'000'000}};
    c.quota.default_tier = "deckhand";
    c.registration.profile_avatar = options.avatar;
    c.registration.enable_bluesky_posts = options.posts;
    hold_ = std::make_unique<hold::Hold>(c, hold::HoldOptions{&resolver_});
    xrpc::ServerOptions so;
    so.port = port_;
    so.logger = nullptr;
    if (options.metrics) {
      metrics_ = std::make_unique<xrpc::Metrics>();
      so.logger = metrics_->instrument(nullptr);
      hold_->instrument(*metrics_);
    }
    server_ = std::make_unique<xrpc::XrpcServer>(so);
    hold_->register_endpoints(*server_);
    if (metrics_) metrics_->register_endpoint(*server_);
    server_->start();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  hold::Hold& hold() { return *hold_; }
  std::filesystem::path data_dir() const { return dir_ / "data"; }
  void stop() {
    server_.reset();
    hold_.reset();
  }

  std::string token(const User& u, std::string_view lxm) const {
    xrpc::ServiceAuthParams p;
    p.iss = u.did;
    p.aud = hold_->did();
    p.lxm = std::string(lxm);
    return xrpc::mint_service_auth(p, u.key);
  }

  net::HttpResponse call(const std::string& method, std::string_view nsid, const User* as, const std::string& query,
                         const std::string& json_body = {}) {
    net::HttpRequest req;
    req.method = method;
    req.url = url() + "/xrpc/" + std::string(nsid) + (query.empty() ? "" : "?" + query);
    if (as) req.headers.emplace_back("Authorization", "Bearer " + token(*as, nsid));
    if (!json_body.empty()) {
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = to_bytes(json_body);
    }
    return http_.send(req);
  }

  Value json(const net::HttpResponse& r) { return json::parse(r.text()); }

  // Uploads `data` through the hold (no presigning on a filesystem) in
  // parts of `part_size`; returns completeUpload's response.
  net::HttpResponse upload(const User& as, const std::string& data, const std::string& digest,
                           std::size_t part_size = 1 << 20) {
    auto init = call("POST", "io.atcr.hold.initiateUpload", &as, "", R"({"digest":")" + digest + "\"}");
    REQUIRE_MESSAGE(init.status == 200, init.text());
    std::string id = json(init).at("uploadId").as_string();
    // Ours, beside the lexicon's output: a filesystem takes parts of any size.
    CHECK(json(init).at("minPartSize").as_integer() == 1);
    std::string parts = "[";
    int n = 0;
    for (std::size_t off = 0; off < data.size() || n == 0; off += part_size) {
      ++n;
      auto target = call("POST", "io.atcr.hold.getPartUploadUrl", &as, "",
                         R"({"uploadId":")" + id + R"(","partNumber":)" + std::to_string(n) + "}");
      REQUIRE_MESSAGE(target.status == 200, target.text());
      Value t = json(target);
      CHECK(t.at("method").as_string() == "PUT");
      net::HttpRequest put;
      put.method = "PUT";
      put.url = t.at("url").as_string();
      put.headers.emplace_back("Authorization", "Bearer " + token(as, "io.atcr.hold.uploadPart"));
      put.body = to_bytes(data.substr(off, part_size));
      auto r = http_.send(put);
      REQUIRE_MESSAGE(r.status == 200, r.text());
      std::string etag = json(r).at("etag").as_string();
      parts += (n > 1 ? "," : "") + std::string(R"({"partNumber":)") + std::to_string(n) + R"(,"etag":")" + etag +
               "\"}";
      if (data.empty()) break;
    }
    parts += "]";
    return call("POST", "io.atcr.hold.completeUpload", &as, "",
                R"({"uploadId":")" + id + R"(","digest":")" + digest + R"(","parts":)" + parts + "}");
  }

  std::string blob_query(const std::string& digest) { return "did=" + net::url_encode(hold_->did()) + "&cid=" + digest; }

  User owner{"did:plc:ownerownerownerowner000"};
  User alice{"did:plc:alicealicealicealice000"};
  User bob{"did:plc:bobbobbobbobbobbobbob000"};

 private:
  test::TempDir dir_{"atcr-hold-service"};
  test::MemoryResolver resolver_;
  int port_;
  std::unique_ptr<xrpc::Metrics> metrics_;  // outlives the hold and server using it
  std::unique_ptr<hold::Hold> hold_;
  std::unique_ptr<xrpc::XrpcServer> server_;
  net::HttpClient http_;
};

std::string random_text(std::size_t n) {
  Bytes b = random_bytes(n);
  return std::string(b.begin(), b.end());
}

}  // namespace

TEST_CASE("hold service: the constructor validates a config built in code (nothing is created for a bad one)") {
  test::TempDir dir("hold-validate");
  hold::HoldConfig c;
  c.server.public_url = "http://127.0.0.1:1";
  c.server.data_dir = dir.path() / "data";
  c.registration.owner_did = "not a did";
  c.storage.driver = hold::HoldConfig::Driver::kFilesystem;
  try {
    hold::Hold h(c);
    FAIL("a bad owner DID was accepted");
  } catch (const ConfigError& e) {
    CHECK(e.key() == "registration.owner_did");
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() / "data"));
}

TEST_CASE("hold service: first boot writes the captain and the owner's crew record") {
  HoldFixture f;
  auto r = f.call("GET", "com.atproto.repo.getRecord", nullptr,
                  "repo=" + net::url_encode(f.hold().did()) + "&collection=io.atcr.hold.captain&rkey=self");
  REQUIRE_MESSAGE(r.status == 200, r.text());
  Value captain = f.json(r).at("value");
  CHECK(captain.at("owner").as_string() == f.owner.did);
  CHECK(captain.at("public").as_bool() == false);

  auto crew = f.call("GET", "com.atproto.repo.listRecords", nullptr,
                     "repo=" + net::url_encode(f.hold().did()) + "&collection=io.atcr.hold.crew");
  REQUIRE(crew.status == 200);
  CHECK(f.json(crew).at("records").as_array().size() == 1);

  // The DID from did.json pasted into a query unescaped ("%3A" decodes to
  // ':') still names this repo; another port does not.
  std::string did = f.hold().did();
  REQUIRE(did.find("%3A") != std::string::npos);
  std::string pasted = did.substr(0, did.find("%3A")) + ":" + did.substr(did.find("%3A") + 3);
  auto listed = f.call("GET", "com.atproto.repo.listRecords", nullptr, "repo=" + pasted + "&collection=io.atcr.hold.crew");
  CHECK_MESSAGE(listed.status == 200, listed.text());
  CHECK(f.call("GET", "com.atproto.sync.getLatestCommit", nullptr, "did=" + pasted).status == 200);
  auto other = f.call("GET", "com.atproto.repo.listRecords", nullptr, "repo=" + pasted + "1&collection=io.atcr.hold.crew");
  CHECK(other.status == 400);
  CHECK(f.json(other).at("error").as_string() == "RepoNotFound");

  auto did_doc = f.call("GET", "", nullptr, "");  // not a method: 404/400, never a crash
  CHECK(did_doc.status >= 400);
}

TEST_CASE("hold service: a hold handed to a new owner stops trusting the former one") {
  HoldFixture f;
  auto crew_members = [&] {
    auto r = f.call("GET", "com.atproto.repo.listRecords", nullptr,
                    "repo=" + net::url_encode(f.hold().did()) + "&collection=io.atcr.hold.crew");
    REQUIRE(r.status == 200);
    Value listed = f.json(r);  // kept alive: the loop walks into it
    std::vector<std::string> out;
    for (const Value& rec : listed.at("records").as_array())
      out.push_back(rec.at("value").at("member").as_string() + ":" + rec.at("value").at("role").as_string());
    std::sort(out.begin(), out.end());
    return out;
  };
  CHECK(crew_members() == std::vector<std::string>{f.owner.did + ":owner"});
  CHECK(f.call("POST", "io.atcr.hold.initiateUpload", &f.owner, "", "{}").status == 200);

  Options handed_over;
  handed_over.owner = &f.alice;
  f.start(handed_over);  // same data dir, new config
  CHECK(crew_members() == std::vector<std::string>{f.alice.did + ":owner"});
  CHECK(f.call("POST", "io.atcr.hold.initiateUpload", &f.owner, "", "{}").status == 403);
  CHECK(f.call("POST", "io.atcr.hold.initiateUpload", &f.alice, "", "{}").status == 200);
  f.start(handed_over);  // and a reboot changes nothing more
  CHECK(crew_members() == std::vector<std::string>{f.alice.did + ":owner"});
}

TEST_CASE("hold service: upload through the hold, then read back with HEAD, GET and Range") {
  HoldFixture f;
  std::string data = random_text(2'500'000);
  std::string digest = oci::Digest::of(data).str();
  auto done = f.upload(f.owner, data, digest);
  REQUIRE_MESSAGE(done.status == 200, done.text());
  CHECK(f.json(done).at("status").as_string() == "completed");

  auto head = f.call("HEAD", "com.atproto.sync.getBlob", &f.owner, f.blob_query(digest));
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(data.size()));
  CHECK(head.body.empty());

  auto get = f.call("GET", "com.atproto.sync.getBlob", &f.owner, f.blob_query(digest));
  REQUIRE(get.status == 200);
  CHECK(get.text() == data);

  net::HttpRequest ranged;
  ranged.url = f.url() + "/xrpc/com.atproto.sync.getBlob?" + f.blob_query(digest);
  ranged.headers = {{"Authorization", "Bearer " + f.token(f.owner, "com.atproto.sync.getBlob")},
                    {"Range", "bytes=100-199"}};
  auto part = net::HttpClient().send(ranged);
  CHECK(part.status == 206);
  CHECK(part.text() == data.substr(100, 100));
  CHECK(part.header("content-range") == "bytes 100-199/2500000");
}

TEST_CASE("hold service: a wrong digest is refused and leaves no blob") {
  HoldFixture f;
  std::string data = random_text(10'000);
  std::string wrong = oci::Digest::of(std::string_view("something else")).str();
  auto done = f.upload(f.owner, data, wrong);
  CHECK(done.status == 400);
  CHECK(f.json(done).at("error").as_string() == "InvalidDigest");
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", &f.owner, f.blob_query(wrong)).status == 404);
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", &f.owner, f.blob_query(oci::Digest::of(data).str())).status ==
        404);
}

TEST_CASE("hold service: access follows the captain and crew records") {
  HoldFixture f;
  std::string data = random_text(1000);
  std::string digest = oci::Digest::of(data).str();
  REQUIRE(f.upload(f.owner, data, digest).status == 200);

  // Private hold: anonymous 401, a stranger 403, for reads and writes.
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", nullptr, f.blob_query(digest)).status == 401);
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", &f.alice, f.blob_query(digest)).status == 403);
  CHECK(f.call("POST", "io.atcr.hold.initiateUpload", &f.alice, "", "{}").status == 403);
  CHECK(f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", "{}").status == 403);

  // Public: anyone reads; writing still needs the crew.
  f.start({.is_public = true});
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", nullptr, f.blob_query(digest)).status == 200);
  CHECK(f.call("POST", "io.atcr.hold.initiateUpload", &f.alice, "", "{}").status == 403);

  // allowAllCrew: alice joins (once) and may write; bob without joining may too.
  f.start({.allow_all_crew = true});
  auto joined = f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", R"({"permissions":["crew:admin"]})");
  REQUIRE_MESSAGE(joined.status == 200, joined.text());
  CHECK(f.json(joined).at("status").as_string() == "created");
  CHECK(f.json(f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", "{}")).at("status").as_string() ==
        "already_member");
  CHECK(f.call("POST", "io.atcr.hold.initiateUpload", &f.bob, "", "{}").status == 200);

  // Back to private without allowAllCrew: alice is crew (read+write, never
  // admin), bob is not.
  f.start({});
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", &f.alice, f.blob_query(digest)).status == 200);
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", &f.bob, f.blob_query(digest)).status == 403);
  CHECK(f.call("POST", "com.atproto.repo.deleteRecord", &f.alice, "",
               R"({"repo":")" + f.hold().did() + R"(","collection":"io.atcr.hold.crew","rkey":")" + f.bob.did +
                   "\"}")
            .status == 403);

  // A forged token (signed by another key) is a 401 even on a public hold.
  f.start({.is_public = true});
  User mallory{f.alice.did};  // alice's DID, someone else's key
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", &mallory, f.blob_query(digest)).status == 401);
}

TEST_CASE("hold service: the captain record cannot be deleted, even by the owner") {
  HoldFixture f;
  std::string repo = net::url_encode(f.hold().did());
  auto r = f.call("POST", "com.atproto.repo.deleteRecord", &f.owner, "",
                  R"({"repo":")" + f.hold().did() + R"(","collection":"io.atcr.hold.captain","rkey":"self"})");
  CHECK(r.status == 400);
  // Still there, and access decisions still work.
  CHECK(f.call("GET", "com.atproto.repo.getRecord", nullptr,
               "repo=" + repo + "&collection=io.atcr.hold.captain&rkey=self")
            .status == 200);
  CHECK(f.call("POST", "io.atcr.hold.initiateUpload", &f.owner, "", "{}").status == 200);
}

TEST_CASE("hold service: notifyManifest writes layer records and stats, and enforces quota") {
  HoldFixture f({.allow_all_crew = true, .quota = true});
  REQUIRE(f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", "{}").status == 200);
  std::string small = random_text(600), big = random_text(600);
  std::string ds = oci::Digest::of(small).str(), db = oci::Digest::of(big).str();
  REQUIRE(f.upload(f.alice, small, ds).status == 200);
  REQUIRE(f.upload(f.alice, big, db).status == 200);

  auto notify = [&](const std::string& layer_digest, std::size_t size) {
    std::string manifest = R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
                           layer_digest + R"(","size":)" + std::to_string(size) + "}]}";
    return f.call("POST", "io.atcr.hold.notifyManifest", &f.alice, "",
                  R"({"repository":"app","userDid":")" + f.alice.did + R"(","manifestDigest":")" +
                      oci::Digest::of(layer_digest).str() + R"(","manifest":)" + manifest +
                      R"(,"operation":"push"})");
  };
  auto first = notify(ds, small.size());
  REQUIRE_MESSAGE(first.status == 200, first.text());
  CHECK(f.json(first).at("layersCreated").as_integer() == 1);
  // The same layer again costs nothing; a second one exceeds 1000 bytes.
  CHECK(notify(ds, small.size()).status == 200);
  auto over = notify(db, big.size());
  CHECK(over.status == 403);
  CHECK(f.json(over).at("error").as_string() == "QuotaExceeded");

  auto quota = f.call("GET", "io.atcr.hold.getQuota", &f.alice, "userDid=" + f.alice.did);
  REQUIRE(quota.status == 200);
  CHECK(f.json(quota).at("totalSize").as_integer() == 600);
  CHECK(f.json(quota).at("limit").as_integer() == 1000);
  CHECK(f.call("GET", "io.atcr.hold.getQuota", &f.bob, "userDid=" + f.alice.did).status == 403);

  // Someone else cannot push in alice's name.
  auto mismatch = f.call("POST", "io.atcr.hold.notifyManifest", &f.bob, "",
                         R"({"repository":"app","userDid":")" + f.alice.did + R"(","manifestDigest":")" + ds +
                             R"(","manifest":{"mediaType":"x","layers":[]}})");
  CHECK(mismatch.status == 403);
}

TEST_CASE("hold service: requestCrew stores only a known role") {
  HoldFixture f({.allow_all_crew = true});
  auto crew_role = [&](const User& u) {
    auto r = f.call("GET", "com.atproto.repo.getRecord", nullptr,
                    "repo=" + net::url_encode(f.hold().did()) + "&collection=io.atcr.hold.crew&rkey=" + u.did);
    return r.status == 200 ? f.json(r).at("value").at("role").as_string() : std::string("<none>");
  };
  for (std::string bad : {R"({"role":"captain"})", R"({"role":"<b>admin</b>"})", R"({"role":"member\r\nx"})",
                          R"({"role":""})", R"({"role":7})"}) {
    auto r = f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", bad);
    CHECK_MESSAGE(r.status == 400, bad);
    CHECK(f.json(r).at("error").as_string() == "InvalidRequest");
  }
  CHECK(crew_role(f.alice) == "<none>");
  REQUIRE(f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", R"({"role":"write"})").status == 200);
  CHECK(crew_role(f.alice) == "write");
  REQUIRE(f.call("POST", "io.atcr.hold.requestCrew", &f.bob, "", R"({"role":"admin"})").status == 200);
  CHECK(crew_role(f.bob) == "member");  // never admin by asking
}

// The lexicon's flow alone: initiate, getPartUploadUrl, a PUT to the URL
// with only the returned headers, complete.
TEST_CASE("hold service: filesystem part URLs authorize themselves, and only for their part") {
  HoldFixture f({.presign_expiry = std::chrono::seconds(2)});
  std::string data = random_text(3000);
  std::string digest = oci::Digest::of(data).str();
  auto init = f.call("POST", "io.atcr.hold.initiateUpload", &f.owner, "", R"({"digest":")" + digest + "\"}");
  REQUIRE(init.status == 200);
  std::string id = f.json(init).at("uploadId").as_string();
  auto part_url = [&](int n) {
    auto r = f.call("POST", "io.atcr.hold.getPartUploadUrl", &f.owner, "",
                    R"({"uploadId":")" + id + R"(","partNumber":)" + std::to_string(n) + "}");
    REQUIRE_MESSAGE(r.status == 200, r.text());
    Value t = f.json(r);
    CHECK(t.at("headers").as_map().empty());
    return t.at("url").as_string();
  };
  auto put = [&](const std::string& url, const std::string& bytes) {
    net::HttpRequest req;
    req.method = "PUT";
    req.url = url;
    req.body = to_bytes(bytes);
    return net::HttpClient().send(req);
  };
  auto refused = [&](const net::HttpResponse& r, const std::string& error) {
    CHECK_MESSAGE(r.status == 403, r.text());
    CHECK(f.json(r).at("error").as_string() == error);
  };
  auto replaced = [](std::string url, const std::string& from, const std::string& to) {
    auto at = url.find(from);
    REQUIRE(at != std::string::npos);
    return url.replace(at, from.size(), to);
  };

  std::string url1 = part_url(1), url2 = part_url(2);
  // Tampered: another part, upload, uploader, expiry or signature.
  refused(put(replaced(url1, "partNumber=1", "partNumber=2"), "x"), "InvalidSignature");
  refused(put(replaced(url1, "uploadId=", "uploadId=x"), "x"), "InvalidSignature");
  refused(put(replaced(url1, "did=" + net::url_encode(f.owner.did), "did=" + net::url_encode(f.alice.did)), "x"),
          "InvalidSignature");
  refused(put(replaced(url1, "expires=", "expires=9"), "x"), "InvalidSignature");
  refused(put(replaced(url1, "sig=", "sig=A"), "x"), "InvalidSignature");
  // Without a signature it is the plain method: a service token is needed.
  CHECK(put(url1.substr(0, url1.find("&sig=")), "x").status == 401);

  auto p1 = put(url1, data.substr(0, 1000));
  REQUIRE_MESSAGE(p1.status == 200, p1.text());
  auto p2 = put(url2, data.substr(1000));
  REQUIRE_MESSAGE(p2.status == 200, p2.text());
  auto done = f.call("POST", "io.atcr.hold.completeUpload", &f.owner, "",
                     R"({"uploadId":")" + id + R"(","digest":")" + digest + R"(","parts":[{"partNumber":1,"etag":")" +
                         f.json(p1).at("etag").as_string() + R"("},{"partNumber":2,"etag":")" +
                         f.json(p2).at("etag").as_string() + R"("}]})");
  REQUIRE_MESSAGE(done.status == 200, done.text());
  CHECK(f.call("GET", "com.atproto.sync.getBlob", &f.owner, f.blob_query(digest)).text() == data);

  // Expired: 2 s after it was made.
  auto init2 = f.call("POST", "io.atcr.hold.initiateUpload", &f.owner, "", "{}");
  id = f.json(init2).at("uploadId").as_string();
  std::string late = part_url(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  refused(put(late, "x"), "ExpiredSignature");
}

TEST_CASE("hold service: export and import round-trip the records") {
  HoldFixture f({.allow_all_crew = true});
  REQUIRE(f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", "{}").status == 200);
  std::ostringstream car;
  f.hold().export_car(car);
  std::string bytes = car.str();
  REQUIRE(bytes.size() > 100);

  HoldFixture other;
  std::size_t imported = other.hold().import_cars({to_bytes(bytes)});
  CHECK(imported >= 1);  // alice's crew record (captains are never imported)
  auto crew = other.call("GET", "com.atproto.repo.getRecord", nullptr,
                         "repo=" + net::url_encode(other.hold().did()) +
                             "&collection=io.atcr.hold.crew&rkey=" + f.alice.did);
  CHECK(crew.status == 200);
  CHECK(other.hold().import_cars({to_bytes(bytes)}) == 0);  // nothing changed the second time
  CHECK_THROWS(other.hold().import_cars({to_bytes("not a car")}));
}

TEST_CASE("hold service: deleteBlob drops the caller's references; the bytes go with the last one") {
  HoldFixture f({.allow_all_crew = true});
  for (const User* u : {&f.alice, &f.bob})
    REQUIRE(f.call("POST", "io.atcr.hold.requestCrew", u, "", "{}").status == 200);
  std::string layer = random_text(700), config = random_text(300);
  std::string dl = oci::Digest::of(layer).str(), dc = oci::Digest::of(config).str();
  REQUIRE(f.upload(f.alice, layer, dl).status == 200);
  REQUIRE(f.upload(f.alice, config, dc).status == 200);
  auto notify = [&](const User& u, const std::string& repository) {
    std::string manifest =
        R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
        dc + R"(","size":300},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + dl +
        R"(","size":700}]})";
    return f.call("POST", "io.atcr.hold.notifyManifest", &u, "",
                  R"({"repository":")" + repository + R"(","userDid":")" + u.did + R"(","manifestDigest":")" +
                      oci::Digest::of(repository).str() + R"(","manifest":)" + manifest + R"(,"operation":"push"})");
  };
  auto first = notify(f.alice, "app");
  REQUIRE_MESSAGE(first.status == 200, first.text());
  CHECK(f.json(first).at("layersCreated").as_integer() == 2);  // the config has a record too
  REQUIRE(notify(f.bob, "copy").status == 200);
  auto del = [&](const User* u, const std::string& digest, const std::string& repository) {
    return f.call("POST", "io.atcr.hold.deleteBlob", u, "",
                  R"({"digest":")" + digest + R"(","repository":")" + repository + "\"}");
  };
  auto present = [&](const std::string& digest) {
    return f.call("HEAD", "com.atproto.sync.getBlob", &f.owner, f.blob_query(digest)).status == 200;
  };

  // Anonymous and malformed calls change nothing.
  CHECK(del(nullptr, dl, "app").status == 401);
  CHECK(del(&f.alice, "sha256:zz", "app").status == 400);
  CHECK(del(&f.alice, dl, "../app").status == 400);
  // Bob has no reference from "app" (only alice does): 404, bytes kept.
  CHECK(del(&f.bob, dl, "app").status == 404);
  // Alice drops hers: bob's image still uses the blob.
  auto r = del(&f.alice, dl, "app");
  REQUIRE_MESSAGE(r.status == 200, r.text());
  CHECK(f.json(r).at("referencesRemoved").as_integer() == 1);
  CHECK_FALSE(f.json(r).at("blobDeleted").as_bool());
  CHECK(present(dl));
  CHECK(del(&f.alice, dl, "app").status == 404);  // nothing of hers left
  // Bob drops the last reference: the bytes go.
  r = del(&f.bob, dl, "copy");
  REQUIRE(r.status == 200);
  CHECK(f.json(r).at("blobDeleted").as_bool());
  CHECK_FALSE(present(dl));
  CHECK(present(dc));  // the config is still in both images
  // Alice's usage no longer counts the layer.
  auto quota = f.call("GET", "io.atcr.hold.getQuota", &f.alice, "userDid=" + f.alice.did);
  CHECK(f.json(quota).at("totalSize").as_integer() == 300);
}

namespace {

// alice joins and pushes one layer for a manifest record of hers.
struct Pushed {
  std::string layer, manifest_uri;
};

Pushed push_one(HoldFixture& f) {
  REQUIRE(f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", "{}").status == 200);
  std::string data = random_text(700);
  std::string digest = oci::Digest::of(data).str();
  REQUIRE(f.upload(f.alice, data, digest).status == 200);
  std::string uri = "at://" + f.alice.did + "/io.atcr.manifest/3kabcdefghij2";
  std::string manifest = R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
                         digest + R"(","size":700}]})";
  auto r = f.call("POST", "io.atcr.hold.notifyManifest", &f.alice, "",
                  R"({"repository":"app","userDid":")" + f.alice.did + R"(","manifestDigest":")" +
                      oci::Digest::of(manifest).str() + R"(","manifest":)" + manifest + R"(,"manifestUri":")" + uri +
                      R"(","tag":"v1","operation":"push"})");
  REQUIRE_MESSAGE(r.status == 200, r.text());
  return {digest, uri};
}

std::string error_of(HoldFixture& f, const net::HttpResponse& r) {
  INFO(r.text());
  return f.json(r).at("error").as_string();
}

}  // namespace

TEST_CASE("hold service: getLayersForManifest lists a manifest's layer records, for readers only") {
  HoldFixture f({.allow_all_crew = true});
  Pushed p = push_one(f);
  std::string q = "manifest=" + net::url_encode(p.manifest_uri);
  auto r = f.call("GET", "io.atcr.hold.getLayersForManifest", &f.alice, q);
  REQUIRE_MESSAGE(r.status == 200, r.text());
  Value layers = f.json(r).at("layers");
  REQUIRE(layers.as_array().size() == 1);
  CHECK(layers.as_array()[0].at("digest").as_string() == p.layer);
  CHECK(layers.as_array()[0].at("manifest").as_string() == p.manifest_uri);
  CHECK(layers.as_array()[0].at("userDid").as_string() == f.alice.did);
  // Another manifest: none. Anonymous on a private hold: 401. Not a URI: 400.
  auto other = f.call("GET", "io.atcr.hold.getLayersForManifest", &f.alice,
                      "manifest=" + net::url_encode("at://" + f.alice.did + "/io.atcr.manifest/3kzzzzzzzzzz2"));
  CHECK(f.json(other).at("layers").as_array().empty());
  CHECK(f.call("GET", "io.atcr.hold.getLayersForManifest", nullptr, q).status == 401);
  auto bad = f.call("GET", "io.atcr.hold.getLayersForManifest", &f.alice, "manifest=nope");
  CHECK(bad.status == 400);
  CHECK(error_of(f, bad) == "InvalidRequest");
}

TEST_CASE("hold service: exportUserData gives each caller their own data, and nobody's to anonymous") {
  HoldFixture f({.allow_all_crew = true});
  Pushed p = push_one(f);
  auto mine = f.call("GET", "io.atcr.hold.exportUserData", &f.alice, "");
  REQUIRE_MESSAGE(mine.status == 200, mine.text());
  Value e = f.json(mine);
  CHECK(e.at("userDid").as_string() == f.alice.did);
  CHECK(e.at("holdDid").as_string() == f.hold().did());
  CHECK_FALSE(e.at("isCaptain").as_bool());
  CHECK(e.at("crewRecord").at("role").as_string() == "member");
  REQUIRE(e.at("layerRecords").as_array().size() == 1);
  CHECK(e.at("layerRecords").as_array()[0].at("digest").as_string() == p.layer);
  REQUIRE(e.at("statsRecords").as_array().size() == 1);
  CHECK(e.at("statsRecords").as_array()[0].at("pushCount").as_integer() == 1);
  CHECK(e.at("blueskyPosts").as_array().empty());
  // bob has nothing here; the owner is the captain.
  Value b = f.json(f.call("GET", "io.atcr.hold.exportUserData", &f.bob, ""));
  CHECK(b.at("userDid").as_string() == f.bob.did);
  CHECK(b.find("crewRecord") == nullptr);
  CHECK(b.at("layerRecords").as_array().empty());
  CHECK(f.json(f.call("GET", "io.atcr.hold.exportUserData", &f.owner, "")).at("isCaptain").as_bool());
  auto anon = f.call("GET", "io.atcr.hold.exportUserData", nullptr, "");
  CHECK(anon.status == 401);
  CHECK(error_of(f, anon) == "AuthRequired");
}

TEST_CASE("hold service: updateCrewTier, by the hold's admins only") {
  HoldFixture f({.allow_all_crew = true, .quota = true});
  REQUIRE(f.call("POST", "io.atcr.hold.requestCrew", &f.alice, "", "{}").status == 200);
  auto body = [&](const User& u, int rank) {
    return R"({"userDid":")" + u.did + R"(","tierRank":)" + std::to_string(rank) + "}";
  };
  // Refused: anonymous, a crew member without crew:admin (also for themself).
  auto anon = f.call("POST", "io.atcr.hold.updateCrewTier", nullptr, "", body(f.alice, 1));
  CHECK(anon.status == 401);
  CHECK(error_of(f, anon) == "AuthRequired");
  auto self = f.call("POST", "io.atcr.hold.updateCrewTier", &f.alice, "", body(f.alice, 1));
  CHECK(self.status == 403);
  CHECK(f.hold().gc_history().empty());
  // The owner: tiers rank smallest quota first (deckhand 1000, bosun 1 MB).
  auto up = f.call("POST", "io.atcr.hold.updateCrewTier", &f.owner, "", body(f.alice, 1));
  REQUIRE_MESSAGE(up.status == 200, up.text());
  CHECK(f.json(up).at("tierName").as_string() == "bosun");
  auto quota = f.json(f.call("GET", "io.atcr.hold.getQuota", &f.alice, "userDid=" + f.alice.did));
  CHECK(quota.at("tier").as_string() == "bosun");
  CHECK(quota.at("limit").as_integer() == 1'000'000);
  // Not crew: UserNotFound; a rank past the tiers: 400; no change either way.
  auto stranger = f.call("POST", "io.atcr.hold.updateCrewTier", &f.owner, "", body(f.bob, 0));
  CHECK(stranger.status == 404);
  CHECK(error_of(f, stranger) == "UserNotFound");
  CHECK(f.call("POST", "io.atcr.hold.updateCrewTier", &f.owner, "", body(f.alice, 2)).status == 400);
  CHECK(f.call("POST", "io.atcr.hold.updateCrewTier", &f.owner, "", body(f.alice, -1)).status == 400);
  CHECK(f.json(f.call("GET", "io.atcr.hold.getQuota", &f.alice, "userDid=" + f.alice.did)).at("tier").as_string() ==
        "bosun");
}

TEST_CASE("hold service: gc deletes nothing while a user's PDS cannot be read; a dry run changes nothing") {
  // The fixture's users have no PDS at all: every blob might be theirs.
  HoldFixture f({.allow_all_crew = true});
  push_one(f);
  std::string orphan = random_text(300);
  std::string orphan_digest = oci::Digest::of(orphan).str();
  REQUIRE(f.upload(f.alice, orphan, orphan_digest).status == 200);

  hold::GcReport dry = f.hold().gc(true);
  CHECK(dry.dry_run);
  CHECK(dry.blobs_scanned == 2);
  CHECK(dry.blobs_referenced == 1);  // the layer record's
  CHECK(dry.blobs_deleted == 0);
  CHECK_FALSE(dry.warnings.empty());
  hold::GcReport run = f.hold().gc(false);
  CHECK(run.blobs_deleted == 0);
  CHECK(run.layer_records_deleted == 0);
  CHECK(run.blobs_waiting == 1);
  CHECK(f.call("GET", "com.atproto.sync.getBlob", &f.alice, f.blob_query(orphan_digest), "").status == 200);
  // The history keeps both, newest first, and reads back what was reported.
  auto history = f.hold().gc_history();
  REQUIRE(history.size() == 2);
  CHECK_FALSE(history[0].dry_run);
  CHECK(history[1].dry_run);
  CHECK(history[0].to_json() == run.to_json());
  // Through XRPC: the owner may run it, a crew member may not.
  CHECK(f.call("POST", "io.atcr.hold.runGarbageCollection", &f.alice, "", R"({"dryRun":true})").status == 403);
  auto by_owner = f.call("POST", "io.atcr.hold.runGarbageCollection", &f.owner, "", R"({"dryRun":true})");
  REQUIRE_MESSAGE(by_owner.status == 200, by_owner.text());
  CHECK(f.json(by_owner).at("dryRun").as_bool());
  CHECK(f.call("POST", "io.atcr.hold.runGarbageCollection", &f.owner, "", R"({"dryRun":"yes"})").status == 400);
  CHECK(f.call("GET", "io.atcr.hold.getGarbageCollectionHistory", nullptr, "").status == 401);
}

TEST_CASE("hold service: the profile's avatar is a blob of the hold's repo that getBlob serves to anyone") {
  test::TempDir dir("atcr-avatar");
  std::string png = "\x89PNG\r\n\x1a\n" + random_text(500);
  std::ofstream(dir.path() / "avatar.png", std::ios::binary) << png;
  HoldFixture f({.allow_all_crew = true, .avatar = dir.path() / "avatar.png"});  // a private hold
  auto profile = f.json(f.call("GET", "com.atproto.repo.getRecord", nullptr,
                               "repo=" + net::url_encode(f.hold().did()) + "&collection=app.bsky.actor.profile&rkey=self"));
  const Value& avatar = profile.at("value").at("avatar");
  CHECK(avatar.at("$type").as_string() == "blob");
  CHECK(avatar.at("mimeType").as_string() == "image/png");
  CHECK(avatar.at("size").as_integer() == static_cast<std::int64_t>(png.size()));
  std::string cid = avatar.at("ref").as_link().to_string();
  CHECK(cid.starts_with("bafkrei"));  // raw, sha256

  auto served = f.call("GET", "com.atproto.sync.getBlob", nullptr, f.blob_query(cid));
  REQUIRE(served.status == 200);
  CHECK(served.text() == png);
  CHECK(served.header("content-type") == "image/png");
  // Nothing else is: an OCI blob on this private hold still needs a reader.
  Pushed pushed = push_one(f);
  CHECK(f.call("GET", "com.atproto.sync.getBlob", nullptr, f.blob_query(pushed.layer)).status == 401);
  CHECK(f.call("HEAD", "com.atproto.sync.getBlob", nullptr, f.blob_query(oci::Digest::of(png).str())).status == 200);

  // A restart with the same file writes nothing new; without it, no avatar.
  f.start({.allow_all_crew = true, .avatar = dir.path() / "avatar.png"});
  CHECK(f.call("GET", "com.atproto.sync.getBlob", nullptr, f.blob_query(cid)).status == 200);
  f.start({});
  profile = f.json(f.call("GET", "com.atproto.repo.getRecord", nullptr,
                          "repo=" + net::url_encode(f.hold().did()) + "&collection=app.bsky.actor.profile&rkey=self"));
  CHECK(profile.at("value").find("avatar") == nullptr);
  CHECK(f.call("GET", "com.atproto.sync.getBlob", nullptr, f.blob_query(cid)).status == 401);
}

TEST_CASE("hold service: exportUserData lists the hold's Bluesky posts about the caller's pushes") {
  HoldFixture f({.allow_all_crew = true, .posts = true});
  Pushed pushed = push_one(f);
  auto posts = f.json(f.call("GET", "com.atproto.repo.listRecords", nullptr,
                             "repo=" + net::url_encode(f.hold().did()) + "&collection=app.bsky.feed.post"));
  REQUIRE(posts.at("records").as_array().size() == 1);
  const Value& post = posts.at("records").as_array()[0];
  auto exported = [&](const User& u) {
    return f.json(f.call("GET", "io.atcr.hold.exportUserData", &u, "")).at("blueskyPosts").as_array();
  };
  auto mine = exported(f.alice);
  REQUIRE(mine.size() == 1);
  CHECK(mine[0].at("uri") == post.at("uri"));
  CHECK(mine[0].at("text") == post.at("value").at("text"));
  CHECK(mine[0].at("createdAt") == post.at("value").at("createdAt"));
  CHECK(mine[0].at("text").as_string().find("/app:v1") != std::string::npos);
  CHECK(exported(f.bob).empty());
  CHECK(exported(f.owner).empty());
  // A post the log does not know (written before it, or the log lost):
  // still found by its link to the user's repository page.
  f.stop();
  std::filesystem::remove(f.data_dir() / "posts.sqlite");
  f.start({.allow_all_crew = true, .posts = true});
  CHECK(exported(f.alice).size() == 1);
  CHECK(exported(f.bob).empty());
}

// The value of the metric line that starts with `prefix` (name and labels), or -1.
double metric(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(prefix) && line.size() > prefix.size() && line[prefix.size()] == ' ')
      return std::stod(line.substr(prefix.size() + 1));
  return -1;
}

TEST_CASE("hold service: /metrics: requests by route and status, latency, bytes, uploads in flight, quota, GC, firehose") {
  HoldFixture f({.allow_all_crew = true, .quota = true, .metrics = true});
  push_one(f);  // alice: 700 bytes, deckhand tier
  CHECK(f.call("POST", "io.atcr.hold.initiateUpload", &f.alice, "", R"({"digest":"sha256:)" + std::string(64, 'a') +
                                                                        "\"}").status == 200);  // left open
  CHECK(f.call("GET", "io.atcr.hold.exportUserData", nullptr, "").status == 401);
  f.hold().gc(true);
  auto firehose = xrpc::WebSocketClient::connect(f.url() + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0", {});
  for (int i = 0; i < 50; ++i) {  // until the session is registered and has replayed the log
    auto m = firehose->receive(std::chrono::milliseconds(100));
    if (!m || m->kind == xrpc::WebSocketMessage::kTimeout) break;
  }

  net::HttpRequest scrape;
  scrape.url = f.url() + "/metrics";
  net::HttpResponse page = net::HttpClient().send(scrape);
  REQUIRE(page.status == 200);
  CHECK(page.header("content-type").starts_with("text/plain"));
  std::string text = page.text();
  INFO(text);
  const std::string notify = R"(route="/xrpc/io.atcr.hold.notifyManifest",method="POST")";
  CHECK(metric(text, "atcr_http_requests_total{" + notify + R"(,status="200"})") == 1);
  CHECK(metric(text, R"(atcr_http_requests_total{route="/xrpc/io.atcr.hold.exportUserData",method="GET",status="401"})") == 1);
  CHECK(metric(text, "atcr_http_request_duration_seconds_count{" + notify + "}") == 1);
  CHECK(metric(text, "atcr_http_request_duration_seconds_bucket{" + notify + R"(,le="+Inf"})") == 1);
  CHECK(metric(text, R"(atcr_http_request_bytes_total{route="/xrpc/io.atcr.hold.uploadPart"})") >= 700);
  CHECK(metric(text, R"(atcr_http_response_bytes_total{route="/xrpc/io.atcr.hold.notifyManifest"})") > 0);
  CHECK(metric(text, "atcr_hold_uploads_in_flight") == 1);
  CHECK(metric(text, R"(atcr_hold_quota_used_bytes{tier="deckhand"})") == 700);
  CHECK(metric(text, R"(atcr_hold_quota_limit_bytes{tier="deckhand"})") == 1000);
  CHECK(metric(text, "atcr_hold_quota_used_bytes_total") == 700);
  CHECK(metric(text, R"(atcr_hold_gc_runs_total{mode="dry_run"})") == 1);
  CHECK(metric(text, "atcr_hold_firehose_seq") > 0);
  CHECK(metric(text, "atcr_hold_firehose_subscribers") == 1);
  CHECK(metric(text, "atcr_hold_firehose_lag_events") == 0);  // it was sent everything
  firehose->close();
}

TEST_CASE("hold service: io.atcr.hold.stats counts pushes and pulls per user and repository (rkey stats_rkey)") {
  HoldFixture f({.allow_all_crew = true});
  push_one(f);
  auto stats = [&] {
    auto r = f.call("GET", "com.atproto.repo.getRecord", nullptr,
                    "repo=" + net::url_encode(f.hold().did()) + "&collection=io.atcr.hold.stats&rkey=" +
                        oci::stats_rkey(f.alice.did, "app"));
    REQUIRE_MESSAGE(r.status == 200, r.text());
    return f.json(r).at("value");
  };
  Value pushed = stats();
  CHECK(pushed.at("$type").as_string() == "io.atcr.hold.stats");
  CHECK(pushed.at("ownerDid").as_string() == f.alice.did);
  CHECK(pushed.at("repository").as_string() == "app");
  CHECK(pushed.at("pushCount").as_integer() == 1);
  CHECK(pushed.at("pullCount").as_integer() == 0);
  CHECK(pushed.find("lastPush") != nullptr);
  auto pull = [&](const User& u) {
    return f.call("POST", "io.atcr.hold.notifyManifest", &u, "",
                  R"({"repository":"app","userDid":")" + u.did + R"(","manifestDigest":"sha256:)" +
                      std::string(64, 'b') + R"(","operation":"pull"})");
  };
  for (int i = 0; i < 2; ++i) REQUIRE(pull(f.alice).status == 200);
  Value pulled = stats();
  CHECK(pulled.at("pullCount").as_integer() == 2);
  CHECK(pulled.at("pushCount").as_integer() == 1);
  CHECK(pulled.find("lastPull") != nullptr);
  CHECK(pull(f.bob).status == 404);  // bob pushed nothing named app here: no record made
}

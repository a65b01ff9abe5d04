// The embedded PDS: boot and identity, the repo API, and its XRPC endpoints
// served on loopback.
#include "atcr/pds/embedded_pds.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "atcr/data/json.h"
#include "atcr/identity/did_document.h"
#include "atcr/pds/endpoints.h"
#include "atcr/xrpc/client.h"
#include "atcr/xrpc/server.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::pds;

namespace {

PdsConfig config_for(const test::TempDir& dir, std::string url = "http://127.0.0.1:8080") {
  PdsConfig c;
  c.data_dir = dir.path();
  c.public_url = std::move(url);
  c.extra_services.push_back({"atcr_hold", "AtcrHoldService", c.public_url});
  return c;
}

Value record(std::string_view type, std::string_view text) {
  return Value(Value::Map{{"$type", Value(type)}, {"text", Value(text)}});
}

// An EmbeddedPds served by an XrpcServer on an ephemeral loopback port.
struct Served {
  std::unique_ptr<EmbeddedPds> pds;
  xrpc::XrpcServer server;
  std::unique_ptr<xrpc::XrpcClient> client;

  Served(PdsConfig config, EndpointOptions options)
      : pds(EmbeddedPds::open(std::move(config))), server(quiet()) {
    options.subscribe_repos = false;  // the firehose has its own tests
    register_endpoints(server, *pds, std::move(options));
    server.start();
    client = std::make_unique<xrpc::XrpcClient>(server.url());
  }
  static xrpc::ServerOptions quiet() {
    xrpc::ServerOptions o;
    o.logger = nullptr;
    return o;
  }
};

// Runs `fn`, which must throw an XrpcError; returns it.
template <class Fn>
xrpc::XrpcError xrpc_error(Fn&& fn) {
  try {
    fn();
  } catch (const xrpc::XrpcError& e) {
    return e;
  }
  FAIL("no XrpcError thrown");
  return xrpc::XrpcError(0, "", "");
}

}  // namespace

TEST_CASE("pds: did:web derivation from the public URL") {
  CHECK(EmbeddedPds::did_web_for("https://hold01.atcr.io") == "did:web:hold01.atcr.io");
  CHECK(EmbeddedPds::did_web_for("https://Hold01.ATCR.io/") == "did:web:hold01.atcr.io");
  CHECK(EmbeddedPds::did_web_for("http://localhost:8080") == "did:web:localhost%3A8080");
  CHECK(EmbeddedPds::did_web_for("http://172.28.0.3:8080") == "did:web:172.28.0.3%3A8080");
  for (const char* bad : {"hold.example.com", "ftp://hold.example.com", "https://", "https://h.example/path",
                          "https://h.example:", "https://h.example:80a", "https://user@h.example",
                          "https://h.example?x=1", "https://[::1]:80", "https://h_x.example"})
    CHECK_THROWS_AS(EmbeddedPds::did_web_for(bad), ConfigError);
}

TEST_CASE("pds: first boot creates keys and repo; second boot reuses them") {
  test::TempDir dir("pds-boot");
  std::string did, key, head;
  {
    auto pds = EmbeddedPds::open(config_for(dir));
    did = pds->did();
    key = pds->signing_key().did_key();
    head = pds->head().to_string();
    CHECK(did == "did:web:127.0.0.1%3A8080");
    CHECK(pds->handle() == "127.0.0.1");  // a handle has no port
    CHECK(std::filesystem::exists(dir / "signing.key"));
    auto perms = std::filesystem::status(dir / "signing.key").permissions();
    CHECK((perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
          std::filesystem::perms::none);
    CHECK(pds->collections().empty());
    // #identity, #account and the initial #commit.
    auto events = pds->sequencer().read_after(0, 10);
    REQUIRE(events.size() == 3);
    CHECK(events[0].type == "#identity");
    CHECK(events[1].type == "#account");
    CHECK(events[2].type == "#commit");
  }
  {
    auto pds = EmbeddedPds::open(config_for(dir));
    CHECK(pds->did() == did);
    CHECK(pds->signing_key().did_key() == key);
    CHECK(pds->head().to_string() == head);
    CHECK(pds->sequencer().current_seq() == 3);  // nothing new to announce
  }
  // Another public URL means another did:web: the data dir is not its own.
  CHECK_THROWS_AS(EmbeddedPds::open(config_for(dir, "https://other.example.com")), ConfigError);
}

TEST_CASE("pds: DID document") {
  test::TempDir dir("pds-doc");
  auto pds = EmbeddedPds::open(config_for(dir, "https://hold.example.com"));
  identity::DidDocument doc = pds->did_document();
  CHECK(doc.id == "did:web:hold.example.com");
  CHECK(doc.handle() == "hold.example.com");
  REQUIRE(doc.signing_key());
  CHECK(*doc.signing_key() == pds->signing_key());
  CHECK(doc.pds_endpoint() == "https://hold.example.com");
  auto hold = doc.service("atcr_hold", "AtcrHoldService");
  REQUIRE(hold);
  CHECK(hold->endpoint == "https://hold.example.com");
  // Round trip through JSON as a resolver would read it.
  Value json = pds->did_document_json();
  CHECK(json.at("verificationMethod").as_array().at(0).at("type").as_string() == "Multikey");
  CHECK(json.at("verificationMethod").as_array().at(0).at("id").as_string() == doc.id + "#atproto");
  CHECK(identity::DidDocument::parse(json::serialize(json)) == doc);
}

TEST_CASE("pds: writes, reads and listing") {
  test::TempDir dir("pds-writes");
  auto pds = EmbeddedPds::open(config_for(dir));
  std::vector<RecordWrite> writes;
  for (int i = 0; i < 7; ++i)
    writes.push_back(RecordWrite::create("io.atcr.hold.crew", "m" + std::to_string(i),
                                         record("io.atcr.hold.crew", std::to_string(i))));
  writes.push_back(RecordWrite::create("io.atcr.hold.captain", "self", record("io.atcr.hold.captain", "c")));
  CommitResult r = pds->apply_writes(writes);
  CHECK(r.ops.size() == 8);
  CHECK(pds->head() == r.commit);
  CHECK(pds->collections() == std::vector<std::string>{"io.atcr.hold.captain", "io.atcr.hold.crew"});
  auto rec = pds->get_record("io.atcr.hold.crew", "m3");
  REQUIRE(rec);
  CHECK(rec->value.at("text").as_string() == "3");

  RecordPage p1 = pds->list_records("io.atcr.hold.crew", 3);
  REQUIRE(p1.records.size() == 3);
  CHECK(p1.records[0].uri == "at://" + pds->did() + "/io.atcr.hold.crew/m0");
  REQUIRE(p1.cursor);
  RecordPage p2 = pds->list_records("io.atcr.hold.crew", 3, *p1.cursor);
  CHECK(p2.records.front().uri.ends_with("/m3"));
  RecordPage p3 = pds->list_records("io.atcr.hold.crew", 3, *p2.cursor);
  CHECK(p3.records.size() == 1);
  CHECK_FALSE(p3.cursor);
  RecordPage rev = pds->list_records("io.atcr.hold.crew", 2, {}, true);
  CHECK(rev.records[0].uri.ends_with("/m6"));
  CHECK(rev.records[1].uri.ends_with("/m5"));

  std::vector<RecordWrite> too_many;
  for (int i = 0; i < 201; ++i) too_many.push_back(RecordWrite::create("a.b.c", "k" + std::to_string(i), record("a.b.c", "")));
  // Over what one #commit may carry: still one commit, announced as #sync.
  CommitResult big = pds->apply_writes(too_many);
  CHECK(pds->head() == big.commit);
  CHECK(pds->get_record("a.b.c", "k200"));
  auto last = pds->sequencer().last_of({"#commit", "#sync"});
  REQUIRE(last);
  CHECK(last->type == "#sync");
  CHECK(pds->collect_garbage() > 0);  // the first commit's empty MST root at least
  CHECK(pds->get_record("io.atcr.hold.captain", "self"));
}

TEST_CASE("pds: XRPC endpoints") {
  test::TempDir dir("pds-xrpc");
  EndpointOptions opts;
  std::string expected_token = "let-me-in";
  opts.authorize_write = [&](const xrpc::ServerRequest& req) {
    if (req.bearer_token() != expected_token) throw xrpc::forbidden("not the captain");
  };
  Served s(config_for(dir), opts);
  EmbeddedPds& pds = *s.pds;
  std::vector<RecordWrite> writes;
  for (int i = 0; i < 5; ++i)
    writes.push_back(RecordWrite::create("io.atcr.hold.crew", "r" + std::to_string(i),
                                         record("io.atcr.hold.crew", "n" + std::to_string(i))));
  pds.apply_writes(writes);
  const std::string did = pds.did();
  auto& c = *s.client;

  SUBCASE("repo.getRecord") {
    Value v = c.query("com.atproto.repo.getRecord",
                      xrpc::Params{{"repo", did}, {"collection", "io.atcr.hold.crew"}, {"rkey", "r2"}});
    CHECK(v.at("uri").as_string() == "at://" + did + "/io.atcr.hold.crew/r2");
    CHECK(v.at("value").at("text").as_string() == "n2");
    CHECK(v.at("cid").as_string() == pds.get_record("io.atcr.hold.crew", "r2")->cid.to_string());
    // By handle too.
    CHECK_NOTHROW(c.query("com.atproto.repo.getRecord",
                          xrpc::Params{{"repo", pds.handle()}, {"collection", "io.atcr.hold.crew"}, {"rkey", "r2"}}));
    auto e = xrpc_error([&] {
      c.query("com.atproto.repo.getRecord",
              xrpc::Params{{"repo", did}, {"collection", "io.atcr.hold.crew"}, {"rkey", "nope"}});
    });
    CHECK(e.status() == 400);
    CHECK(e.error() == "RecordNotFound");
    e = xrpc_error([&] {
      c.query("com.atproto.repo.getRecord",
              xrpc::Params{{"repo", "did:web:elsewhere.example"}, {"collection", "io.atcr.hold.crew"}, {"rkey", "r2"}});
    });
    CHECK(e.error() == "RepoNotFound");
    e = xrpc_error([&] {
      c.query("com.atproto.repo.getRecord", xrpc::Params{{"repo", did}, {"collection", "not an nsid"}, {"rkey", "r2"}});
    });
    CHECK(e.error() == "InvalidRequest");
  }

  SUBCASE("repo.listRecords pagination and reverse") {
    std::vector<std::string> seen;
    std::optional<std::string> cursor;
    do {
      xrpc::Params p{{"repo", did}, {"collection", "io.atcr.hold.crew"}, {"limit", "2"}};
      if (cursor) p.add("cursor", *cursor);
      Value v = c.query("com.atproto.repo.listRecords", p);
      for (const Value& r : v.at("records").as_array()) seen.push_back(r.at("value").at("text").as_string());
      const Value* next = v.find("cursor");
      cursor = next ? std::optional(next->as_string()) : std::nullopt;
    } while (cursor);
    CHECK(seen == std::vector<std::string>{"n0", "n1", "n2", "n3", "n4"});
    Value v = c.query("com.atproto.repo.listRecords",
                      xrpc::Params{{"repo", did}, {"collection", "io.atcr.hold.crew"}, {"reverse", "true"}});
    CHECK(v.at("records").as_array().front().at("value").at("text").as_string() == "n4");
    CHECK(v.find("cursor") == nullptr);
    for (const char* bad : {"0", "101", "x"}) {
      auto e = xrpc_error([&] {
        c.query("com.atproto.repo.listRecords",
                xrpc::Params{{"repo", did}, {"collection", "io.atcr.hold.crew"}, {"limit", bad}});
      });
      CHECK(e.status() == 400);
    }
  }

  SUBCASE("repo.describeRepo, server.describeServer, identity.resolveHandle, well-known") {
    Value v = c.query("com.atproto.repo.describeRepo", xrpc::Params{{"repo", did}});
    CHECK(v.at("did").as_string() == did);
    CHECK(v.at("handle").as_string() == "127.0.0.1");
    CHECK(v.at("collections").as_array().size() == 1);
    CHECK(v.at("didDoc").at("id").as_string() == did);
    CHECK(c.query("com.atproto.server.describeServer").at("did").as_string() == did);
    CHECK(c.query("com.atproto.identity.resolveHandle", xrpc::Params{{"handle", "127.0.0.1"}})
              .at("did")
              .as_string() == did);
    auto e = xrpc_error(
        [&] { c.query("com.atproto.identity.resolveHandle", xrpc::Params{{"handle", "alice.example.com"}}); });
    CHECK(e.error() == "HandleNotFound");
    net::HttpClient http;
    auto doc = http.get(s.server.url() + "/.well-known/did.json");
    CHECK(doc.status == 200);
    CHECK(identity::DidDocument::parse(doc.text()) == pds.did_document());
    auto atproto_did = http.get(s.server.url() + "/.well-known/atproto-did");
    CHECK(atproto_did.status == 200);
    CHECK(atproto_did.text() == did);
  }

  SUBCASE("sync.getRepo verifies; getRecord proof; latest commit; listRepos; status") {
    auto car = c.query_raw("com.atproto.sync.getRepo", xrpc::Params{{"did", did}});
    CHECK(car.content_type() == "application/vnd.ipld.car");
    VerifiedRepo verified = verify_repo_car(car.body, did, pds.signing_key());
    CHECK(verified.records.size() == 5);
    CHECK(verified.commit_cid == pds.head());
    auto proof = c.query_raw("com.atproto.sync.getRecord",
                             xrpc::Params{{"did", did}, {"collection", "io.atcr.hold.crew"}, {"rkey", "r1"}});
    auto rec = verify_record_proof(proof.body, did, pds.signing_key(), "io.atcr.hold.crew", "r1");
    REQUIRE(rec);
    CHECK(rec->value.at("text").as_string() == "n1");
    Value latest = c.query("com.atproto.sync.getLatestCommit", xrpc::Params{{"did", did}});
    CHECK(latest.at("cid").as_string() == pds.head().to_string());
    CHECK(latest.at("rev").as_string() == pds.rev());
    Value repos = c.query("com.atproto.sync.listRepos");
    REQUIRE(repos.at("repos").as_array().size() == 1);
    CHECK(repos.at("repos").as_array()[0].at("did").as_string() == did);
    Value status = c.query("com.atproto.sync.getRepoStatus", xrpc::Params{{"did", did}});
    CHECK(status.at("active").as_bool());
    auto e = xrpc_error([&] { c.query_raw("com.atproto.sync.getRepo", xrpc::Params{{"did", "did:web:x.example"}}); });
    CHECK(e.error() == "RepoNotFound");
    e = xrpc_error([&] { c.query_raw("com.atproto.sync.getRepo", xrpc::Params{{"did", "not-a-did"}}); });
    CHECK(e.error() == "InvalidRequest");
    e = xrpc_error([&] {
      c.query_raw("com.atproto.sync.getRecord",
                  xrpc::Params{{"did", did}, {"collection", "io.atcr.hold.crew"}, {"rkey", "gone"}});
    });
    CHECK(e.error() == "RecordNotFound");
  }

  SUBCASE("repo.deleteRecord needs authorization") {
    Value input(Value::Map{{"repo", Value(did)}, {"collection", Value("io.atcr.hold.crew")}, {"rkey", Value("r0")}});
    auto e = xrpc_error([&] { c.procedure("com.atproto.repo.deleteRecord", input); });
    CHECK(e.status() == 403);
    CHECK(pds.get_record("io.atcr.hold.crew", "r0"));
    Value out = c.procedure("com.atproto.repo.deleteRecord", input, {}, {.bearer = expected_token});
    CHECK(out.at("commit").at("cid").as_string() == pds.head().to_string());
    CHECK_FALSE(pds.get_record("io.atcr.hold.crew", "r0"));
    // Again: a no-op.
    out = c.procedure("com.atproto.repo.deleteRecord", input, {}, {.bearer = expected_token});
    CHECK(out.find("commit") == nullptr);
    Value swap(Value::Map{{"repo", Value(did)},
                          {"collection", Value("io.atcr.hold.crew")},
                          {"rkey", Value("r1")},
                          {"swapCommit", Value("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")}});
    e = xrpc_error([&] { c.procedure("com.atproto.repo.deleteRecord", swap, {}, {.bearer = expected_token}); });
    CHECK(e.error() == "InvalidSwap");
  }
}

TEST_CASE("pds: no authorize_write callback refuses every write") {
  test::TempDir dir("pds-noauth");
  Served s(config_for(dir), EndpointOptions{});
  s.pds->apply_writes({RecordWrite::create("io.atcr.hold.crew", "a", record("io.atcr.hold.crew", "a"))});
  Value input(
      Value::Map{{"repo", Value(s.pds->did())}, {"collection", Value("io.atcr.hold.crew")}, {"rkey", Value("a")}});
  auto e = xrpc_error([&] { s.client->procedure("com.atproto.repo.deleteRecord", input, {}, {.bearer = "anything"}); });
  CHECK(e.status() == 401);
  CHECK(e.error() == "AuthRequired");
  CHECK(s.pds->get_record("io.atcr.hold.crew", "a"));
}

#include "atcr/xrpc/session.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/service_auth.h"

using namespace atcr;
using namespace atcr::xrpc;
using namespace std::chrono_literals;

namespace {

const std::string kDid = "did:plc:alice7fhzbvaiqzgqg2fd6a";

// A small in-memory PDS: one account, rotating tokens that the test can
// expire, and enough of com.atproto.repo.* to exercise the session.
class FakePds {
 public:
  FakePds() {
    ServerOptions o;
    o.logger = nullptr;
    server_ = std::make_unique<XrpcServer>(o);
    server_->procedure("com.atproto.server.createSession", [this](const ServerRequest& req) {
      Value in = req.json();
      if (in.at("identifier").as_string() != "alice.test" ||
          in.at("password").as_string() != "app-pass")
        throw auth_required("Invalid identifier or password", "AuthenticationRequired");
      std::lock_guard lock(mu_);
      return ServerResponse::json(issue_tokens());
    });
    server_->procedure("com.atproto.server.refreshSession", [this](const ServerRequest& req) {
      std::string token = req.bearer_token();
      std::this_thread::sleep_for(std::chrono::milliseconds(refresh_delay_ms));
      std::lock_guard lock(mu_);
      if (token != refresh_ || refresh_expired)
        throw invalid_request("Token has expired", "ExpiredToken");
      ++refreshes;
      return ServerResponse::json(issue_tokens());
    });
    server_->query("com.atproto.repo.describeRepo", [this](const ServerRequest& req) {
      check_auth(req);
      return ServerResponse::json(Value::Map{{"did", req.required_param("repo")},
                                             {"handle", "alice.test"},
                                             {"collections", Value::Array{"io.atcr.manifest"}}});
    });
    server_->procedure("com.atproto.repo.createRecord", [this](const ServerRequest& req) {
      check_auth(req);
      Value in = req.json();
      std::lock_guard lock(mu_);
      check_repo(in);
      std::string rkey = in.find("rkey") ? in.at("rkey").as_string() : "tid" + std::to_string(next_rkey_++);
      if (const Value* v = in.find("validate")) last_validate = v->as_bool() ? "true" : "false";
      std::string key = in.at("collection").as_string() + "/" + rkey;
      if (records_.count(key)) throw invalid_request("Record already exists", "InvalidSwap");
      return ServerResponse::json(store(in.at("collection").as_string(), rkey, in.at("record")));
    });
    server_->procedure("com.atproto.repo.putRecord", [this](const ServerRequest& req) {
      check_auth(req);
      Value in = req.json();
      std::lock_guard lock(mu_);
      check_repo(in);
      std::string key = in.at("collection").as_string() + "/" + in.at("rkey").as_string();
      if (const Value* swap = in.find("swapRecord")) {
        auto it = records_.find(key);
        if (it == records_.end() || it->second.cid.to_string() != swap->as_string())
          throw invalid_request("Record was at " + (it == records_.end() ? std::string("null")
                                                                        : it->second.cid.to_string()),
                                "InvalidSwap");
      }
      return ServerResponse::json(
          store(in.at("collection").as_string(), in.at("rkey").as_string(), in.at("record")));
    });
    server_->procedure("com.atproto.repo.deleteRecord", [this](const ServerRequest& req) {
      check_auth(req);
      Value in = req.json();
      std::lock_guard lock(mu_);
      check_repo(in);
      records_.erase(in.at("collection").as_string() + "/" + in.at("rkey").as_string());
      return ServerResponse::json(Value::Map{});
    });
    server_->procedure("com.atproto.repo.applyWrites", [this](const ServerRequest& req) {
      check_auth(req);
      Value in = req.json();
      std::lock_guard lock(mu_);
      check_repo(in);
      Value::Array results;
      for (const Value& w : in.at("writes").as_array()) {
        const std::string& type = w.at("$type").as_string();
        const std::string& collection = w.at("collection").as_string();
        if (type == "com.atproto.repo.applyWrites#delete") {
          records_.erase(collection + "/" + w.at("rkey").as_string());
          results.push_back(Value::Map{{"$type", "com.atproto.repo.applyWrites#deleteResult"}});
          continue;
        }
        std::string rkey = w.find("rkey") ? w.at("rkey").as_string() : "tid" + std::to_string(next_rkey_++);
        Value::Map r = store(collection, rkey, w.at("value")).as_map();
        r.emplace("$type", type + "Result");
        results.push_back(Value(std::move(r)));
      }
      return ServerResponse::json(Value::Map{
          {"commit", Value::Map{{"cid", commit_cid().to_string()}, {"rev", "3l2y6ajtgaq2c"}}},
          {"results", results}});
    });
    server_->procedure("com.atproto.repo.uploadBlob", [this](const ServerRequest& req) {
      check_auth(req);
      Cid cid = Cid::compute(Codec::kRaw, as_bytes(req.body));
      std::lock_guard lock(mu_);
      last_blob = std::string(req.body);
      last_blob_type = req.header("content-type");
      return ServerResponse::json(Value::Map{
          {"blob", Value::Map{{"$type", "blob"},
                              {"ref", cid},
                              {"mimeType", last_blob_type},
                              {"size", static_cast<std::int64_t>(req.body.size())}}}});
    });
    server_->query("com.atproto.repo.getRecord", [this](const ServerRequest& req) {
      std::lock_guard lock(mu_);
      std::string key = req.required_param("collection") + "/" + req.required_param("rkey");
      auto it = records_.find(key);
      if (it == records_.end() || req.required_param("repo") != kDid)
        throw invalid_request("Could not locate record: " + key, "RecordNotFound");
      return ServerResponse::json(Value::Map{{"uri", uri(key)},
                                             {"cid", it->second.cid.to_string()},
                                             {"value", it->second.value}});
    });
    server_->query("com.atproto.repo.listRecords", [this](const ServerRequest& req) {
      std::lock_guard lock(mu_);
      std::string prefix = req.required_param("collection") + "/";
      std::int64_t limit = req.int_param("limit", 1, 100).value_or(50);
      bool reverse = req.bool_param("reverse", false);
      std::string cursor = req.param("cursor").value_or("");
      std::vector<std::string> keys;
      for (const auto& [key, rec] : records_)
        if (key.starts_with(prefix)) keys.push_back(key);
      if (!reverse) std::reverse(keys.begin(), keys.end());  // newest (largest rkey) first
      Value::Array out;
      std::string last;
      for (const auto& key : keys) {
        std::string rkey = key.substr(prefix.size());
        if (!cursor.empty() && (reverse ? rkey <= cursor : rkey >= cursor)) continue;
        if (static_cast<std::int64_t>(out.size()) == limit) break;
        out.push_back(Value::Map{{"uri", uri(key)},
                                 {"cid", records_.at(key).cid.to_string()},
                                 {"value", records_.at(key).value}});
        last = rkey;
      }
      Value::Map page{{"records", out}};
      if (static_cast<std::int64_t>(out.size()) == limit) page.emplace("cursor", last);
      return ServerResponse::json(Value(std::move(page)));
    });
    server_->query("com.atproto.sync.getRecord", [](const ServerRequest& req) {
      std::string car = "CAR:" + req.required_param("did") + "/" + req.required_param("collection") +
                        "/" + req.required_param("rkey") + std::string("\0\x01\xff", 3);
      return ServerResponse::bytes(as_bytes(car), "application/vnd.ipld.car");
    });
    server_->query("com.atproto.server.getServiceAuth", [this](const ServerRequest& req) {
      check_auth(req);
      std::int64_t now = unix_now();
      std::int64_t exp = req.int_param("exp", now, now + 3600).value_or(now + 60);
      ServiceAuthParams p{kDid, req.required_param("aud"), req.param("lxm").value_or(""),
                          std::chrono::seconds(exp - now), now};
      return ServerResponse::json(Value::Map{{"token", mint_service_auth(p, key)}});
    });
    server_->start();
  }

  std::string url() const { return server_->url(); }

  // The current access token stops working (as if its 2 hours passed).
  void expire_access() {
    std::lock_guard lock(mu_);
    expired_.push_back(access_);
  }
  std::string access() {
    std::lock_guard lock(mu_);
    return access_;
  }

  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  std::atomic<int> refreshes{0};
  std::atomic<int> auth_failures{0};
  std::atomic<int> refresh_delay_ms{0};
  std::atomic<bool> refresh_expired{false};
  std::atomic<bool> invalid_tokens{false};  // answer InvalidToken instead of ExpiredToken
  std::string last_blob, last_blob_type, last_validate;

 private:
  struct Stored {
    Value value;
    Cid cid;
  };

  Value issue_tokens() {  // needs mu_
    ++generation_;
    access_ = "access-" + std::to_string(generation_);
    refresh_ = "refresh-" + std::to_string(generation_);
    return Value::Map{{"did", kDid}, {"handle", "alice.test"}, {"accessJwt", access_},
                      {"refreshJwt", refresh_}, {"active", true}};
  }

  void check_auth(const ServerRequest& req) {
    std::string token = req.bearer_token();
    std::lock_guard lock(mu_);
    bool expired = std::find(expired_.begin(), expired_.end(), token) != expired_.end() ||
                   (token.starts_with("access-") && token != access_);
    if (token == access_ && !expired) return;
    ++auth_failures;
    if (token.empty()) throw auth_required("Authentication Required");
    if (invalid_tokens) throw auth_required("Token could not be verified", "InvalidToken");
    if (expired) throw invalid_request("Token has expired", "ExpiredToken");
    throw auth_required("Token could not be verified", "InvalidToken");
  }

  static void check_repo(const Value& in) {
    if (in.at("repo").as_string() != kDid) throw forbidden("not your repo", "InvalidRequest");
  }

  static std::string uri(const std::string& key) { return "at://" + kDid + "/" + key; }

  Value store(const std::string& collection, const std::string& rkey, const Value& record) {
    Cid cid = Cid::compute(Codec::kDagCbor, cbor::encode(record));
    records_.insert_or_assign(collection + "/" + rkey, Stored{record, cid});
    return Value::Map{{"uri", uri(collection + "/" + rkey)}, {"cid", cid.to_string()}};
  }

  Cid commit_cid() { return Cid::compute(Codec::kDagCbor, cbor::encode(Value(next_rkey_))); }

  std::mutex mu_;
  int generation_ = 0;
  int next_rkey_ = 100;
  std::string access_, refresh_;
  std::vector<std::string> expired_;
  std::map<std::string, Stored> records_;
  std::unique_ptr<XrpcServer> server_;
};

Value tag(const std::string& name) {
  return Value::Map{{"$type", "io.atcr.tag"}, {"tag", name}, {"createdAt", "2025-01-01T00:00:00Z"}};
}

class KeyResolver : public identity::Resolver {
 public:
  explicit KeyResolver(PublicKey k) : key_(std::move(k)) {}
  identity::DidDocument resolve_did(std::string_view did, bool) override {
    identity::DidDocument doc;
    doc.id = std::string(did);
    doc.verification_methods.push_back({"atproto", key_});
    return doc;
  }
  std::string resolve_handle(std::string_view, bool) override { throw identity::ResolutionError("no"); }
  identity::Identity resolve(std::string_view, bool) override { throw identity::ResolutionError("no"); }

 private:
  PublicKey key_;
};

}  // namespace

TEST_CASE("login") {
  FakePds pds;
  PdsSession s = PdsSession::create(pds.url(), "alice.test", "app-pass");
  CHECK(s.did() == kDid);
  CHECK(s.handle() == "alice.test");
  SessionTokens t = s.tokens();
  CHECK(t.access_jwt == "access-1");
  CHECK(t.refresh_jwt == "refresh-1");
  CHECK(s.client().service_url() == pds.url());

  try {
    PdsSession::create(pds.url(), "alice.test", "wrong");
    FAIL("logged in with a wrong password");
  } catch (const XrpcError& e) {
    CHECK(e.status() == 401);
    CHECK(e.error() == "AuthenticationRequired");
  }
  CHECK_THROWS_AS(PdsSession::create("not a url", "alice.test", "app-pass"), ParseError);

  // Resuming saved tokens needs no network and keeps working.
  PdsSession resumed = PdsSession::resume(pds.url(), s.tokens());
  CHECK(resumed.describe_repo().at("did").as_string() == kDid);
  CHECK_THROWS_AS(PdsSession::resume(pds.url(), SessionTokens{kDid, "h", "", "r"}), ParseError);
  CHECK_THROWS_AS(PdsSession::resume(pds.url(), SessionTokens{"alice", "h", "a", "r"}), ParseError);

  // Moves keep the session.
  PdsSession moved = std::move(resumed);
  CHECK(moved.did() == kDid);
}

TEST_CASE("record writes and reads") {
  FakePds pds;
  PdsSession s = PdsSession::create(pds.url(), "alice.test", "app-pass");

  WriteResult created = s.create_record("io.atcr.tag", tag("latest"), "myapp_latest", false);
  CHECK(created.uri == "at://" + kDid + "/io.atcr.tag/myapp_latest");
  CHECK(created.cid == Cid::compute(Codec::kDagCbor, cbor::encode(tag("latest"))));
  CHECK(pds.last_validate == "false");
  WriteResult generated = s.create_record("io.atcr.tag", tag("v1"));
  CHECK(generated.uri.starts_with("at://" + kDid + "/io.atcr.tag/tid"));

  auto got = s.get_record("", "io.atcr.tag", "myapp_latest");
  REQUIRE(got);
  CHECK(got->uri == created.uri);
  CHECK(got->cid == created.cid);
  CHECK(got->value == tag("latest"));
  CHECK(!s.get_record(kDid, "io.atcr.tag", "missing"));
  CHECK(!s.get_record("did:plc:someoneelse", "io.atcr.tag", "myapp_latest"));

  // Compare-and-swap on put.
  WriteResult updated = s.put_record("io.atcr.tag", "myapp_latest", tag("latest2"), created.cid);
  CHECK(updated.cid != created.cid);
  try {
    s.put_record("io.atcr.tag", "myapp_latest", tag("latest3"), created.cid);
    FAIL("stale swap accepted");
  } catch (const XrpcError& e) {
    CHECK(e.error() == "InvalidSwap");
  }
  CHECK(s.get_record("", "io.atcr.tag", "myapp_latest")->value == tag("latest2"));

  s.delete_record("io.atcr.tag", "myapp_latest");
  CHECK(!s.get_record("", "io.atcr.tag", "myapp_latest"));

  // Inputs are checked before anything is sent.
  int failures = pds.auth_failures;
  CHECK_THROWS_AS(s.create_record("not a collection", tag("x")), ParseError);
  CHECK_THROWS_AS(s.put_record("io.atcr.tag", "bad/rkey", tag("x")), ParseError);
  CHECK_THROWS_AS(s.delete_record("io.atcr.tag", ".."), ParseError);
  CHECK_THROWS_AS(s.get_service_auth("not-a-did"), ParseError);
  CHECK_THROWS_AS(s.get_service_auth("did:web:hold.example.com", "bad lxm"), ParseError);
  CHECK_THROWS_AS(s.upload_blob(as_bytes("x"), ""), ParseError);
  CHECK(pds.auth_failures == failures);
}

TEST_CASE("list records with cursor and reverse") {
  FakePds pds;
  PdsSession s = PdsSession::create(pds.url(), "alice.test", "app-pass");
  for (int i = 0; i < 5; ++i) s.create_record("io.atcr.tag", tag("t" + std::to_string(i)), "k" + std::to_string(i));
  s.create_record("io.atcr.manifest", Value::Map{{"$type", "io.atcr.manifest"}}, "m0");

  std::vector<std::string> seen;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    RecordPage page = s.list_records("", "io.atcr.tag", {.limit = 2, .cursor = cursor});
    for (const Record& r : page.records) {
      seen.push_back(r.uri.substr(r.uri.rfind('/') + 1));
      CHECK(r.cid.has_value());
    }
    if (!page.cursor) break;
    cursor = *page.cursor;
  }
  CHECK(seen == std::vector<std::string>{"k4", "k3", "k2", "k1", "k0"});

  RecordPage reversed = s.list_records(kDid, "io.atcr.tag", {.limit = 3, .reverse = true});
  REQUIRE(reversed.records.size() == 3);
  CHECK(reversed.records[0].value == tag("t0"));
  CHECK(reversed.cursor == "k2");

  Value repo = s.describe_repo();
  CHECK(repo.at("did").as_string() == kDid);
}

TEST_CASE("applyWrites, uploadBlob and sync.getRecord") {
  FakePds pds;
  PdsSession s = PdsSession::create(pds.url(), "alice.test", "app-pass");
  s.create_record("io.atcr.tag", tag("old"), "gone");
  Value out = s.apply_writes({WriteOp::create("io.atcr.tag", tag("a"), "a"),
                              WriteOp::create("io.atcr.tag", tag("b")),
                              WriteOp::update("io.atcr.tag", "a", tag("a2")),
                              WriteOp::remove("io.atcr.tag", "gone")});
  CHECK(out.at("commit").at("rev").as_string() == "3l2y6ajtgaq2c");
  REQUIRE(out.at("results").as_array().size() == 4);
  CHECK(out.at("results").as_array()[0].at("$type").as_string() ==
        "com.atproto.repo.applyWrites#createResult");
  CHECK(s.get_record("", "io.atcr.tag", "a")->value == tag("a2"));
  CHECK(!s.get_record("", "io.atcr.tag", "gone"));
  CHECK_THROWS_AS(s.apply_writes({WriteOp::update("io.atcr.tag", "", tag("x"))}), ParseError);

  Bytes manifest;
  for (int i = 0; i < 5000; ++i) manifest.push_back(static_cast<std::uint8_t>(i));
  Value blob = s.upload_blob(manifest, "application/vnd.oci.image.manifest.v1+json");
  CHECK(blob.at("$type").as_string() == "blob");
  CHECK(blob.at("ref").as_link() == Cid::compute(Codec::kRaw, manifest));
  CHECK(blob.at("mimeType").as_string() == "application/vnd.oci.image.manifest.v1+json");
  CHECK(blob.at("size").as_integer() == 5000);
  CHECK(pds.last_blob == to_string(manifest));
  CHECK(pds.last_blob_type == "application/vnd.oci.image.manifest.v1+json");
  // The reference goes straight into a record.
  s.create_record("io.atcr.manifest", Value::Map{{"$type", "io.atcr.manifest"}, {"manifestBlob", blob}}, "m");
  CHECK(s.get_record("", "io.atcr.manifest", "m")->value.at("manifestBlob") == blob);

  Bytes car = s.sync_get_record("", "io.atcr.tag", "a");
  CHECK(to_string(car) == "CAR:" + kDid + "/io.atcr.tag/a" + std::string("\0\x01\xff", 3));
}

TEST_CASE("an expired access token is refreshed once and the call retried") {
  FakePds pds;
  PdsSession s = PdsSession::create(pds.url(), "alice.test", "app-pass");
  std::vector<SessionTokens> saved;
  s.on_refresh([&](const SessionTokens& t) { saved.push_back(t); });

  pds.expire_access();
  WriteResult w = s.create_record("io.atcr.tag", tag("x"), "x");  // a write, retried
  CHECK(w.uri.ends_with("/x"));
  CHECK(pds.refreshes == 1);
  CHECK(pds.auth_failures == 1);
  CHECK(s.tokens().access_jwt == "access-2");
  CHECK(s.tokens().refresh_jwt == "refresh-2");
  REQUIRE(saved.size() == 1);
  CHECK(saved[0].access_jwt == "access-2");

  // Blob uploads retry with the same bytes.
  pds.expire_access();
  Value blob = s.upload_blob(as_bytes("layer"), "application/octet-stream");
  CHECK(blob.at("size").as_integer() == 5);
  CHECK(pds.last_blob == "layer");
  CHECK(pds.refreshes == 2);

  // An explicit refresh.
  s.refresh();
  CHECK(pds.refreshes == 3);
  CHECK(s.tokens().access_jwt == pds.access());
  CHECK(saved.size() == 3);
}

TEST_CASE("refresh failures and other auth errors are not retried") {
  FakePds pds;
  PdsSession s = PdsSession::create(pds.url(), "alice.test", "app-pass");

  // The refresh token expired too: the caller must log in again.
  pds.expire_access();
  pds.refresh_expired = true;
  try {
    s.describe_repo();
    FAIL("no error");
  } catch (const XrpcError& e) {
    CHECK(e.error() == "ExpiredToken");
    CHECK(std::string(e.what()).find("refreshSession") != std::string::npos);
  }
  CHECK(pds.refreshes == 0);

  // InvalidToken is not expiry: no refresh.
  pds.refresh_expired = false;
  pds.invalid_tokens = true;
  int failures = pds.auth_failures;
  try {
    s.describe_repo();
    FAIL("no error");
  } catch (const XrpcError& e) {
    CHECK(e.error() == "InvalidToken");
    CHECK(e.status() == 401);
  }
  CHECK(pds.refreshes == 0);
  CHECK(pds.auth_failures == failures + 1);
  pds.invalid_tokens = false;

  // Expired again right after the refresh: one retry only, then the error.
  int refreshes = pds.refreshes;
  pds.expire_access();
  pds.refresh_delay_ms = 0;
  // Make every newly issued token arrive expired by expiring it from the
  // refresh callback, before the retry runs.
  s.on_refresh([&](const SessionTokens&) { pds.expire_access(); });
  try {
    s.describe_repo();
    FAIL("no error");
  } catch (const XrpcError& e) {
    CHECK(e.error() == "ExpiredToken");
  }
  CHECK(pds.refreshes == refreshes + 1);
}

TEST_CASE("concurrent calls share one refresh") {
  FakePds pds;
  PdsSession s = PdsSession::create(pds.url(), "alice.test", "app-pass");
  pds.expire_access();
  pds.refresh_delay_ms = 100;  // keep the window open for all threads
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (s.describe_repo().at("did").as_string() == kDid) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 8);
  CHECK(pds.refreshes == 1);
}

TEST_CASE("service auth from the PDS verifies at the hold") {
  FakePds pds;
  PdsSession s = PdsSession::create(pds.url(), "alice.test", "app-pass");
  std::string token = s.get_service_auth("did:web:hold.example.com", "io.atcr.hold.initiateUpload",
                                         unix_now() + 120);
  KeyResolver resolver(pds.key.public_key());
  ServiceAuthVerifier verifier(resolver, "did:web:hold.example.com");
  ServiceAuthClaims claims = verifier.verify(token, "io.atcr.hold.initiateUpload");
  CHECK(claims.iss == kDid);
  CHECK(claims.lxm == "io.atcr.hold.initiateUpload");
  CHECK(claims.exp - *claims.iat == 120);

  // Without lxm, as ATCR's docs call it.
  std::string bare = s.get_service_auth("did:web:hold.example.com");
  CHECK(verifier.verify(bare, "").lxm.empty());

  // The appview pattern: a hold client that fetches a token per method.
  ServerOptions o;
  o.logger = nullptr;
  XrpcServer hold(o);
  hold.query("io.atcr.hold.getQuota", [&](const ServerRequest& req) {
    ServiceAuthClaims c = verifier.verify(req.bearer_token(), req.nsid);
    return ServerResponse::json(Value::Map{{"user", c.iss}});
  });
  hold.start();
  XrpcClient hold_client(hold.url());
  hold_client.set_auth([&](std::string_view nsid) {
    return s.get_service_auth("did:web:hold.example.com", nsid);
  });
  CHECK(hold_client.query("io.atcr.hold.getQuota").at("user").as_string() == kDid);
  // A token for another method is refused by the hold with 401.
  try {
    hold_client.query("io.atcr.hold.getQuota", {},
                      {.bearer = s.get_service_auth("did:web:hold.example.com", "io.atcr.hold.other")});
    FAIL("accepted");
  } catch (const XrpcError& e) {
    CHECK(e.status() == 401);
    CHECK(e.error() == "BadJwtLexiconMethod");
  }
}

// PdsSession against the reference PDS: login, io.atcr.* record writes and
// reads (create/put/applyWrites/delete, get/list), blobs, token refresh
// (explicit and on ExpiredToken), service auth, and com.atproto.sync.getRecord
// proofs verified with libatcr's repo layer against the key in the account's
// resolved DID document. Run through with-pds.sh.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "atcr/crypto/hmac.h"
#include "atcr/data/cbor.h"
#include "atcr/data/cid.h"
#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/repo/repository.h"
#include "atcr/xrpc/service_auth.h"
#include "atcr/xrpc/session.h"
#include "pds_fixture.h"

using namespace atcr;
using namespace atcr::test;
using xrpc::PdsSession;
using xrpc::WriteOp;
using xrpc::XrpcError;

namespace {

const std::string kTag = "io.atcr.tag";
const std::string kManifest = "io.atcr.manifest";

Value tag_record(const std::string& repository, const std::string& tag, const std::string& manifest_digest) {
  return Value(Value::Map{
      {"$type", Value(kTag)},
      {"repository", Value(repository)},
      {"tag", Value(tag)},
      {"manifestDigest", Value(manifest_digest)},
      {"createdAt", Value("2025-01-01T00:00:00.000Z")},
  });
}

std::string digest_of(const std::string& seed) {
  return "sha256:" + std::string(64, seed.empty() ? '0' : "0123456789abcdef"[seed.size() % 16]);
}

// "at://did/collection/rkey" -> rkey
std::string rkey_of(const std::string& uri) { return uri.substr(uri.rfind('/') + 1); }

// An account of this run, logged in with handle + password.
struct LoggedIn {
  Account account;
  PdsSession session;
};

LoggedIn login_new_account() {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  Account a = create_account(pds);
  return {a, PdsSession::create(pds_url(), a.handle, a.password, http)};
}

PublicKey resolved_signing_key(const std::string& did) {
  identity::DirectoryResolver resolver(loopback_resolver_options());
  auto key = resolver.resolve_did(did).signing_key();
  REQUIRE_MESSAGE(key.has_value(), "no #atproto key in the document of " << did);
  return *key;
}

Cid blob_cid(const Value& blob) {
  const Value& ref = blob.at("ref");
  return ref.is_link() ? ref.as_link() : Cid::parse(ref.at("$link").as_string());
}

}  // namespace

TEST_CASE("login with handle and password; a wrong password is refused") {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  Account a = create_account(pds);
  auto s = PdsSession::create(pds_url(), a.handle, a.password, http);
  CHECK(s.did() == a.did);
  CHECK(s.handle() == a.handle);
  auto t = s.tokens();
  CHECK(t.did == a.did);
  CHECK_FALSE(t.access_jwt.empty());
  CHECK_FALSE(t.refresh_jwt.empty());
  // By DID too.
  CHECK(PdsSession::create(pds_url(), a.did, a.password, http).did() == a.did);
  try {
    PdsSession::create(pds_url(), a.handle, "not-the-password", http);
    FAIL("login with a wrong password succeeded");
  } catch (const XrpcError& e) {
    CHECK(e.status() == 401);
    CHECK(e.error() == "AuthenticationRequired");
  }
}

TEST_CASE("io.atcr records: create, read back, put with swap, list, delete") {
  auto [a, s] = login_new_account();
  const std::string repo_name = "myapp-" + random_token(6);

  // createRecord with our rkey; the PDS does not know io.atcr.* lexicons, so
  // it stores them unvalidated.
  auto rec = tag_record(repo_name, "latest", digest_of("a"));
  auto created = s.create_record(kTag, rec, "latest");
  CHECK(created.uri == "at://" + a.did + "/" + kTag + "/latest");
  // Our DAG-CBOR encoding of the record hashes to the PDS's CID.
  CHECK(created.cid == Cid::compute(Codec::kDagCbor, cbor::encode(rec)));

  auto got = s.get_record("", kTag, "latest");
  REQUIRE(got.has_value());
  CHECK(got->uri == created.uri);
  CHECK(got->cid == created.cid);
  CHECK(json::serialize(got->value) == json::serialize(rec));
  // By handle and by DID.
  CHECK(s.get_record(a.handle, kTag, "latest")->cid == created.cid);
  CHECK(s.get_record(a.did, kTag, "latest")->cid == created.cid);
  CHECK_FALSE(s.get_record("", kTag, "no-such-tag").has_value());

  // A create on an existing rkey is refused.
  CHECK_THROWS_AS(s.create_record(kTag, rec, "latest"), XrpcError);
  // Asking the PDS to validate a lexicon it does not have is refused.
  CHECK_THROWS_AS(s.create_record(kTag, rec, "v-validated", /*validate=*/true), XrpcError);

  // putRecord with compare-and-swap.
  auto rec2 = tag_record(repo_name, "latest", digest_of("bb"));
  auto put = s.put_record(kTag, "latest", rec2, created.cid);
  CHECK(put.uri == created.uri);
  CHECK(put.cid != created.cid);
  CHECK(json::serialize(s.get_record("", kTag, "latest")->value) == json::serialize(rec2));
  try {
    s.put_record(kTag, "latest", rec, created.cid);  // stale swap
    FAIL("a put with a stale swapRecord succeeded");
  } catch (const XrpcError& e) {
    CHECK(e.error() == "InvalidSwap");
  }
  // putRecord without swap creates.
  auto v1 = s.put_record(kTag, "v1", tag_record(repo_name, "v1", digest_of("c")));
  CHECK(rkey_of(v1.uri) == "v1");

  // createRecord without rkey: the PDS picks a TID.
  auto auto_rkey = s.create_record(kTag, tag_record(repo_name, "auto", digest_of("dd")));
  CHECK(rkey_of(auto_rkey.uri).size() == 13);

  // listRecords, paged.
  for (int i = 0; i < 4; ++i) s.create_record(kTag, tag_record(repo_name, "t" + std::to_string(i), digest_of("e")), "t" + std::to_string(i));
  std::set<std::string> seen;
  xrpc::ListRecordsOptions page_opts;
  page_opts.limit = 3;
  int pages = 0;
  for (;;) {
    auto page = s.list_records("", kTag, page_opts);
    ++pages;
    REQUIRE(pages < 10);
    CHECK(page.records.size() <= 3);
    for (const auto& r : page.records) {
      CHECK(r.value.at("$type").as_string() == kTag);
      seen.insert(rkey_of(r.uri));
    }
    if (!page.cursor) break;
    page_opts.cursor = *page.cursor;
  }
  CHECK(seen == std::set<std::string>{"latest", "v1", rkey_of(auto_rkey.uri), "t0", "t1", "t2", "t3"});
  CHECK(pages >= 3);
  auto reversed = s.list_records(a.did, kTag, {.limit = 100, .cursor = {}, .reverse = true});
  CHECK(reversed.records.size() == 7);

  // deleteRecord, with a stale swap first.
  CHECK_THROWS_AS(s.delete_record(kTag, "latest", created.cid), XrpcError);
  s.delete_record(kTag, "latest", put.cid);
  CHECK_FALSE(s.get_record("", kTag, "latest").has_value());
  // Deleting what is not there is not an error in atproto.
  CHECK_NOTHROW(s.delete_record(kTag, "latest"));

  auto desc = s.describe_repo();
  CHECK(desc.at("did").as_string() == a.did);
  CHECK(desc.at("handle").as_string() == a.handle);
  bool has_tag_collection = false;
  for (const auto& c : desc.at("collections").as_array()) has_tag_collection |= c.as_string() == kTag;
  CHECK(has_tag_collection);
}

TEST_CASE("applyWrites: creates, an update and a delete in one commit") {
  auto [a, s] = login_new_account();
  s.create_record(kTag, tag_record("app", "old", digest_of("1")), "old");
  s.create_record(kTag, tag_record("app", "gone", digest_of("2")), "gone");

  auto out = s.apply_writes({
      WriteOp::create(kTag, tag_record("app", "new1", digest_of("3")), "new1"),
      WriteOp::create(kManifest, Value(Value::Map{{"$type", Value(kManifest)},
                                                  {"repository", Value("app")},
                                                  {"digest", Value(digest_of("4"))}})),
      WriteOp::update(kTag, "old", tag_record("app", "old", digest_of("55"))),
      WriteOp::remove(kTag, "gone"),
  });
  INFO("applyWrites answered " << json::serialize(out));
  REQUIRE(out.find("commit") != nullptr);
  CHECK_FALSE(out.at("commit").at("rev").as_string().empty());
  REQUIRE(out.at("results").as_array().size() == 4);

  CHECK(s.get_record("", kTag, "new1").has_value());
  CHECK(s.get_record("", kTag, "old")->value.at("manifestDigest").as_string() == digest_of("55"));
  CHECK_FALSE(s.get_record("", kTag, "gone").has_value());
  CHECK(s.list_records("", kManifest).records.size() == 1);

  // A batch with a bad op changes nothing.
  CHECK_THROWS_AS(s.apply_writes({WriteOp::create(kTag, tag_record("app", "x", digest_of("6")), "x"),
                                  WriteOp::create(kTag, tag_record("app", "new1", digest_of("7")), "new1")}),
                  XrpcError);
  CHECK_FALSE(s.get_record("", kTag, "x").has_value());
}

TEST_CASE("uploadBlob: the ref is the raw CID of the bytes, and a record can hold it") {
  auto [a, s] = login_new_account();
  Bytes data = random_bytes(150 * 1024);
  const std::string mime = "application/vnd.oci.image.manifest.v1+json";
  Value blob = s.upload_blob(data, mime);
  INFO("blob ref: " << json::serialize(blob));
  CHECK(blob.at("$type").as_string() == "blob");
  CHECK(blob.at("mimeType").as_string() == mime);
  CHECK(blob.at("size").as_integer() == static_cast<std::int64_t>(data.size()));
  Cid cid = blob_cid(blob);
  CHECK(cid == Cid::compute(Codec::kRaw, data));

  // Referenced from a record, the blob is kept and served back.
  Value manifest(Value::Map{{"$type", Value(kManifest)},
                            {"repository", Value("app")},
                            {"digest", Value(digest_of("m"))},
                            {"manifestBlob", blob}});
  CHECK_NOTHROW(json::validate_record(manifest));
  auto w = s.create_record(kManifest, manifest, "m1");
  auto back = s.get_record("", kManifest, "m1");
  REQUIRE(back.has_value());
  CHECK(blob_cid(back->value.at("manifestBlob")) == cid);

  auto raw = s.client().query_raw("com.atproto.sync.getBlob",
                                  xrpc::Params().add("did", a.did).add("cid", cid.to_string()));
  CHECK(raw.body == data);
  (void)w;
}

TEST_CASE("refreshSession: explicit, and automatic on ExpiredToken") {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  Account a = create_account(pds);
  auto s = PdsSession::create(pds_url(), a.handle, a.password, http);
  std::atomic<int> refreshes{0};
  s.on_refresh([&](const xrpc::SessionTokens& t) {
    CHECK(t.did == a.did);
    ++refreshes;
  });

  auto before = s.tokens();
  s.refresh();
  auto after = s.tokens();
  CHECK(refreshes == 1);
  // A new refresh token (a new jti); the access token may be byte-identical
  // when minted in the same second.
  CHECK(after.refresh_jwt != before.refresh_jwt);
  CHECK(after.did == a.did);
  CHECK(s.create_record(kTag, tag_record("app", "after-refresh", digest_of("r")), "after-refresh").uri ==
        "at://" + a.did + "/" + kTag + "/after-refresh");
  // The used refresh token is spent (the PDS keeps a short grace period for
  // races, so only check that the new one works).
  s.refresh();
  CHECK(refreshes == 2);

  // An access token that has expired: forged with the PDS's own secret
  // (the test stack's; exported by scripts/pds.sh) exactly as the PDS makes
  // them, but with exp in the past. The PDS answers 400 ExpiredToken, and
  // the session refreshes once and retries.
  const std::string secret = pds_env("PDS_JWT_SECRET");
  const std::int64_t now = xrpc::unix_now();
  std::string header = base64::encode_url(to_bytes(R"({"typ":"at+jwt","alg":"HS256"})"));
  std::string payload = base64::encode_url(to_bytes(json::serialize(Value(Value::Map{
      {"scope", Value("com.atproto.access")},
      {"aud", Value(pds_env("PDS_DID"))},
      {"sub", Value(a.did)},
      {"iat", Value(now - 7300)},
      {"exp", Value(now - 100)},
  }))));
  auto mac = hmac_sha256(as_bytes(secret), as_bytes(header + "." + payload));
  std::string expired = header + "." + payload + "." + base64::encode_url(BytesView(mac.data(), mac.size()));

  // The PDS itself says ExpiredToken for it.
  try {
    xrpc::CallOptions o;
    o.bearer = expired;
    pds.query("com.atproto.server.getSession", {}, o);
    FAIL("the PDS accepted an expired access token");
  } catch (const XrpcError& e) {
    CHECK(e.error() == "ExpiredToken");
  }

  auto tokens = s.tokens();
  tokens.access_jwt = expired;
  auto resumed = PdsSession::resume(pds_url(), tokens, http);
  std::atomic<int> resumed_refreshes{0};
  resumed.on_refresh([&](const xrpc::SessionTokens&) { ++resumed_refreshes; });
  auto w = resumed.create_record(kTag, tag_record("app", "after-expiry", digest_of("x")), "after-expiry");
  CHECK(rkey_of(w.uri) == "after-expiry");
  CHECK(resumed_refreshes == 1);
  CHECK(resumed.tokens().access_jwt != expired);
  // A session whose refresh token is bad too fails with the PDS's error.
  auto hopeless_tokens = tokens;
  hopeless_tokens.refresh_jwt = expired;
  auto hopeless = PdsSession::resume(pds_url(), hopeless_tokens, http);
  CHECK_THROWS_AS(hopeless.create_record(kTag, tag_record("app", "never", digest_of("n")), "never"), XrpcError);
}

TEST_CASE("sync.getRecord proofs from the reference PDS verify with the resolved #atproto key") {
  auto [a, s] = login_new_account();
  auto rec = tag_record("app", "latest", digest_of("p"));
  auto w = s.create_record(kTag, rec, "latest");
  for (int i = 0; i < 20; ++i)  // a few more so the MST has some depth
    s.create_record(kTag, tag_record("app", "f" + std::to_string(i), digest_of("q")), "f" + std::to_string(i));

  PublicKey key = resolved_signing_key(a.did);
  Bytes car = s.sync_get_record(a.did, kTag, "latest");
  auto proven = verify_record_proof(car, a.did, key, kTag, "latest");
  REQUIRE_MESSAGE(proven.has_value(), "the proof says the record is absent");
  CHECK(proven->cid == w.cid);
  CHECK(json::serialize(proven->value) == json::serialize(rec));

  // The session's own repo by default.
  CHECK(verify_record_proof(s.sync_get_record("", kTag, "f7"), a.did, key, kTag, "f7").has_value());

  // After a delete, the PDS proves absence.
  s.delete_record(kTag, "latest");
  Bytes absent;
  try {
    absent = s.sync_get_record(a.did, kTag, "latest");
  } catch (const XrpcError& e) {
    // Some PDS versions answer RecordNotFound rather than a proof.
    MESSAGE("sync.getRecord of a deleted record: " << e.error());
    CHECK(e.error() == "RecordNotFound");
  }
  if (!absent.empty()) CHECK_FALSE(verify_record_proof(absent, a.did, key, kTag, "latest").has_value());

  // Another account's key, or another DID, does not verify.
  auto [b, sb] = login_new_account();
  PublicKey other = resolved_signing_key(b.did);
  CHECK_THROWS(verify_record_proof(car, a.did, other, kTag, "latest"));
  CHECK_THROWS(verify_record_proof(car, b.did, key, kTag, "latest"));
  // A proof for one rkey does not prove another.
  Bytes f1 = s.sync_get_record(a.did, kTag, "f1");
  // a.did by value: clang 14 cannot capture a structured binding.
  auto wrong = [&, did = a.did]() -> std::optional<atcr::Record> {
    try {
      return verify_record_proof(f1, did, key, kTag, "f2");
    } catch (const Error&) {
      return std::nullopt;  // refusing is as good as proving nothing
    }
  }();
  CHECK_FALSE(wrong.has_value());
}

TEST_CASE("getServiceAuth through the session verifies with ServiceAuthVerifier") {
  auto [a, s] = login_new_account();
  const std::string service = "did:web:localhost%3A5555";
  auto token = s.get_service_auth(service + "#atcr_hold", "io.atcr.hold.initiateUpload");
  identity::DirectoryResolver resolver(loopback_resolver_options());
  xrpc::ServiceAuthVerifier verifier(resolver, service);
  auto claims = verifier.verify(token, "io.atcr.hold.initiateUpload");
  CHECK(claims.iss == a.did);
  CHECK(claims.aud == service + "#atcr_hold");
  // exp as asked.
  auto t2 = s.get_service_auth(service, "io.atcr.hold.initiateUpload", xrpc::unix_now() + 300);
  CHECK(verifier.verify(t2, "io.atcr.hold.initiateUpload").exp >= xrpc::unix_now() + 290);
}

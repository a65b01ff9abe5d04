// verify: image references, record proofs, and the decisions that make a
// tag's provenance: proofs from a signed in-memory repository, tampered
// and forged ones, records that disagree, served bytes that differ.
// (The whole flow against a real PDS and AppView: tests/e2e/verify_test.sh.)
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "atcr/data/cid.h"
#include "atcr/data/json.h"
#include "atcr/data/tid.h"
#include "atcr/error.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/manifest.h"
#include "atcr/oci/records.h"
#include "atcr/oci/registry_login.h"
#include "atcr/repo/repository.h"
#include "atcr/verify/verify.h"
#include "loopback_server.h"

using namespace atcr;
using namespace atcr::verify;

namespace {

const std::string kDid = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
const std::string kOther = "did:plc:pddp4xt5lgnv2qsegbzzs4xg";
const std::string kHold = "did:web:hold01.atcr.io";
const std::string kWhen = "2026-03-01T12:00:00.000Z";
const std::string kD1 = "sha256:" + std::string(64, '1');

std::string manifest_json(const std::string& layer_size) {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
         kD1 + R"(","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
         kD1 + R"(","size":)" + layer_size + "}]}";
}

Value blob_of(const Bytes& bytes) {
  return Value(Value::Map{{"$type", Value("blob")},
                          {"ref", Value(Cid::compute(Codec::kRaw, bytes))},
                          {"mimeType", Value("application/vnd.oci.image.manifest.v1+json")},
                          {"size", Value(static_cast<std::int64_t>(bytes.size()))}});
}

// alice's repo: team/app:v1 -> a manifest record under a TID key.
struct Fixture {
  MemoryRepoStorage storage;
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  Bytes manifest_bytes = to_bytes(manifest_json("20"));
  oci::Manifest manifest = oci::Manifest::parse(manifest_bytes, "");
  std::string manifest_rkey = Tid::from_parts(1'760'000'000'000'000, 7).to_string();
  std::string tag_rkey = oci::tag_rkey("team/app", "v1");
  Repository repo;
  ImageRef ref = ImageRef::parse("127.0.0.1:5000/alice.test/team/app:v1");

  Fixture()
      : repo(Repository::create(
            storage, kDid, key,
            {RecordWrite::create(std::string(oci::kManifestCollection), manifest_rkey,
                                 oci::manifest_record(manifest, "team/app", manifest.digest, kHold,
                                                      blob_of(manifest_bytes), kWhen)),
             RecordWrite::create(std::string(oci::kTagCollection), tag_rkey,
                                 oci::tag_record("team/app", "v1", oci::manifest_uri(kDid, manifest_rkey),
                                                 manifest.digest, kWhen))})) {}

  ProvenRecord proven(std::string_view collection, std::string_view rkey) {
    return prove_record(repo.record_proof(collection, rkey), kDid, key.public_key(), collection, rkey);
  }
  ProvenRecord tag() { return proven(oci::kTagCollection, tag_rkey); }
  ProvenRecord manifest_record() { return proven(oci::kManifestCollection, manifest_rkey); }
  // Replaces a record, as a tamperer with the account's password could.
  void put(std::string_view collection, std::string_view rkey, Value record) {
    repo.apply_writes({RecordWrite::update(std::string(collection), std::string(rkey), std::move(record))}, key);
  }
};

std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("ImageRef: registry/identity/repository[:tag]") {
  auto r = ImageRef::parse("127.0.0.1:5000/alice.test/team/app:v1");
  CHECK(r.registry == "127.0.0.1:5000");
  CHECK(r.name.identity == "alice.test");
  CHECK(r.name.repository == "team/app");
  CHECK(r.tag == "v1");
  CHECK(r.str() == "127.0.0.1:5000/alice.test/team/app:v1");

  auto d = ImageRef::parse("atcr.io/did:plc:ewvi7nxzyoun6zhxrhs64oiz/app");
  CHECK(d.registry == "atcr.io");
  CHECK(d.name.identity == kDid);
  CHECK(d.tag == "latest");

  auto s = ImageRef::parse("https://registry.example/Alice.Example.com/app:1.0");
  CHECK(s.registry == "https://registry.example");
  CHECK(s.name.identity == "alice.example.com");

  auto w = ImageRef::parse("localhost:5000/did:web:localhost%3A8080/app:x");
  CHECK(w.name.identity == "did:web:localhost%3A8080");
  CHECK(w.tag == "x");

  for (const char* bad : {"", "alice.test/app", "/alice.test/app", "r.example/alice.test/App", "r/alice.test/app:",
                          "r/alice.test/app:-x", "r/alice.test/app@sha256:" "1111", "ftp://r/alice.test/app",
                          "r/alice.test/../app", "r//app"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(ImageRef::parse(bad), Error);
  }
  CHECK(what_of([] { ImageRef::parse("r/alice.test/app@sha256:" + std::string(64, 'a')); }).find("not a digest") !=
        std::string::npos);
}

TEST_CASE("prove_record: a proof from the repo verifies, under its commit") {
  Fixture f;
  ProvenRecord tag = f.tag();
  CHECK(tag.uri == "at://" + kDid + "/io.atcr.tag/team~app:v1");
  CHECK(tag.commit.rev == f.repo.rev());
  CHECK(tag.commit_cid == f.repo.head());
  CHECK(oci::TagRecord::from_value(tag.value).tag == "v1");
  ProvenRecord m = f.manifest_record();
  CHECK(oci::ManifestRecord::from_value(m.value).digest == f.manifest.digest);
}

TEST_CASE("prove_record: another key, another DID, other bytes, absence") {
  Fixture f;
  Bytes car = f.repo.record_proof(oci::kTagCollection, f.tag_rkey);
  PrivateKey other = PrivateKey::generate(KeyType::kSecp256k1);
  // Signed by a key that is not the DID's current one (a rotated-away key
  // looks the same).
  CHECK(what_of([&] { prove_record(car, kDid, other.public_key(), oci::kTagCollection, f.tag_rkey); })
            .find("signature") != std::string::npos);
  CHECK_THROWS_AS(prove_record(car, kOther, f.key.public_key(), oci::kTagCollection, f.tag_rkey), VerifyError);
  // A proof of one record proves nothing about another.
  CHECK_THROWS_AS(prove_record(car, kDid, f.key.public_key(), oci::kTagCollection, oci::tag_rkey("team/app", "v2")),
                  Error);
  // A byte changed anywhere: the block no longer hashes to its CID.
  for (std::size_t at : {car.size() - 3, car.size() / 2}) {
    Bytes bad = car;
    bad[at] ^= 0x20;
    CAPTURE(at);
    CHECK_THROWS_AS(prove_record(bad, kDid, f.key.public_key(), oci::kTagCollection, f.tag_rkey), Error);
  }
  // Truncated, or not a CAR at all.
  CHECK_THROWS_AS(prove_record(BytesView(car.data(), car.size() / 2), kDid, f.key.public_key(), oci::kTagCollection,
                               f.tag_rkey),
                  ParseError);
  CHECK_THROWS_AS(prove_record(to_bytes("not a car"), kDid, f.key.public_key(), oci::kTagCollection, f.tag_rkey),
                  ParseError);
  // Deleted: the PDS proves absence, which is a NotFoundError.
  f.repo.apply_writes({RecordWrite::remove(std::string(oci::kTagCollection), f.tag_rkey)}, f.key);
  Bytes absent = f.repo.record_proof(oci::kTagCollection, f.tag_rkey);
  CHECK(what_of([&] { prove_record(absent, kDid, f.key.public_key(), oci::kTagCollection, f.tag_rkey); })
            .find("absent") != std::string::npos);
  CHECK_THROWS_AS(prove_record(absent, kDid, f.key.public_key(), oci::kTagCollection, f.tag_rkey), NotFoundError);
}

TEST_CASE("manifest_rkey_for: the tag's AT-URI, or the legacy key of its digest") {
  oci::TagRecord t{"team/app", "v1", oci::manifest_uri(kDid, "3l2s6xy5w4k2a"), std::nullopt, kWhen, kWhen};
  CHECK(manifest_rkey_for(t, kDid) == "3l2s6xy5w4k2a");
  // Someone else's record, or another collection: refused.
  CHECK(what_of([&] { manifest_rkey_for(t, kOther); }).find("not a record in") != std::string::npos);
  t.manifest_uri = "at://" + kDid + "/io.atcr.tag/3l2s6xy5w4k2a";
  CHECK_THROWS_AS(manifest_rkey_for(t, kDid), VerifyError);
  // An older tag: only the digest.
  t.manifest_uri.clear();
  t.manifest_digest = oci::Digest::parse(kD1);
  CHECK(manifest_rkey_for(t, kDid) == oci::legacy_manifest_rkey("team/app", *t.manifest_digest));
  t.manifest_digest.reset();
  CHECK_THROWS_AS(manifest_rkey_for(t, kDid), ParseError);
}

TEST_CASE("check_records: what the owner signed agrees with itself") {
  Fixture f;
  oci::ManifestRecord m = check_records(f.ref, f.tag(), f.manifest_record(), f.manifest_rkey);
  CHECK(m.digest == f.manifest.digest);

  SUBCASE("a tag asked for under another name") {
    auto other = ImageRef::parse("127.0.0.1:5000/alice.test/team/app:v2");
    CHECK(what_of([&] { check_records(other, f.tag(), f.manifest_record(), f.manifest_rkey); }).find("says it is") !=
          std::string::npos);
  }
  SUBCASE("the tag's manifestDigest is not the manifest record's digest") {
    f.put(oci::kTagCollection, f.tag_rkey,
          oci::tag_record("team/app", "v1", oci::manifest_uri(kDid, f.manifest_rkey), oci::Digest::parse(kD1), kWhen));
    CHECK(what_of([&] { check_records(f.ref, f.tag(), f.manifest_record(), f.manifest_rkey); })
              .find("the tag says " + kD1) != std::string::npos);
  }
  SUBCASE("the manifest record was rewritten with another digest") {
    oci::Manifest other = oci::Manifest::parse(to_bytes(manifest_json("21")), "");
    f.put(oci::kManifestCollection, f.manifest_rkey,
          oci::manifest_record(other, "team/app", other.digest, kHold, Value(), kWhen));
    CHECK_THROWS_AS(check_records(f.ref, f.tag(), f.manifest_record(), f.manifest_rkey), VerifyError);
  }
  SUBCASE("a manifest record of another repository") {
    f.put(oci::kManifestCollection, f.manifest_rkey,
          oci::manifest_record(f.manifest, "team/other", f.manifest.digest, kHold, Value(), kWhen));
    CHECK(what_of([&] { check_records(f.ref, f.tag(), f.manifest_record(), f.manifest_rkey); })
              .find("is for repository team/other") != std::string::npos);
  }
  SUBCASE("a manifestBlob that is not the digest's bytes") {
    f.put(oci::kManifestCollection, f.manifest_rkey,
          oci::manifest_record(f.manifest, "team/app", f.manifest.digest, kHold, blob_of(to_bytes("other")), kWhen));
    CHECK(what_of([&] { check_records(f.ref, f.tag(), f.manifest_record(), f.manifest_rkey); })
              .find("manifestBlob") != std::string::npos);
  }
  SUBCASE("a legacy key must name the record's digest") {
    std::string legacy = oci::legacy_manifest_rkey("team/app", f.manifest.digest);
    f.repo.apply_writes({RecordWrite::create(std::string(oci::kManifestCollection), legacy,
                                             oci::manifest_record(f.manifest, "team/app", f.manifest.digest, kHold,
                                                                  Value(), kWhen))},
                        f.key);
    ProvenRecord by_legacy = f.proven(oci::kManifestCollection, legacy);
    CHECK(check_records(f.ref, f.tag(), by_legacy, legacy).digest == f.manifest.digest);
    std::string wrong = oci::legacy_manifest_rkey("team/app", oci::Digest::parse(kD1));
    CHECK(what_of([&] { check_records(f.ref, f.tag(), by_legacy, wrong); }).find("neither a TID") !=
          std::string::npos);
  }
}

TEST_CASE("check_served_manifest: the sha256 of the bytes served") {
  Fixture f;
  check_served_manifest(f.manifest_bytes, f.manifest.digest);
  Bytes other = f.manifest_bytes;
  other.back() = ' ';
  std::string why = what_of([&] { check_served_manifest(other, f.manifest.digest); });
  CHECK(why.find(f.manifest.digest.str()) != std::string::npos);
  CHECK(why.find(oci::Digest::of(other).str()) != std::string::npos);
  CHECK_THROWS_AS(check_served_manifest(f.manifest_bytes, oci::Digest::parse("sha512:" + std::string(128, 'a'))),
                  VerifyError);
}

// ---- the registry client verify uses (oci::fetch_manifest, fetch_blob) ------
// A registry double on loopback: the registry is the party verify does not
// trust, so a hostile one is what these need.

namespace {

const std::string kToken = "registry-token";

struct Registry {
  test::LoopbackServer s;
  std::string seen_realm_auth;    // Authorization sent to the token realm
  std::string seen_storage_auth;  // ... and to the blob's storage
  std::string manifest = manifest_json("20");

  Registry() {
    s.server.Get("/auth/token", [this](const httplib::Request& req, httplib::Response& res) {
      seen_realm_auth = req.get_header_value("Authorization");
      if (req.get_param_value("scope") != "repository:alice.test/app:pull") return res.status = 400, void();
      if (seen_realm_auth == "Basic " + std::string("YWxpY2UudGVzdDp3cm9uZw==")) {  // alice.test:wrong
        res.status = 401;
        res.set_content(R"({"errors":[{"code":"UNAUTHORIZED","message":"bad password"}]})", "application/json");
        return;
      }
      res.set_content(R"({"token":")" + kToken + R"("})", "application/json");
    });
    s.server.Get(R"(/v2/alice.test/app/(manifests|blobs)/(.+))", [this](const httplib::Request& req,
                                                                        httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer " + kToken) {
        res.status = 401;
        res.set_header("WWW-Authenticate", "Bearer realm=\"" + s.url() + "/auth/token\",service=\"test\"");
        return;
      }
      std::string ref = req.matches[2];
      if (req.matches[1] == "blobs") {
        if (ref == kD1) return res.set_redirect("/storage/ok"), void();
        if (ref == "sha256:" + std::string(64, '2')) return res.set_redirect("/storage/other"), void();
        return res.set_redirect("/storage/loop"), void();
      }
      if (ref == "v1") return res.set_content(manifest, "application/vnd.oci.image.manifest.v1+json");
      if (ref == "huge") return res.set_content(std::string(5 * 1024 * 1024, ' '), "application/json");
      if (ref == "html") return res.status = 500, res.set_content("<html>oops</html>", "text/html");
      res.status = 404;
      res.set_content(R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such tag"}]})", "application/json");
    });
    s.server.Get("/v2/bob.test/app/manifests/v1", [](const httplib::Request&, httplib::Response& res) {
      res.status = 401;  // no challenge
    });
    s.server.Get("/storage/(ok|other|loop)", [this](const httplib::Request& req, httplib::Response& res) {
      seen_storage_auth = req.get_header_value("Authorization");
      if (req.matches[1] == "loop") return res.set_redirect("/storage/loop"), void();
      // A blob whose digest is kD1 cannot be served (its preimage is
      // unknown): "ok" serves bytes for the caller to check against kD1.
      res.set_content(req.matches[1] == "ok" ? "bytes" : "other bytes", "application/octet-stream");
    });
    s.start();
  }
};

}  // namespace

TEST_CASE("fetch_manifest: the token challenge, anonymous or with credentials; refusals") {
  Registry r;
  net::HttpClient http;
  oci::ServedManifest m = oci::fetch_manifest(http, r.s.url(), "alice.test/app", "v1");
  CHECK(to_string(m.body) == r.manifest);
  CHECK(m.media_type == "application/vnd.oci.image.manifest.v1+json");
  CHECK(r.seen_realm_auth.empty());  // anonymous
  oci::fetch_manifest(http, r.s.url(), "alice.test/app", "v1", "alice.test", "secret");
  CHECK(r.seen_realm_auth == "Basic YWxpY2UudGVzdDpzZWNyZXQ=");
  CHECK(what_of([&] { oci::fetch_manifest(http, r.s.url(), "alice.test/app", "v1", "alice.test", "wrong"); })
            .find("bad password") != std::string::npos);
  try {
    oci::fetch_manifest(http, r.s.url(), "alice.test/app", "nope");
    FAIL("no error");
  } catch (const oci::RegistryError& e) {
    CHECK(e.code() == oci::ErrorCode::kManifestUnknown);
    CHECK(e.message() == "no such tag");
  }
  CHECK_THROWS_AS(oci::fetch_manifest(http, r.s.url(), "alice.test/app", "html"), ParseError);
  CHECK_THROWS_AS(oci::fetch_manifest(http, r.s.url(), "alice.test/app", "huge"), net::HttpError);
  // A 401 that says nothing about where to get a token.
  CHECK(what_of([&] { oci::fetch_manifest(http, r.s.url(), "bob.test/app", "v1"); })
            .find("without a Bearer challenge") != std::string::npos);
}

TEST_CASE("fetch_blob: the storage redirect without the registry's token; bytes checked") {
  Registry r;
  net::HttpClient http;
  // "bytes" is not the preimage of kD1: the check refuses it, after the
  // redirect was followed without the token.
  CHECK(what_of([&] { oci::fetch_blob(http, r.s.url(), "alice.test/app", oci::Digest::parse(kD1)); })
            .find(oci::Digest::of(std::string_view("bytes")).str()) != std::string::npos);
  CHECK(r.seen_storage_auth.empty());
  CHECK_THROWS_AS(oci::fetch_blob(http, r.s.url(), "alice.test/app", oci::Digest::parse("sha256:" + std::string(64, '2'))),
                  VerifyError);
  CHECK(what_of([&] {
          oci::fetch_blob(http, r.s.url(), "alice.test/app", oci::Digest::parse("sha256:" + std::string(64, '3')));
        }).find("more than 3 redirects") != std::string::npos);
}

// The atcr-hold binary's callers and client for integration tests: accounts
// on the reference PDS with service tokens it mints, a client for one hold's
// XRPC methods (the lexicon's upload flow included), and TestHold, a hold
// process owned by callers().owner. Used by hold_test.cc and
// hold_abuse_test.cc (fixture pds+s3: PDS_URL, PLC_URL, S3_*).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/crypto/random.h"
#include "atcr/data/json.h"
#include "atcr/identity/did_document.h"
#include "atcr/oci/digest.h"
#include "atcr/repo/repository.h"
#include "atcr/s3/client.h"
#include "hold_process.h"
#include "pds_fixture.h"
#include "required_env.h"
#include "s3_env.h"
#include "temp_dir.h"

namespace atcr::test {

constexpr std::size_t kMiB = 1024 * 1024;
constexpr std::string_view kGetBlob = "com.atproto.sync.getBlob";
constexpr std::string_view kInitiate = "io.atcr.hold.initiateUpload";
constexpr std::string_view kPartUrl = "io.atcr.hold.getPartUploadUrl";
constexpr std::string_view kUploadPart = "io.atcr.hold.uploadPart";
constexpr std::string_view kComplete = "io.atcr.hold.completeUpload";
constexpr std::string_view kAbort = "io.atcr.hold.abortUpload";
constexpr std::string_view kRequestCrew = "io.atcr.hold.requestCrew";
constexpr std::string_view kDeleteRecord = "com.atproto.repo.deleteRecord";

inline std::string env(const char* name) { return required_env(name, "meson (fixture pds+s3)"); }

// Content unique to this run (the bucket outlives runs, and a blob already
// there from an earlier run would be visible from the start), different
// per `seed`.
inline std::string random_text(std::size_t n, std::uint64_t seed) {
  static const std::uint64_t run = [] {
    Bytes b = random_bytes(8);
    std::uint64_t v = 0;
    for (auto x : b) v = v << 8 | x;
    return v;
  }();
  std::mt19937_64 rng(seed ^ run);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = rng();
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) out[i + k] = static_cast<char>(v >> (8 * k));
  }
  return out;
}

inline std::string jstr(const std::string& s) { return json::serialize(Value(s)); }

// The S3 settings of with-s3.sh under the names an operator would use.
inline HoldProcess::Env s3_settings(bool presign) {
  return {
      {"HOLD_STORAGE_DRIVER", "s3"},
      {"S3_ENDPOINT", env("S3_ENDPOINT")},
      {"S3_BUCKET", env("S3_BUCKET")},
      {"AWS_REGION", env("S3_REGION")},
      {"AWS_ACCESS_KEY_ID", env("S3_ACCESS_KEY")},
      {"AWS_SECRET_ACCESS_KEY", env("S3_SECRET_KEY")},
      {"DISABLE_PRESIGNED_URLS", presign ? "false" : "true"},
  };
}

inline s3::S3Client& bucket() {
  static s3::S3Client client(s3_config_from_env("meson (fixture pds+s3)"));
  return client;
}

inline std::vector<std::string> bucket_keys(const std::string& prefix) {
  std::vector<std::string> keys;
  s3::ListOptions o;
  o.prefix = prefix;
  for (;;) {
    auto page = bucket().list_objects(o);
    for (auto& obj : page.objects) keys.push_back(obj.key);
    if (!page.truncated) return keys;
    o.continuation_token = page.next_continuation_token;
  }
}

// The bucket prefix an S3 hold chose at its first start ("" for the root).
inline std::string storage_prefix(const HoldProcess& hold) {
  std::string text = read_file(hold.data_dir() / "storage-prefix");
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text == "/" ? "" : text;
}

// ------------------------------------------------------------ the callers
struct Callers {
  xrpc::XrpcClient pds{pds_url(), test_http()};
  Account owner, reader, writer, stranger;

  Callers() {
    owner = create_account(pds);
    reader = create_account(pds);
    writer = create_account(pds);
    stranger = create_account(pds);
  }

  // A token from the caller's PDS for one method of one hold. Tokens live
  // 60 s and the hold does not refuse replays, so each is reused for 30 s.
  std::string token(const Account& a, const std::string& aud, std::string_view lxm) {
    std::lock_guard lock(mu_);
    auto key = a.did + " " + aud + " " + std::string(lxm);
    auto now = std::chrono::steady_clock::now();
    if (auto it = tokens_.find(key); it != tokens_.end() && now - it->second.second < std::chrono::seconds(30))
      return it->second.first;
    xrpc::Params p;
    p.add("aud", aud);
    p.add("lxm", lxm);
    Value out = pds.query("com.atproto.server.getServiceAuth", p, {.bearer = a.access_jwt});
    std::string t = out.at("token").as_string();
    tokens_[key] = {t, now};
    return t;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> tokens_;
};

inline Callers& callers() {
  static Callers c;
  return c;
}

// ------------------------------------------------------------ talking to a hold
inline net::HttpClient& http() {
  static net::HttpClient client([] {
    net::HttpOptions o;
    o.timeout = std::chrono::seconds(120);
    o.connect_timeout = std::chrono::seconds(5);
    o.max_response_bytes = 64 * kMiB;
    return o;
  }());
  return client;
}

struct HoldClient {
  HoldProcess& p;

  net::HttpResponse call(const std::string& method, std::string_view nsid, const Account* as,
                         const std::string& query = {}, const std::string& json_body = {}) {
    net::HttpRequest req;
    req.method = method;
    req.url = p.url() + "/xrpc/" + std::string(nsid) + (query.empty() ? "" : "?" + query);
    if (as) req.headers.emplace_back("Authorization", "Bearer " + callers().token(*as, p.did(), nsid));
    if (!json_body.empty()) {
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = to_bytes(json_body);
    }
    return http().send(req);
  }

  static Value json(const net::HttpResponse& r) {
    INFO("body: " << r.text());
    return json::parse(r.text());
  }
  static std::string error(const net::HttpResponse& r) {
    try {
      return json::parse(r.text()).at("error").as_string();
    } catch (const std::exception&) {
      return "(not an XRPC error: " + r.text().substr(0, 200) + ")";
    }
  }

  std::string blob_query(const std::string& digest) const {
    return "did=" + net::url_encode(p.did()) + "&cid=" + net::url_encode(digest);
  }

  std::string initiate(const Account& as, const std::string& digest) {
    auto r = call("POST", kInitiate, &as, "", R"({"digest":)" + jstr(digest) + "}");
    REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.text());
    return json(r).at("uploadId").as_string();
  }

  // getPartUploadUrl, then a PUT of `bytes` to what it answers: a
  // presigned S3 URL (no credentials) or the hold's uploadPart (with a
  // token). Returns the PUT's response.
  // `with_token` false sends only what getPartUploadUrl returned (the
  // lexicon's flow: the URL must authorize itself).
  net::HttpResponse put_part(const Account& as, const std::string& id, int part, const std::string& bytes,
                             std::string* url_out = nullptr, bool with_token = true) {
    auto target = call("POST", kPartUrl, &as, "",
                       R"({"uploadId":)" + jstr(id) + R"(,"partNumber":)" + std::to_string(part) + "}");
    REQUIRE_MESSAGE(target.status == 200, target.status << " " << target.text());
    Value t = json(target);
    CHECK(t.at("method").as_string() == "PUT");
    net::HttpRequest put;
    put.method = "PUT";
    put.url = t.at("url").as_string();
    if (url_out) *url_out = put.url;
    for (const auto& [name, value] : t.at("headers").as_map()) put.headers.emplace_back(name, value.as_string());
    if (with_token && put.url.starts_with(p.public_url()))
      put.headers.emplace_back("Authorization", "Bearer " + callers().token(as, p.did(), kUploadPart));
    put.body = to_bytes(bytes);
    return http().send(put);
  }

  // The part's ETag from a successful PUT (S3's header, or the hold's JSON).
  static std::string etag_of(const net::HttpResponse& r) {
    std::string e = r.header("etag");
    if (e.size() >= 2 && e.front() == '"') e = e.substr(1, e.size() - 2);
    return e;
  }

  net::HttpResponse complete(const Account& as, const std::string& id, const std::string& digest,
                             const std::vector<std::string>& etags) {
    std::string parts = "[";
    for (std::size_t i = 0; i < etags.size(); ++i)
      parts += (i ? "," : "") + std::string(R"({"partNumber":)") + std::to_string(i + 1) +
               R"(,"etag":)" + jstr(etags[i]) + "}";
    parts += "]";
    return call("POST", kComplete, &as, "",
                R"({"uploadId":)" + jstr(id) + R"(,"digest":)" + jstr(digest) + R"(,"parts":)" + parts + "}");
  }

  // A whole upload in parts of `part_size`; returns completeUpload's response.
  net::HttpResponse upload(const Account& as, const std::string& data, std::size_t part_size = 5 * kMiB,
                           std::string digest = {}) {
    if (digest.empty()) digest = oci::Digest::of(data).str();
    std::string id = initiate(as, digest);
    std::vector<std::string> etags;
    for (std::size_t off = 0; off < data.size(); off += part_size) {
      auto r = put_part(as, id, static_cast<int>(etags.size() + 1), data.substr(off, part_size));
      REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.text());
      etags.push_back(etag_of(r));
    }
    return complete(as, id, digest, etags);
  }

  // The blob's bytes: followed from a 307 with plain HTTP (no credentials),
  // or as answered.
  std::string download(const Account* as, const std::string& digest) {
    auto r = call("GET", kGetBlob, as, blob_query(digest));
    if (r.status == 307) r = http().get(r.header("location"));
    REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.text().substr(0, 300));
    return r.text();
  }

  // The hold's signing key, from its /.well-known/did.json.
  PublicKey signing_key() {
    auto r = http().get(p.url() + "/.well-known/did.json");
    REQUIRE_MESSAGE(r.status == 200, r.text());
    auto doc = identity::DidDocument::parse(r.text());
    CHECK(doc.id == p.did());
    REQUIRE(doc.signing_key());
    return *doc.signing_key();
  }

  // getRepo's CAR, verified against the DID document's key.
  VerifiedRepo verified_repo() {
    auto r = call("GET", "com.atproto.sync.getRepo", nullptr, "did=" + net::url_encode(p.did()));
    REQUIRE_MESSAGE(r.status == 200, r.text());
    return verify_repo_car(r.body, p.did(), signing_key());
  }

  Value record(std::string_view collection, const std::string& rkey) {
    auto r = call("GET", "com.atproto.repo.getRecord", nullptr,
                  "repo=" + net::url_encode(p.did()) + "&collection=" + std::string(collection) +
                      "&rkey=" + net::url_encode(rkey));
    REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.text());
    return json(r).at("value");
  }

  // Every record of a collection, as rkey -> value JSON.
  std::map<std::string, std::string> records(std::string_view collection) {
    std::map<std::string, std::string> out;
    auto r = call("GET", "com.atproto.repo.listRecords", nullptr,
                  "repo=" + net::url_encode(p.did()) + "&collection=" + std::string(collection) + "&limit=100");
    REQUIRE_MESSAGE(r.status == 200, r.text());
    Value listed = json(r);  // kept: the loop below walks into it
    for (const Value& rec : listed.at("records").as_array()) {
      std::string uri = rec.at("uri").as_string();
      out[uri.substr(uri.rfind('/') + 1)] = json::serialize(rec.at("value"));
    }
    return out;
  }
};

// A hold process in its own temp dir, owned by callers().owner.
struct TestHold {
  TempDir dir{"atcr-hold-it"};
  HoldProcess process;
  HoldClient client{process};

  explicit TestHold(HoldProcess::Env settings) : process(dir.path(), with_defaults(std::move(settings))) {}

  static HoldProcess::Env with_defaults(HoldProcess::Env s) {
    s.emplace("HOLD_OWNER", callers().owner.did);
    s.emplace("HOLD_IDENTITY_PLC_URL", plc_url());
    s.emplace("HOLD_STORAGE_DRIVER", "filesystem");
    return s;
  }
};

}  // namespace atcr::test

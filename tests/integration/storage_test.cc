// storage::S3Store and storage::Uploads against a real SigV4-verifying
// server: Ceph radosgw from scripts/s3.sh, reached through
// tests/integration/with-s3.sh (S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY,
// S3_SECRET_KEY, S3_BUCKET, S3_VHOST_DOMAIN).
//
// Every store here works under a root prefix unique to the run, so runs
// against a reused server, and Uploads::expire, see only their own keys.
// Presigned URLs are used with the curl program, as a client outside this
// codebase would.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "required_env.h"
#include "s3_env.h"
#include "curl_cli.h"
#include "atcr/crypto/random.h"
#include "atcr/encoding/hex.h"
#include "atcr/storage/blob_key.h"
#include "atcr/storage/s3_store.h"
#include "atcr/storage/uploads.h"

using namespace atcr;
using namespace atcr::storage;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Kind = UploadError::Kind;

using namespace atcr::test;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;
constexpr std::string_view kDid = "did:plc:storagetest";

std::string env(const char* name) { return required_env(name, "tests/integration/with-s3.sh"); }

s3::S3Config config() { return s3_config_from_env("tests/integration/with-s3.sh"); }

// "storage-it-<pid>-<time>/<test>/"
std::string root_for(std::string_view test) {
  static const std::string run = "storage-it-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "/";
  return run + std::string(test) + "/";
}

S3Store store_for(std::string_view test, bool presign = true, s3::S3Config c = config()) {
  S3StoreOptions o;
  o.presign = presign;
  o.root = root_for(test);
  return S3Store(std::move(c), o);
}

std::string random_text(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = rng();
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) out[i + k] = static_cast<char>(v >> (8 * k));
  }
  return out;
}

Reader reader_of(const std::string& data) {
  auto pos = std::make_shared<std::size_t>(0);
  return [&data, pos](std::span<std::uint8_t> buf) {
    std::size_t n = std::min(buf.size(), data.size() - *pos);
    std::copy_n(data.data() + *pos, n, buf.data());
    *pos += n;
    return n;
  };
}

std::string get(const BlobStore& s, std::string_view key, std::optional<ByteRange> range = {}) {
  std::string out;
  s.read(key, range, [&](BytesView c) {
    out += to_string(c);
    return true;
  });
  return out;
}

// Everything under the store's root, for "nothing left behind" checks.
std::vector<std::string> all_keys(const BlobStore& s, std::string_view prefix = {}) {
  std::vector<std::string> keys;
  std::string token;
  do {
    ListPage page = s.list(prefix, token);
    for (auto& k : page.keys) keys.push_back(k.key);
    token = page.continuation;
  } while (!token.empty());
  return keys;
}

void clear(BlobStore& s) {
  for (const auto& k : all_keys(s)) s.remove(k);
}

// ---- curl as an outside client ---------------------------------------------


Kind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UploadError& e) {
    MESSAGE(std::string(e.what()));
    return e.kind();
  }
  FAIL("no UploadError");
  return Kind::CompletionFailed;
}

struct TempDb {
  fs::path path = fs::temp_directory_path() / ("atcr-storage-it-" + hex::encode(random_bytes(8)) + ".db");
  ~TempDb() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path.string() + suffix).c_str());
  }
};

}  // namespace

TEST_CASE("S3Store: objects, ranges, listing pages, move, errors") {
  S3Store s = store_for("basics");
  CHECK(s.min_part_size() == 5u << 20);  // S3's rule for every part but the last
  CHECK_FALSE(s.stat("a/b"));
  std::string data = "0123456789";
  s.write("a/b", data.size(), reader_of(data));
  CHECK(s.stat("a/b")->size == 10);
  CHECK(get(s, "a/b") == data);
  CHECK(get(s, "a/b", ByteRange{3, 4}) == "3456");
  CHECK(get(s, "a/b", ByteRange{8, 100}) == "89");
  CHECK_THROWS_AS(get(s, "a/b", ByteRange{10, std::nullopt}), RangeError);
  CHECK_THROWS_AS(get(s, "missing"), NotFound);
  CHECK_THROWS_AS(s.stat("../x"), InvalidKey);
  CHECK_THROWS_AS(s.move("missing", "x"), NotFound);

  s.move("a/b", "c/d");
  CHECK_FALSE(s.stat("a/b"));
  CHECK(get(s, "c/d") == data);
  s.remove("c/d");
  s.remove("c/d");
  CHECK_FALSE(s.stat("c/d"));

  for (int i = 0; i < 12; ++i) {
    std::string k = "list/" + std::to_string(10 + i);
    s.write(k, 1, reader_of(data));
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    ListPage page = s.list("list/", token, 5);
    for (auto& k : page.keys) seen.push_back(k.key);
    token = page.continuation;
    ++pages;
  } while (!token.empty());
  CHECK(pages == 3);
  REQUIRE(seen.size() == 12);
  CHECK(seen.front() == "list/10");  // the root prefix is not visible
  CHECK(seen.back() == "list/21");
  clear(s);
  CHECK(all_keys(s).empty());
}

TEST_CASE("presigned GET, HEAD, PUT and UploadPart URLs work with plain curl") {
  S3Store s = store_for("presign");
  std::string content = "layer bytes " + random_text(1000, 1);
  auto digest = oci::Digest::of(content);
  s.write(blob_key(digest), content.size(), reader_of(content));
  Blobs blobs(s);

  auto get_url = blobs.presign_get(digest);
  REQUIRE(get_url);
  CurlResult got = curl({*get_url});
  CHECK(got.status == 200);
  CHECK(got.body == content);
  CurlResult head = curl({"-I", *blobs.presign_head(digest)});
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(content.size()));

  // PUT: S3Store does not hand out plain PUT URLs, the client does.
  const std::string put_key = root_for("presign") + "put-by-curl";
  TempFile put_body("put by curl");
  CHECK(curl({"-T", put_body.path, s.client().presign_put(put_key, 60s)}).status == 200);
  CHECK(get(s, "put-by-curl") == "put by curl");

  // UploadPart through a PartTarget.
  std::string id = s.begin("mp");
  auto target = s.presign_part("mp", id, 1, 60s);
  REQUIRE(target);
  CHECK(target->method == "PUT");
  TempFile part("a single small part");
  CurlResult put = curl({"-X", target->method, "-T", part.path, target->url});
  REQUIRE(put.status == 200);
  FinishResult r = s.finish("mp", id, {{1, put.header("etag")}});
  CHECK(r.size == 19);
  CHECK(get(s, "mp") == "a single small part");
  clear(s);
}

TEST_CASE("tampered, expired and wrongly signed URLs are refused with 403") {
  S3Store s = store_for("refuse");
  s.write("a", 8, reader_of(std::string("secret a")));
  s.write("b", 8, reader_of(std::string("secret b")));
  std::string url = *s.presign_get("a", 60s);
  REQUIRE(curl({url}).status == 200);

  std::string bad_signature = url;
  bad_signature.back() = bad_signature.back() == '0' ? '1' : '0';
  CHECK(curl({bad_signature}).status == 403);

  std::string other_key = url;
  other_key.replace(other_key.find("/a?"), 3, "/b?");
  CurlResult swapped = curl({other_key});
  CHECK(swapped.status == 403);
  CHECK(swapped.body.find("secret b") == std::string::npos);

  s3::S3Config wrong = config();
  wrong.credentials.secret_access_key = "not-the-secret-key-of-this-user-000000000";
  S3Store w = store_for("refuse", true, wrong);
  CHECK(curl({*w.presign_get("a", 60s)}).status == 403);

  // Part URLs too: another upload id's signature does not carry over.
  std::string id = s.begin("mp");
  std::string part_url = s.presign_part("mp", id, 1, 60s)->url;
  std::string other_part = part_url;
  other_part.replace(other_part.find("partNumber=1"), 12, "partNumber=2");
  TempFile body("x");
  CHECK(curl({"-T", body.path, other_part}).status == 403);
  s.abort("mp", id);

  std::string short_lived = *s.presign_get("a", 1s);
  REQUIRE(curl({short_lived}).status == 200);
  std::this_thread::sleep_for(2100ms);
  CHECK(curl({short_lived}).status == 403);
  clear(s);
}

TEST_CASE("Uploads on S3: three 5 MiB parts and a short one through presigned part URLs") {
  S3Store s = store_for("uploads-presigned");
  TempDb db;
  Uploads uploads(s, db.path);
  std::vector<std::string> parts = {random_text(5 * kMiB, 11), random_text(5 * kMiB, 12), random_text(5 * kMiB, 13),
                                    random_text(12345, 14)};
  std::string whole;
  for (const auto& p : parts) whole += p;
  auto digest = oci::Digest::of(whole);

  std::string id = uploads.initiate(kDid, digest.str());
  std::vector<UploadedPart> done;
  for (int n = 1; n <= 4; ++n) {
    auto target = uploads.part_target(id, kDid, n);
    REQUIRE(target);
    TempFile f(parts[static_cast<std::size_t>(n - 1)]);
    CurlResult put = curl({"-X", target->method, "-T", f.path, target->url});
    REQUIRE(put.status == 200);
    REQUIRE_FALSE(put.header("etag").empty());
    done.push_back({n, put.header("etag")});  // quoted, as S3 sends it
  }
  CompletedBlob blob = uploads.complete(id, kDid, digest.str(), done);
  CHECK(blob.digest == digest);
  CHECK(blob.size == whole.size());
  Sha256 h;
  s.read(blob_key(digest), std::nullopt, [&](BytesView c) {
    h.update(c);
    return true;
  });
  CHECK(oci::Digest::from_sha256(h.finish()) == digest);
  CHECK(all_keys(s, kUploadsPrefix).empty());
  // Pull through the presigned URL, as a docker client after a 307 would.
  CHECK(oci::Digest::of(curl({*Blobs(s).presign_get(digest)}).body) == digest);
  clear(s);
}

TEST_CASE("Uploads on S3: a wrong digest leaves no blob and no temp object") {
  S3Store s = store_for("uploads-wrong");
  TempDb db;
  Uploads uploads(s, db.path);
  std::string data = random_text(1000, 21);
  auto claimed = oci::Digest::of("not the data");
  std::string id = uploads.initiate(kDid);
  std::string etag = uploads.write_part(id, kDid, 1, reader_of(data), data.size());
  CHECK(kind_of([&] { uploads.complete(id, kDid, claimed.str(), {{1, etag}}); }) == Kind::InvalidDigest);
  CHECK_FALSE(s.stat(blob_key(claimed)));
  CHECK_FALSE(s.stat(blob_key(oci::Digest::of(data))));
  CHECK_FALSE(s.stat(upload_key(id)));
  CHECK(all_keys(s).empty());
  // A part S3 never saw: MissingParts (S3's InvalidPart).
  std::string id2 = uploads.initiate(kDid);
  uploads.write_part(id2, kDid, 1, reader_of(data), data.size());
  CHECK(kind_of([&] {
          uploads.complete(id2, kDid, oci::Digest::of(data).str(), {{1, "0123456789abcdef0123456789abcdef"}});
        }) == Kind::MissingParts);
  uploads.abort(id2, kDid);
  CHECK(uploads.count() == 0);
}

TEST_CASE("Uploads on S3 in proxy mode: no URLs, bytes through write_part") {
  S3Store s = store_for("uploads-proxy", false);
  TempDb db;
  Uploads uploads(s, db.path);
  std::string a = random_text(5 * kMiB, 31), b = random_text(777, 32);
  auto digest = oci::Digest::of(a + b);
  std::string id = uploads.initiate(kDid, digest.str());
  CHECK_FALSE(uploads.part_target(id, kDid, 1));
  std::string e1 = uploads.write_part(id, kDid, 1, reader_of(a), a.size());
  std::string e2 = uploads.write_part(id, kDid, 2, reader_of(b));  // size unknown: spooled
  CompletedBlob blob = uploads.complete(id, kDid, digest.str(), {{1, e1}, {2, e2}});
  CHECK(blob.size == a.size() + b.size());
  CHECK(get(s, blob_key(digest)) == a + b);
  CHECK_FALSE(Blobs(s).presign_get(digest));
  CHECK_FALSE(s.local_path(blob_key(digest)));

  // expire: an old session and a stray temp object go.
  std::string stale = uploads.initiate(kDid);
  uploads.write_part(stale, kDid, 1, reader_of(b), b.size());
  s.write("_uploads/stray", 1, reader_of(b));
  std::this_thread::sleep_for(1100ms);
  CHECK(uploads.expire(1s) == 2);
  CHECK(uploads.count() == 0);
  CHECK_FALSE(s.stat("_uploads/stray"));
  clear(s);
}

TEST_CASE("expire aborts S3 multipart uploads that lost their session row") {
  S3Store s = store_for("uploads-lost");
  TempDb db;
  Uploads uploads(s, db.path);
  std::string part = random_text(1000, 51);
  // A backend upload no session knows (the row was lost), and one that a
  // session still owns: only the first goes.
  std::string lost = s.begin(upload_key("lost-session"));
  s.write_part(upload_key("lost-session"), lost, 1, part.size(), reader_of(part));
  std::string live = uploads.initiate(kDid);
  uploads.write_part(live, kDid, 1, reader_of(part), part.size());
  auto pending = s.pending_uploads(kUploadsPrefix);
  REQUIRE(pending.size() == 2);
  for (const auto& u : pending) CHECK(u.initiated.has_value());
  CHECK(uploads.expire(1h) == 0);  // nothing is old enough yet
  std::this_thread::sleep_for(1100ms);
  // The live session is older than 1s too, so it is expired as a session;
  // an hour's grace keeps both: prove the lost one goes on its own first.
  CHECK(uploads.expire(24h) == 0);
  CHECK(s.pending_uploads(kUploadsPrefix).size() == 2);
  CHECK(uploads.count() == 1);
  uploads.abort(live, kDid);
  CHECK(uploads.expire(1s) == 1);
  CHECK(s.pending_uploads(kUploadsPrefix).empty());
  clear(s);
}

TEST_CASE("a pull zone replaces the host of presigned GETs, and the URL works through it") {
  // curl plays the CDN: it connects to the pull zone's name (cdn.localhost,
  // loopback) and forwards with the bucket's Host, which the URL is signed for.
  s3::S3Config c = config();
  std::string port = c.endpoint.substr(c.endpoint.rfind(':') + 1);
  c.endpoint = "http://" + env("S3_VHOST_DOMAIN") + ":" + port;
  c.path_style = false;
  c.pull_zone = "http://cdn.localhost:" + port;
  S3Store s = store_for("pullzone", true, c);
  std::string content = "through the cdn " + random_text(100, 41);
  auto digest = oci::Digest::of(content);
  s.write(blob_key(digest), content.size(), reader_of(content));

  std::string url = *Blobs(s).presign_get(digest);
  CHECK(url.starts_with(c.pull_zone + "/" + root_for("pullzone") + "docker/registry/v2/blobs/sha256/"));
  std::string bucket_host = "Host: " + c.bucket + "." + env("S3_VHOST_DOMAIN") + ":" + port;
  CurlResult got = curl({"-H", bucket_host, url});
  CHECK(got.status == 200);
  CHECK(got.body == content);
  CHECK(curl({"-I", "-H", bucket_host, *Blobs(s).presign_head(digest)}).status == 200);
  // Part uploads go to the bucket itself, never the CDN.
  std::string id = s.begin("mp");
  std::string part_url = s.presign_part("mp", id, 1, 60s)->url;
  CHECK(part_url.starts_with("http://" + c.bucket + "." + env("S3_VHOST_DOMAIN") + ":" + port + "/"));
  s.abort("mp", id);
  clear(s);
}

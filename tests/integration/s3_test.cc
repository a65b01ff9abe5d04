// atcr::s3::S3Client against a real SigV4-verifying server: Ceph radosgw
// from scripts/s3.sh. Run through tests/integration/with-s3.sh, which starts
// it and sets S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET
// and S3_VHOST_DOMAIN. Every test works under its own key prefix, unique to
// the run, so runs against a reused server do not see each other.
//
// Presigned URLs are fetched with the curl program, as a client outside
// this codebase would, so a bug shared by our signer and our HTTP client
// cannot hide.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include "required_env.h"
#include "s3_env.h"
#include "curl_cli.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"
#include "atcr/s3/client.h"

using namespace atcr;
using namespace atcr::s3;
using namespace std::chrono_literals;

using namespace atcr::test;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

std::string env(const char* name) { return required_env(name, "tests/integration/with-s3.sh"); }

S3Config path_style_config() { return s3_config_from_env("tests/integration/with-s3.sh"); }

const S3Client& client() {
  static const S3Client c(path_style_config());
  return c;
}

// "it-<pid>-<time>/<test>/": unique to this run and test.
std::string prefix(std::string_view test) {
  static const std::string run = "it-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "/";
  return run + std::string(test) + "/";
}

Bytes random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = rng();
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) out[i + k] = static_cast<std::uint8_t>(v >> (8 * k));
  }
  return out;
}

std::string sha_hex(BytesView b) { return hex::encode(sha256(b)); }

void delete_prefix(const S3Client& c, const std::string& p) {
  ListOptions options;
  options.prefix = p;
  for (int page = 0; page < 100; ++page) {
    ListResult r = c.list_objects(options);
    for (const auto& o : r.objects) c.delete_object(o.key);
    if (!r.truncated) return;
    options.continuation_token = r.next_continuation_token;
  }
}

std::vector<std::string> list_keys(const S3Client& c, const std::string& p) {
  ListOptions options;
  options.prefix = p;
  std::vector<std::string> keys;
  for (const auto& o : c.list_objects(options).objects) keys.push_back(o.key);
  return keys;
}

std::size_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

// ---- curl as an outside client ---------------------------------------------


}  // namespace

// First in the file, so that no earlier test has already raised the peak.
TEST_CASE("streaming 64 MiB up and down keeps memory flat") {
  const S3Client& c = client();
  const std::uint64_t size = 64 * kMiB;
  const std::string key = prefix("stream") + "big.bin";
  std::size_t rss_before = peak_rss_bytes();

  std::mt19937_64 rng(42);
  std::uint64_t produced = 0;
  Sha256 sent_hash;
  Reader reader = [&](std::span<std::uint8_t> buffer) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - produced));
    for (std::size_t i = 0; i < n; i += 8) {
      std::uint64_t v = rng();
      std::memcpy(buffer.data() + i, &v, std::min<std::size_t>(8, n - i));
    }
    sent_hash.update(buffer.first(n));
    produced += n;
    return n;
  };
  auto t0 = std::chrono::steady_clock::now();
  std::string etag = c.put_object_stream(key, size, reader, "application/octet-stream");
  auto t1 = std::chrono::steady_clock::now();
  CHECK(produced == size);
  CHECK_FALSE(etag.empty());

  std::uint64_t received = 0;
  Sha256 received_hash;
  ObjectInfo info = c.get_object_stream(key, [&](BytesView chunk) {
    received += chunk.size();
    received_hash.update(chunk);
    return true;
  });
  auto t2 = std::chrono::steady_clock::now();
  CHECK(received == size);
  CHECK(info.size == size);
  CHECK(info.etag == etag);
  CHECK(hex::encode(received_hash.finish()) == hex::encode(sent_hash.finish()));

  std::size_t growth = peak_rss_bytes() - rss_before;
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  MESSAGE("64 MiB: put " << ms(t1 - t0) << " ms, get " << ms(t2 - t1) << " ms, peak RSS grew "
                         << growth / 1024 << " KiB");
  CHECK(growth < 8 * kMiB);

  // A sink that says stop aborts the transfer.
  std::uint64_t seen = 0;
  CHECK_THROWS_AS(c.get_object_stream(key,
                                      [&](BytesView chunk) {
                                        seen += chunk.size();
                                        return false;
                                      }),
                  net::HttpError);
  CHECK(seen < size);
  c.delete_object(key);
}

TEST_CASE("put, get, head, list and delete keys that need encoding") {
  const S3Client& c = client();
  const std::string p = prefix("keys");
  const std::vector<std::string> names = {
      "plain.txt",
      "with space/and more spaces .txt",
      "unicode/ünï©ødé-✓-🐳.bin",
      "plus+sign+",
      "percent%20literal%",
      "query?and#hash&amp=eq",
      "tilde~star*paren()quote'\"semi;colon:comma,at@dollar$",
      "deep/a/b/c//double-slash",
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string key = p + names[i];
    CAPTURE(key);
    Bytes data = random_bytes(1000 + i * 37, i);
    std::string etag = c.put_object(key, data, "application/x-test");
    CHECK_FALSE(etag.empty());
    CHECK(c.get_object(key) == data);
    auto info = c.head_object(key);
    REQUIRE(info);
    CHECK(info->size == data.size());
    CHECK(info->etag == etag);
    CHECK(info->content_type == "application/x-test");
    CHECK_FALSE(info->last_modified.empty());
  }
  // The listing gives every key back exactly, in byte order.
  std::vector<std::string> expected;
  for (const auto& n : names) expected.push_back(p + n);
  std::sort(expected.begin(), expected.end());
  CHECK(list_keys(c, p) == expected);

  for (const auto& key : expected) {
    c.delete_object(key);
    CHECK_FALSE(c.head_object(key));
    CHECK_NOTHROW(c.delete_object(key));  // idempotent
  }
  CHECK(list_keys(c, p).empty());

  // An empty object and the default content type.
  c.put_object(p + "empty", {});
  auto empty = c.head_object(p + "empty");
  REQUIRE(empty);
  CHECK(empty->size == 0);
  CHECK(c.get_object(p + "empty").empty());
  c.delete_object(p + "empty");
}

TEST_CASE("virtual-host style addressing") {
  // radosgw takes "BUCKET.<rgw_dns_name>" as virtual-host style; curl
  // resolves *.localhost to loopback on its own.
  S3Config config = path_style_config();
  config.endpoint.replace(config.endpoint.find("127.0.0.1"), 9, env("S3_VHOST_DOMAIN"));
  config.path_style = false;
  S3Client vhost(config);
  const std::string key = prefix("vhost") + "a b+c.txt";
  CHECK(vhost.url(key).starts_with("http://" + config.bucket + "." + env("S3_VHOST_DOMAIN")));
  Bytes data = to_bytes("virtual host");
  vhost.put_object(key, data);
  CHECK(vhost.get_object(key) == data);
  CHECK(client().get_object(key) == data);  // the same bucket, path style
  CHECK(list_keys(vhost, prefix("vhost")) == std::vector<std::string>{key});
  CHECK(curl({vhost.presign_get(key, 60s)}).body == "virtual host");
  vhost.delete_object(key);
  CHECK_FALSE(client().head_object(key));
}

TEST_CASE("byte ranges") {
  const S3Client& c = client();
  const std::string key = prefix("range") + "obj";
  Bytes data = random_bytes(2 * kMiB + 17, 7);
  c.put_object(key, data);
  auto slice = [&](std::size_t from, std::size_t n) { return Bytes(data.begin() + from, data.begin() + from + n); };

  CHECK(c.get_object(key, ByteRange{0, 10}) == slice(0, 10));
  CHECK(c.get_object(key, ByteRange{1000, 5000}) == slice(1000, 5000));
  CHECK(c.get_object(key, ByteRange{data.size() - 1, 1}) == slice(data.size() - 1, 1));
  CHECK(c.get_object(key, ByteRange{kMiB, std::nullopt}) == slice(kMiB, data.size() - kMiB));
  // A range past the end is cut to the object.
  CHECK(c.get_object(key, ByteRange{data.size() - 5, 100}) == slice(data.size() - 5, 5));

  Bytes streamed;
  ObjectInfo info = c.get_object_stream(
      key,
      [&](BytesView chunk) {
        streamed.insert(streamed.end(), chunk.begin(), chunk.end());
        return true;
      },
      ByteRange{12345, 300000});
  CHECK(streamed == slice(12345, 300000));
  CHECK(info.size == data.size());  // the whole object's size, from Content-Range

  try {
    c.get_object(key, ByteRange{data.size() + 10, 10});
    FAIL("a range past the end must fail");
  } catch (const S3Error& e) {
    CHECK(e.status() == 416);
    CHECK(e.code() == "InvalidRange");
  }

  // get_object holds bodies in memory only up to the configured cap.
  S3Config small = path_style_config();
  small.max_buffered_bytes = kMiB;
  CHECK_THROWS_AS(S3Client(small).get_object(key), net::HttpError);
  CHECK(S3Client(small).get_object(key, ByteRange{0, kMiB}).size() == kMiB);
  c.delete_object(key);
}

TEST_CASE("listing: prefix, pages with continuation tokens, delimiter") {
  const S3Client& c = client();
  const std::string p = prefix("list");
  std::vector<std::string> keys;
  for (int i = 0; i < 25; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "k%02d", i);
    keys.push_back(p + "items/" + name);
    c.put_object(keys.back(), to_bytes(name));
  }
  c.put_object(p + "other/x", to_bytes("x"));
  c.put_object(p + "other/y/z", to_bytes("z"));

  ListOptions options;
  options.prefix = p + "items/";
  options.max_keys = 10;
  std::vector<std::string> seen;
  std::vector<std::size_t> page_sizes;
  for (int page = 0; page < 10; ++page) {
    ListResult r = c.list_objects(options);
    page_sizes.push_back(r.objects.size());
    for (const auto& o : r.objects) {
      seen.push_back(o.key);
      CHECK(o.size == 3);
      CHECK_FALSE(o.etag.empty());
    }
    if (!r.truncated) break;
    options.continuation_token = r.next_continuation_token;
  }
  CHECK(page_sizes == std::vector<std::size_t>{10, 10, 5});
  CHECK(seen == keys);

  ListOptions grouped;
  grouped.prefix = p;
  grouped.delimiter = "/";
  ListResult top = c.list_objects(grouped);
  CHECK(top.objects.empty());
  CHECK(top.common_prefixes == std::vector<std::string>{p + "items/", p + "other/"});
  grouped.prefix = p + "other/";
  ListResult other = c.list_objects(grouped);
  REQUIRE(other.objects.size() == 1);
  CHECK(other.objects[0].key == p + "other/x");
  CHECK(other.common_prefixes == std::vector<std::string>{p + "other/y/"});

  ListOptions none;
  none.prefix = p + "nothing-here/";
  ListResult empty = c.list_objects(none);
  CHECK(empty.objects.empty());
  CHECK_FALSE(empty.truncated);
  delete_prefix(c, p);
}

TEST_CASE("copy and move") {
  const S3Client& c = client();
  const std::string p = prefix("copy");
  Bytes data = random_bytes(300000, 3);
  std::string etag = c.put_object(p + "src file+1", data, "application/vnd.test");

  CHECK(c.copy_object(p + "src file+1", p + "copied \xc3\xa9") == etag);
  CHECK(c.get_object(p + "copied \xc3\xa9") == data);
  CHECK(c.head_object(p + "copied \xc3\xa9")->content_type == "application/vnd.test");
  CHECK(c.head_object(p + "src file+1"));

  c.move_object(p + "src file+1", p + "moved/here");
  CHECK_FALSE(c.head_object(p + "src file+1"));
  CHECK(c.get_object(p + "moved/here") == data);

  try {
    c.copy_object(p + "no such source", p + "dest");
    FAIL("copying a missing key must fail");
  } catch (const S3Error& e) {
    CHECK(e.status() == 404);
    CHECK(e.code() == "NoSuchKey");
  }
  CHECK_FALSE(c.head_object(p + "dest"));
  delete_prefix(c, p);
}

TEST_CASE("move of an object over the single-copy limit goes as a multipart copy") {
  // S3 copies at most 5 GiB with one CopyObject; the limit is lowered here
  // so a 12 MiB object takes the UploadPartCopy path (5 + 5 + 2 MiB).
  S3Config config = path_style_config();
  config.max_single_copy_bytes = 10 * kMiB;
  config.copy_part_bytes = 5 * kMiB;
  S3Client c(config);
  const std::string p = prefix("big-move");
  Bytes data = random_bytes(12 * kMiB + 123, 7);
  c.put_object(p + "src", data);

  c.move_object(p + "src", p + "dest");
  CHECK_FALSE(c.head_object(p + "src"));
  auto info = c.head_object(p + "dest");
  REQUIRE(info);
  CHECK(info->size == data.size());
  CHECK(info->etag.ends_with("-3"));  // three parts
  CHECK(c.get_object(p + "dest") == data);

  // A range past the source's end is refused and nothing is left behind.
  std::string upload = c.create_multipart_upload(p + "partial");
  CHECK_THROWS_AS(c.upload_part_copy(p + "partial", upload, 1, p + "dest", {data.size() + 10, 100}), S3Error);
  c.abort_multipart_upload(p + "partial", upload);
  CHECK_THROWS_AS(c.copy_large_object(p + "missing", p + "x"), S3Error);
  CHECK_FALSE(c.head_object(p + "x"));
  delete_prefix(c, p);
}

TEST_CASE("multipart upload: 3 parts of 5 MiB and a short last part assemble byte-exactly") {
  const S3Client& c = client();
  const std::string key = prefix("multipart") + "blob";
  std::vector<Bytes> parts;
  for (int i = 0; i < 3; ++i) parts.push_back(random_bytes(5 * kMiB, 100 + i));
  parts.push_back(random_bytes(123457, 200));
  Sha256 whole;
  for (const auto& part : parts) whole.update(part);
  std::string expected_sha = hex::encode(whole.finish());

  std::string upload = c.create_multipart_upload(key, "application/vnd.oci.image.layer.v1.tar");
  std::vector<CompletedPart> done;
  for (int i = 0; i < 4; ++i) {
    const Bytes& part = parts[static_cast<std::size_t>(i)];
    std::string etag;
    if (i == 2) {  // one part streamed, the others from memory
      std::size_t offset = 0;
      etag = c.upload_part_stream(key, upload, i + 1, part.size(), [&](std::span<std::uint8_t> buffer) {
        std::size_t n = std::min(buffer.size(), part.size() - offset);
        std::memcpy(buffer.data(), part.data() + offset, n);
        offset += n;
        return n;
      });
    } else {
      etag = c.upload_part(key, upload, i + 1, part);
    }
    CHECK_FALSE(etag.empty());
    done.push_back({i + 1, etag});
  }
  std::vector<PartInfo> listed = c.list_parts(key, upload);
  REQUIRE(listed.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(listed[i].part_number == static_cast<int>(i + 1));
    CHECK(listed[i].size == parts[i].size());
    CHECK(listed[i].etag == done[i].etag);
  }
  CHECK_FALSE(c.head_object(key));  // nothing visible before completion

  std::string etag = c.complete_multipart_upload(key, upload, done);
  CHECK(etag.ends_with("-4"));
  auto info = c.head_object(key);
  REQUIRE(info);
  CHECK(info->size == 15 * kMiB + 123457);
  CHECK(info->etag == etag);
  CHECK(info->content_type == "application/vnd.oci.image.layer.v1.tar");
  Sha256 got;
  c.get_object_stream(key, [&](BytesView chunk) {
    got.update(chunk);
    return true;
  });
  CHECK(hex::encode(got.finish()) == expected_sha);
  CHECK(sha_hex(c.get_object(key)) == expected_sha);

  // The upload is gone once completed (AWS says NoSuchUpload, radosgw NoSuchKey).
  try {
    c.list_parts(key, upload);
    FAIL("list_parts after completion must fail");
  } catch (const S3Error& e) {
    CHECK(e.status() == 404);
    CHECK((e.code() == "NoSuchUpload" || e.code() == "NoSuchKey"));
  }
  c.delete_object(key);
}

TEST_CASE("an aborted multipart upload leaves nothing behind") {
  const S3Client& c = client();
  const std::string p = prefix("abort");
  const std::string key = p + "blob";
  std::string upload = c.create_multipart_upload(key);
  c.upload_part(key, upload, 1, random_bytes(5 * kMiB, 1));
  c.upload_part(key, upload, 2, random_bytes(1000, 2));
  CHECK(c.list_parts(key, upload).size() == 2);
  c.abort_multipart_upload(key, upload);

  try {
    c.list_parts(key, upload);
    FAIL("list_parts after abort must fail");
  } catch (const S3Error& e) {
    CHECK(e.status() == 404);
    CHECK((e.code() == "NoSuchUpload" || e.code() == "NoSuchKey"));
    CHECK(e.key() == key);
  }
  CHECK_THROWS_AS(c.complete_multipart_upload(key, upload, {{1, "x"}}), S3Error);
  CHECK_FALSE(c.head_object(key));
  CHECK(list_keys(c, p).empty());
}

TEST_CASE("multipart uploads in progress are listed by prefix, and gone once aborted") {
  const S3Client& c = client();
  const std::string p = prefix("mpu-list");
  std::string a = c.create_multipart_upload(p + "a key+with space");
  std::string b = c.create_multipart_upload(p + "b");
  c.create_multipart_upload(prefix("mpu-other") + "x");  // another prefix: not listed
  MultipartUploadsPage page = c.list_multipart_uploads(p);
  REQUIRE(page.uploads.size() == 2);
  CHECK(page.uploads[0].key == p + "a key+with space");
  CHECK(page.uploads[0].upload_id == a);
  CHECK(page.uploads[1].upload_id == b);
  CHECK_FALSE(page.uploads[0].initiated.empty());
  c.abort_multipart_upload(p + "a key+with space", a);
  c.abort_multipart_upload(p + "b", b);
  CHECK(c.list_multipart_uploads(p).uploads.empty());
  for (const auto& u : c.list_multipart_uploads(prefix("mpu-other")).uploads) c.abort_multipart_upload(u.key, u.upload_id);
}

TEST_CASE("S3 errors carry the status, code, key and request id") {
  const S3Client& c = client();
  const std::string key = prefix("errors") + "missing key";
  try {
    c.get_object(key);
    FAIL("expected NoSuchKey");
  } catch (const S3Error& e) {
    CHECK(e.status() == 404);
    CHECK(e.code() == "NoSuchKey");
    CHECK(e.key() == key);
    CHECK_FALSE(e.request_id().empty());
    CHECK(std::string(e.what()).find("NoSuchKey") != std::string::npos);
    CHECK(std::string(e.what()).find(key) != std::string::npos);
  }
  CHECK_FALSE(c.head_object(key));

  S3Config other = path_style_config();
  other.bucket = "atcr-no-such-bucket";
  S3Client missing_bucket(other);
  for (auto op : std::vector<std::function<void()>>{[&] { missing_bucket.get_object("k"); },
                                                     [&] { missing_bucket.put_object("k", to_bytes("x")); },
                                                     [&] { missing_bucket.list_objects(); }}) {
    try {
      op();
      FAIL("expected NoSuchBucket");
    } catch (const S3Error& e) {
      CHECK(e.status() == 404);
      CHECK(e.code() == "NoSuchBucket");
    }
  }

  S3Config wrong_secret = path_style_config();
  wrong_secret.credentials.secret_access_key += "x";
  try {
    S3Client(wrong_secret).get_object(key);
    FAIL("expected SignatureDoesNotMatch");
  } catch (const S3Error& e) {
    CHECK(e.status() == 403);
    CHECK(e.code() == "SignatureDoesNotMatch");
  }
  S3Config wrong_key = path_style_config();
  wrong_key.credentials.access_key_id = "ATCRNOSUCHACCESSKEY0";
  try {
    S3Client(wrong_key).list_objects();
    FAIL("expected InvalidAccessKeyId");
  } catch (const S3Error& e) {
    CHECK(e.status() == 403);
    CHECK(e.code() == "InvalidAccessKeyId");
  }

  // Nobody listens on port 1: a transport error, not an S3Error.
  S3Config closed = path_style_config();
  closed.endpoint = "http://127.0.0.1:1";
  CHECK_THROWS_AS(S3Client(closed).get_object("k"), net::HttpError);
}

TEST_CASE("presigned URLs work with plain curl") {
  const S3Client& c = client();
  const std::string p = prefix("presign");
  Bytes data = random_bytes(100000, 9);
  const std::string key = p + "get me/\xc3\xa9+%.bin";
  c.put_object(key, data, "application/x-presigned");

  CurlResult got = curl({c.presign_get(key, 60s)});
  CHECK(got.status == 200);
  CHECK(got.body == to_string(data));

  CurlResult head = curl({"-I", c.presign_head(key, 60s)});
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(data.size()));
  CHECK(head.header("content-type") == "application/x-presigned");

  Bytes put_data = random_bytes(70000, 10);
  TempFile put_file(put_data);
  CurlResult put = curl({"-T", put_file.path, c.presign_put(p + "put by curl", 60s)});
  CHECK(put.status == 200);
  CHECK(c.get_object(p + "put by curl") == put_data);

  // A multipart upload whose parts a client sends itself.
  const std::string mp_key = p + "parts by curl";
  std::string upload = c.create_multipart_upload(mp_key);
  Bytes part1 = random_bytes(5 * kMiB, 11), part2 = random_bytes(4321, 12);
  TempFile f1(part1), f2(part2);
  CurlResult r1 = curl({"-T", f1.path, c.presign_upload_part(mp_key, upload, 1, 60s)});
  CurlResult r2 = curl({"-T", f2.path, c.presign_upload_part(mp_key, upload, 2, 60s)});
  REQUIRE(r1.status == 200);
  REQUIRE(r2.status == 200);
  c.complete_multipart_upload(mp_key, upload, {{1, r1.header("etag")}, {2, r2.header("etag")}});
  Bytes whole = part1;
  whole.insert(whole.end(), part2.begin(), part2.end());
  CHECK(sha_hex(c.get_object(mp_key)) == sha_hex(whole));
  delete_prefix(c, p);
}

TEST_CASE("tampered, expired and wrongly signed presigned URLs are refused") {
  const S3Client& c = client();
  const std::string p = prefix("refuse");
  c.put_object(p + "a", to_bytes("secret a"));
  c.put_object(p + "b", to_bytes("secret b"));
  std::string url = c.presign_get(p + "a", 60s);
  REQUIRE(curl({url}).status == 200);

  std::string bad_signature = url;
  char& last = bad_signature.back();
  last = last == '0' ? '1' : '0';
  CHECK(curl({bad_signature}).status == 403);

  std::string other_key = url;
  other_key.replace(other_key.find("/a?"), 3, "/b?");
  CurlResult swapped = curl({other_key});
  CHECK(swapped.status == 403);
  CHECK(swapped.body.find("secret b") == std::string::npos);

  std::string longer = url;
  longer.replace(longer.find("X-Amz-Expires=60"), 16, "X-Amz-Expires=99");
  CHECK(curl({longer}).status == 403);

  // The method is signed: a GET URL does not allow a PUT, nor a PUT URL a GET.
  TempFile body(to_bytes("overwrite"));
  CHECK(curl({"-T", body.path, url}).status == 403);
  CHECK(curl({c.presign_put(p + "a", 60s)}).status == 403);
  CHECK(c.get_object(p + "a") == to_bytes("secret a"));

  S3Config wrong = path_style_config();
  wrong.credentials.secret_access_key = "not-the-secret-key-of-this-user-000000000";
  CHECK(curl({S3Client(wrong).presign_get(p + "a", 60s)}).status == 403);

  std::string short_lived = c.presign_get(p + "a", 1s);
  REQUIRE(curl({short_lived}).status == 200);
  std::this_thread::sleep_for(2100ms);
  CHECK(curl({short_lived}).status == 403);
  delete_prefix(c, p);
}

TEST_CASE("a pull-zone URL works through a proxy that rewrites Host") {
  // A CDN forwards to the bucket with the Host the URL was signed for; curl
  // plays the CDN here: it connects to the pull zone's name (cdn.localhost,
  // resolved by curl to loopback) and sends the bucket's Host.
  S3Config config = path_style_config();
  std::string port = config.endpoint.substr(config.endpoint.rfind(':') + 1);
  config.endpoint = "http://" + env("S3_VHOST_DOMAIN") + ":" + port;
  config.path_style = false;
  config.pull_zone = "http://cdn.localhost:" + port;
  S3Client zoned(config);
  const std::string key = prefix("pullzone") + "layer";
  zoned.put_object(key, to_bytes("through the cdn"));

  std::string url = zoned.presign_get(key, 60s);
  REQUIRE(url.starts_with(config.pull_zone + "/"));
  std::string bucket_host = "Host: " + config.bucket + "." + env("S3_VHOST_DOMAIN") + ":" + port;
  CurlResult got = curl({"-H", bucket_host, url});
  CHECK(got.status == 200);
  CHECK(got.body == "through the cdn");
  CHECK(curl({"-I", "-H", bucket_host, zoned.presign_head(key, 60s)}).status == 200);
  // Without the rewrite the request is for another host: refused.
  CHECK(curl({url}).status != 200);
  zoned.delete_object(key);
}

TEST_CASE("four threads putting at once") {
  const S3Client& c = client();
  const std::string p = prefix("threads");
  constexpr int kThreads = 4, kEach = 8;
  std::atomic<int> failures{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kEach; ++i) {
          std::string key = p + std::to_string(t) + "/" + std::to_string(i);
          Bytes data = random_bytes(256 * 1024, static_cast<std::uint64_t>(t * 100 + i));
          c.put_object(key, data);
          if (c.get_object(key) != data) throw std::runtime_error("read back differs: " + key);
        }
      } catch (const std::exception& e) {
        ++failures;
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) CHECK_MESSAGE(e.empty(), e);
  CHECK(failures == 0);
  CHECK(list_keys(c, p).size() == kThreads * kEach);
  delete_prefix(c, p);
}

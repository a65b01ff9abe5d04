// storage::Uploads on the filesystem driver: the verified-upload state
// machine behind io.atcr.hold.{initiate,complete,abort}Upload.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <fstream>
#include <thread>

#include "atcr/crypto/random.h"
#include "atcr/encoding/hex.h"
#include "atcr/storage/blob_key.h"
#include "atcr/storage/filesystem_store.h"
#include "atcr/storage/uploads.h"

using namespace atcr;
using namespace atcr::storage;
namespace fs = std::filesystem;
using Kind = UploadError::Kind;

namespace {

constexpr std::string_view kAlice = "did:plc:alice";
constexpr std::string_view kBob = "did:plc:bob";

struct Fixture {
  fs::path dir = fs::temp_directory_path() / ("atcr-uploads-" + hex::encode(random_bytes(8)));
  std::unique_ptr<FilesystemStore> store;
  std::unique_ptr<Uploads> uploads;

  Fixture() {
    fs::create_directories(dir);
    store = std::make_unique<FilesystemStore>(dir / "blobs");
    reopen();
  }
  ~Fixture() {
    uploads.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void reopen() {
    uploads.reset();
    uploads = std::make_unique<Uploads>(*store, dir / "uploads.db");
  }
  std::size_t files_under(const std::string& sub) const {
    std::size_t n = 0;
    std::error_code ec;
    if (!fs::exists(dir / "blobs" / sub)) return 0;
    for (const auto& e : fs::recursive_directory_iterator(dir / "blobs" / sub, ec))
      if (e.is_regular_file()) ++n;
    return n;
  }
};

Reader reader_of(std::shared_ptr<const std::string> data) {
  auto pos = std::make_shared<std::size_t>(0);
  return [data, pos](std::span<std::uint8_t> buf) {
    std::size_t n = std::min(buf.size(), data->size() - *pos);
    std::copy_n(data->data() + *pos, n, buf.data());
    *pos += n;
    return n;
  };
}

std::string send(Uploads& u, const std::string& id, std::string_view did, int n, const std::string& data,
                 bool sized = true) {
  auto p = std::make_shared<const std::string>(data);
  return u.write_part(id, did, n, reader_of(p), sized ? std::optional<std::uint64_t>(data.size()) : std::nullopt);
}

Kind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UploadError& e) {
    return e.kind();
  }
  FAIL("no UploadError");
  return Kind::CompletionFailed;
}

std::string read_blob(const BlobStore& s, const oci::Digest& d) {
  std::string out;
  s.read(blob_key(d), std::nullopt, [&](BytesView c) {
    out += to_string(c);
    return true;
  });
  return out;
}

std::string random_text(std::size_t n) {
  Bytes b = random_bytes(n);
  return to_string(b);
}

}  // namespace

TEST_CASE("error kinds map onto the lexicon's XRPC error names") {
  CHECK(UploadError::name(Kind::InvalidUploadId) == "InvalidUploadId");
  CHECK(UploadError::name(Kind::InvalidDigest) == "InvalidDigest");
  CHECK(UploadError::name(Kind::InvalidPartNumber) == "InvalidPartNumber");
  CHECK(UploadError::name(Kind::MissingParts) == "MissingParts");
  CHECK(UploadError::name(Kind::CompletionFailed) == "CompletionFailed");
  CHECK(UploadError::name(Kind::AbortFailed) == "AbortFailed");
  CHECK(UploadError(Kind::MissingParts, "x").error_name() == "MissingParts");
}

TEST_CASE("happy path: three parts, verified, moved to the blob key") {
  Fixture f;
  std::string a = random_text(100000), b = random_text(70000), c = "tail";
  std::string whole = a + b + c;
  auto digest = oci::Digest::of(whole);
  std::string id = f.uploads->initiate(kAlice, digest.str());
  CHECK(id.size() == 24);
  CHECK(id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos);
  CHECK(f.uploads->initiate(kAlice) != id);  // random
  CHECK_FALSE(f.uploads->part_target(id, kAlice, 1));  // filesystem: bytes go through the hold

  std::string e2 = send(*f.uploads, id, kAlice, 2, b, false);
  std::string e1 = send(*f.uploads, id, kAlice, 1, a);
  std::string e3 = send(*f.uploads, id, kAlice, 3, c);
  // Parts may be listed in any order.
  CompletedBlob blob = f.uploads->complete(id, kAlice, digest.str(), {{3, e3}, {1, e1}, {2, e2}});
  CHECK(blob.digest == digest);
  CHECK(blob.size == whole.size());
  CHECK(read_blob(*f.store, digest) == whole);
  CHECK(f.files_under("_uploads") == 0);
  // The session is gone.
  CHECK(kind_of([&] { f.uploads->complete(id, kAlice, digest.str(), {{1, e1}}); }) == Kind::InvalidUploadId);
  CHECK(kind_of([&] { send(*f.uploads, id, kAlice, 4, "x"); }) == Kind::InvalidUploadId);
}

TEST_CASE("a wrong digest leaves nothing at the blob key or under _uploads") {
  Fixture f;
  std::string data = random_text(50000);
  auto claimed = oci::Digest::of("something else");
  std::string id = f.uploads->initiate(kAlice, claimed.str());
  std::string e1 = send(*f.uploads, id, kAlice, 1, data);
  CHECK(kind_of([&] { f.uploads->complete(id, kAlice, claimed.str(), {{1, e1}}); }) == Kind::InvalidDigest);
  CHECK_FALSE(f.store->stat(blob_key(claimed)));
  CHECK_FALSE(f.store->stat(blob_key(oci::Digest::of(data))));
  CHECK(f.files_under("") == 0);
  CHECK(f.uploads->count() == 0);  // the session is over
}

TEST_CASE("malformed input") {
  Fixture f;
  CHECK(kind_of([&] { f.uploads->initiate(kAlice, "sha256:xyz"); }) == Kind::InvalidDigest);
  std::string id = f.uploads->initiate(kAlice);
  std::string e1 = send(*f.uploads, id, kAlice, 1, "abc");
  for (const std::string& bad : std::vector<std::string>{"", "sha256:ABC", "md5:00", "sha256:" + std::string(64, 'g'),
                          "sha512:" + std::string(128, 'a')})
    CHECK(kind_of([&] { f.uploads->complete(id, kAlice, bad, {{1, e1}}); }) == Kind::InvalidDigest);
  auto d = oci::Digest::of("abc");
  CHECK(kind_of([&] { f.uploads->complete(id, kAlice, d.str(), {}); }) == Kind::MissingParts);
  CHECK(kind_of([&] { f.uploads->complete(id, kAlice, d.str(), {{0, e1}}); }) == Kind::InvalidPartNumber);
  CHECK(kind_of([&] { f.uploads->complete(id, kAlice, d.str(), {{10001, e1}}); }) == Kind::InvalidPartNumber);
  CHECK(kind_of([&] { f.uploads->complete(id, kAlice, d.str(), {{1, e1}, {1, e1}}); }) == Kind::InvalidPartNumber);
  CHECK(kind_of([&] { send(*f.uploads, id, kAlice, 0, "x"); }) == Kind::InvalidPartNumber);
  CHECK(kind_of([&] { send(*f.uploads, id, kAlice, 10001, "x"); }) == Kind::InvalidPartNumber);
  CHECK(kind_of([&] { f.uploads->part_target(id, kAlice, -1); }) == Kind::InvalidPartNumber);
  for (const std::string& bad_id : std::vector<std::string>{"", "nope", std::string(300, 'a'), "../../etc/passwd", std::string("a\0b", 3)}) {
    CHECK(kind_of([&] { f.uploads->part_target(bad_id, kAlice, 1); }) == Kind::InvalidUploadId);
    CHECK(kind_of([&] { f.uploads->abort(bad_id, kAlice); }) == Kind::InvalidUploadId);
  }
  // After all those refusals the upload still completes.
  CHECK(f.uploads->complete(id, kAlice, d.str(), {{1, e1}}).size == 3);
}

TEST_CASE("missing or unknown parts: MissingParts, and the upload stays open") {
  Fixture f;
  std::string a = "part one;", b = "part two";
  auto digest = oci::Digest::of(a + b);
  std::string id = f.uploads->initiate(kAlice, digest.str());
  std::string e1 = send(*f.uploads, id, kAlice, 1, a);
  CHECK(kind_of([&] { f.uploads->complete(id, kAlice, digest.str(), {{1, e1}, {2, "0123456789abcdef0123456789abcdef"}}); }) ==
        Kind::MissingParts);
  CHECK(kind_of([&] { f.uploads->complete(id, kAlice, digest.str(), {{1, "not-an-etag"}}); }) == Kind::MissingParts);
  // Send the missing part and try again.
  std::string e2 = send(*f.uploads, id, kAlice, 2, b);
  CHECK(f.uploads->complete(id, kAlice, digest.str(), {{1, e1}, {2, e2}}).digest == digest);
  CHECK(read_blob(*f.store, digest) == a + b);
}

TEST_CASE("an upload id is bound to its owner") {
  Fixture f;
  std::string id = f.uploads->initiate(kAlice);
  std::string e1 = send(*f.uploads, id, kAlice, 1, "mine");
  auto d = oci::Digest::of("mine");
  // Bob sees exactly what an unknown id gets.
  UploadError unknown(Kind::AbortFailed, "");
  try {
    f.uploads->part_target("unknown-id-xxxxxxxxxxxxx", kBob, 1);
  } catch (const UploadError& e) {
    unknown = e;
  }
  CHECK(unknown.kind() == Kind::InvalidUploadId);
  CHECK(kind_of([&] { f.uploads->part_target(id, kBob, 1); }) == Kind::InvalidUploadId);
  CHECK(kind_of([&] { send(*f.uploads, id, kBob, 2, "theirs"); }) == Kind::InvalidUploadId);
  CHECK(kind_of([&] { f.uploads->complete(id, kBob, d.str(), {{1, e1}}); }) == Kind::InvalidUploadId);
  CHECK(kind_of([&] { f.uploads->abort(id, kBob); }) == Kind::InvalidUploadId);
  // Alice's upload is unharmed.
  CHECK(f.uploads->complete(id, kAlice, d.str(), {{1, e1}}).size == 4);
}

TEST_CASE("abort discards everything") {
  Fixture f;
  std::string id = f.uploads->initiate(kAlice);
  send(*f.uploads, id, kAlice, 1, random_text(10000));
  send(*f.uploads, id, kAlice, 2, random_text(10000));
  CHECK(f.files_under("_uploads") == 2);
  f.uploads->abort(id, kAlice);
  CHECK(f.files_under("_uploads") == 0);
  CHECK(f.uploads->count() == 0);
  CHECK(kind_of([&] { f.uploads->abort(id, kAlice); }) == Kind::InvalidUploadId);
  CHECK(kind_of([&] { send(*f.uploads, id, kAlice, 3, "x"); }) == Kind::InvalidUploadId);
}

TEST_CASE("part size limit") {
  Fixture f;
  f.uploads.reset();
  f.uploads = std::make_unique<Uploads>(*f.store, f.dir / "uploads.db", UploadOptions{std::chrono::seconds(60), 100});
  std::string id = f.uploads->initiate(kAlice);
  CHECK(kind_of([&] { send(*f.uploads, id, kAlice, 1, std::string(101, 'x')); }) == Kind::PartTooLarge);
  CHECK(kind_of([&] { send(*f.uploads, id, kAlice, 1, std::string(101, 'x'), false); }) == Kind::PartTooLarge);
  CHECK_FALSE(send(*f.uploads, id, kAlice, 1, std::string(100, 'x'), false).empty());
}

TEST_CASE("expire: old sessions and crash leftovers") {
  Fixture f;
  std::string old1 = f.uploads->initiate(kAlice);
  send(*f.uploads, old1, kAlice, 1, "old data");
  std::string old2 = f.uploads->initiate(kBob);
  // Leftovers of a crash: data under _uploads/ with no session.
  f.store->write("_uploads/orphan", 3, [n = 0](std::span<std::uint8_t> b) mutable {
    if (n++ > 0) return std::size_t{0};
    b[0] = b[1] = b[2] = 'x';
    return std::size_t{3};
  });
  // A partial part a dropped connection left in the store's scratch dir.
  auto scratch = f.dir / "blobs" / ".tmp" / "partial";
  std::ofstream(scratch) << "half a part";
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  std::string fresh = f.uploads->initiate(kAlice);
  std::string ef = send(*f.uploads, fresh, kAlice, 1, "fresh data");
  // Another hold's upload in progress in a shared bucket: a stray to this
  // one, but a fresh one, so it stays.
  f.store->write("_uploads/other-hold", 1, [n = 0](std::span<std::uint8_t> b) mutable {
    if (n++ > 0) return std::size_t{0};
    b[0] = 'y';
    return std::size_t{1};
  });
  auto fresh_scratch = f.dir / "blobs" / ".tmp" / "in-flight";
  std::ofstream(fresh_scratch) << "a part being written";

  // old1, old2, the orphan, the stale scratch file: 4.
  CHECK(f.uploads->expire(std::chrono::seconds(2)) == 4);
  CHECK_FALSE(fs::exists(scratch));
  CHECK(fs::exists(fresh_scratch));
  CHECK(f.store->stat("_uploads/other-hold"));
  CHECK(f.uploads->count() == 1);
  CHECK(kind_of([&] { send(*f.uploads, old1, kAlice, 2, "x"); }) == Kind::InvalidUploadId);
  CHECK(kind_of([&] { f.uploads->abort(old2, kBob); }) == Kind::InvalidUploadId);
  CHECK_FALSE(f.store->stat("_uploads/orphan"));
  // The fresh one is untouched.
  auto d = oci::Digest::of("fresh data");
  CHECK(f.uploads->complete(fresh, kAlice, d.str(), {{1, ef}}).size == 10);
  CHECK(f.uploads->expire(std::chrono::seconds(2)) == 0);
}

TEST_CASE("a restart mid-upload: reopen on the same database and complete") {
  Fixture f;
  std::string a = random_text(30000), b = random_text(20000);
  auto digest = oci::Digest::of(a + b);
  std::string id = f.uploads->initiate(kAlice, digest.str());
  std::string e1 = send(*f.uploads, id, kAlice, 1, a);
  f.reopen();
  std::string e2 = send(*f.uploads, id, kAlice, 2, b);
  f.reopen();
  CHECK(f.uploads->count() == 1);
  CHECK(kind_of([&] { send(*f.uploads, id, kBob, 3, "x"); }) == Kind::InvalidUploadId);
  CHECK(f.uploads->complete(id, kAlice, digest.str(), {{1, e1}, {2, e2}}).size == a.size() + b.size());
  CHECK(read_blob(*f.store, digest) == a + b);
}

TEST_CASE("concurrent uploads of the same blob all succeed with a correct blob") {
  Fixture f;
  std::string a = random_text(200000), b = random_text(100000);
  auto digest = oci::Digest::of(a + b);
  constexpr int kThreads = 6;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        std::string did = "did:plc:user" + std::to_string(t);
        for (int round = 0; round < 3; ++round) {
          std::string id = f.uploads->initiate(did, digest.str());
          std::string e1 = send(*f.uploads, id, did, 1, a);
          std::string e2 = send(*f.uploads, id, did, 2, b, false);
          CompletedBlob r = f.uploads->complete(id, did, digest.str(), {{1, e1}, {2, e2}});
          if (r.digest == digest && r.size == a.size() + b.size()) ++ok;
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) CHECK(e == "");
  CHECK(ok == kThreads * 3);
  CHECK(read_blob(*f.store, digest) == a + b);
  CHECK(f.files_under("_uploads") == 0);
  CHECK(f.uploads->count() == 0);
}

// storage::FilesystemStore: key safety, ranges, atomic writes and moves,
// listing pages, multipart uploads; blob_key's layout.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "atcr/crypto/random.h"
#include "atcr/encoding/hex.h"
#include "atcr/storage/blob_key.h"
#include "atcr/storage/filesystem_store.h"

using namespace atcr;
using namespace atcr::storage;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("atcr-blob-store-" + hex::encode(random_bytes(8)));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A Reader over a string, handing out at most `chunk` bytes per call.
Reader reader_of(const std::string& data, std::size_t chunk = 7) {
  auto pos = std::make_shared<std::size_t>(0);
  return [&data, pos, chunk](std::span<std::uint8_t> buf) {
    std::size_t n = std::min({buf.size(), data.size() - *pos, chunk});
    std::copy_n(data.data() + *pos, n, buf.data());
    *pos += n;
    return n;
  };
}

void put(BlobStore& s, std::string_view key, const std::string& data) { s.write(key, data.size(), reader_of(data)); }

std::string get(const BlobStore& s, std::string_view key, std::optional<ByteRange> range = {}) {
  std::string out;
  s.read(key, range, [&](BytesView chunk) {
    out += to_string(chunk);
    return true;
  });
  return out;
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

}  // namespace

TEST_CASE("blob_key uses Distribution's layout") {
  auto d = oci::Digest::of("hello");
  CHECK(blob_key(d) == "docker/registry/v2/blobs/sha256/2c/" + std::string(d.hex()) + "/data");
  CHECK(upload_key("abc") == "_uploads/abc");
}

TEST_CASE("write, stat, read, remove") {
  TempDir dir;
  FilesystemStore s(dir.path);
  CHECK_FALSE(s.stat("a/b/c"));
  put(s, "a/b/c", "hello world");
  REQUIRE(s.stat("a/b/c"));
  CHECK(s.stat("a/b/c")->size == 11);
  CHECK(get(s, "a/b/c") == "hello world");
  CHECK(s.local_path("a/b/c") == dir.path / "a/b/c");
  // Overwrite replaces.
  put(s, "a/b/c", "bye");
  CHECK(get(s, "a/b/c") == "bye");
  // Empty objects exist.
  put(s, "empty", "");
  CHECK(s.stat("empty")->size == 0);
  CHECK(get(s, "empty").empty());

  s.remove("a/b/c");
  CHECK_FALSE(s.stat("a/b/c"));
  CHECK_FALSE(fs::exists(dir.path / "a"));  // empty parents pruned
  s.remove("a/b/c");                        // absent is fine
  CHECK_THROWS_AS(get(s, "a/b/c"), NotFound);
  CHECK_THROWS_AS(get(s, "a"), NotFound);  // a directory is not a key

  struct stat st {};
  put(s, "mode/x", "x");
  REQUIRE(::stat((dir.path / "mode/x").c_str(), &st) == 0);
  mode_t um = ::umask(0);
  ::umask(um);
  CHECK((st.st_mode & 0777) == (0644 & ~um));
}

TEST_CASE("path tricks are refused") {
  TempDir dir;
  FilesystemStore s(dir.path / "root");
  for (const std::string& bad : std::vector<std::string>{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", ".hidden", "a/.tmp/x",
                          "..", ".", "a\\b", std::string("a\0b", 3), "a\nb", std::string(1025, 'a')}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(s.stat(bad), InvalidKey);
    CHECK_THROWS_AS(put(s, bad, "x"), InvalidKey);
    CHECK_THROWS_AS(s.remove(bad), InvalidKey);
  }
  CHECK_THROWS_AS(s.list("../"), InvalidKey);
  CHECK_THROWS_AS(s.move("ok", "../escape"), InvalidKey);
  // A symlink inside the root pointing out of it is not followed.
  fs::create_directories(dir.path / "outside");
  fs::create_directory_symlink(dir.path / "outside", dir.path / "root" / "link");
  CHECK_THROWS_AS(put(s, "link/x", "x"), InvalidKey);
  CHECK_FALSE(fs::exists(dir.path / "outside" / "x"));
  // Nothing leaked into the tree.
  CHECK(count_files(dir.path) == 0);
}

TEST_CASE("ranges") {
  TempDir dir;
  FilesystemStore s(dir.path);
  std::string data = "0123456789";
  put(s, "k", data);
  CHECK(get(s, "k", ByteRange{0, 1}) == "0");
  CHECK(get(s, "k", ByteRange{3, 4}) == "3456");
  CHECK(get(s, "k", ByteRange{7, std::nullopt}) == "789");
  CHECK(get(s, "k", ByteRange{8, 100}) == "89");  // clipped
  CHECK(get(s, "k", ByteRange{9, 1}) == "9");
  CHECK_THROWS_AS(get(s, "k", ByteRange{10, std::nullopt}), RangeError);
  CHECK_THROWS_AS(get(s, "k", ByteRange{2, 0}), RangeError);
  // read() reports the whole size, even for a range.
  CHECK(s.read("k", ByteRange{3, 2}, [](BytesView) { return true; }).size == 10);
  // A sink that says stop aborts.
  CHECK_THROWS_AS(s.read("k", {}, [](BytesView) { return false; }), BackendError);
}

TEST_CASE("short bodies and failing readers leave nothing behind") {
  TempDir dir;
  FilesystemStore s(dir.path);
  std::string data = "abc";
  CHECK_THROWS_AS(s.write("k", 10, reader_of(data)), ParseError);
  CHECK_FALSE(s.stat("k"));
  CHECK_THROWS_WITH_AS(s.write("k", 10, [](std::span<std::uint8_t>) -> std::size_t { throw Error("client went away"); }),
                       "client went away", Error);
  CHECK_FALSE(s.stat("k"));
  CHECK(count_files(dir.path) == 0);  // no temp files either
}

TEST_CASE("move replaces atomically; readers never see a partial object") {
  TempDir dir;
  FilesystemStore s(dir.path);
  CHECK_THROWS_AS(s.move("nope", "x"), NotFound);
  put(s, "from", "new content");
  put(s, "to/obj", "old content");
  s.move("from", "to/obj");
  CHECK_FALSE(s.stat("from"));
  CHECK(get(s, "to/obj") == "new content");

  // A reader racing writers and moves only ever sees whole versions.
  const std::string a(300000, 'a'), b(200000, 'b');
  put(s, "target", a);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      std::string got = get(s, "target");
      if (got != a && got != b) ++bad;
      ++reads;
    }
  });
  for (int i = 0; i < 50; ++i) {
    put(s, "staging", i % 2 ? a : b);
    s.move("staging", "target");
    put(s, "target", i % 2 ? b : a);
  }
  stop = true;
  reader.join();
  CHECK(bad == 0);
  CHECK(reads > 0);
}

TEST_CASE("deferred name sync: a moved object is there at once, sync_names waits for its directory") {
  TempDir dir;
  {
    FilesystemStore inline_store(dir.path / "inline");
    put(inline_store, "from", "x");
    inline_store.move("from", "a/obj");
    inline_store.sync_names();  // a no-op: move() synced the name itself
    CHECK(get(inline_store, "a/obj") == "x");
  }
  FilesystemStore s(dir.path / "deferred", FilesystemStore::NameSync::kDeferred);
  s.sync_names();  // nothing queued
  // Many moves from several threads, each object readable as soon as its
  // move returns; one sync_names covers every one before it.
  std::vector<std::thread> movers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    movers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string from = "staging-" + std::to_string(t) + "-" + std::to_string(i);
        std::string to = "blobs/" + std::to_string(t) + "/" + std::to_string(i) + "/data";
        put(s, from, to);
        s.move(from, to);
        if (get(s, to) != to) ++bad;
      }
    });
  }
  for (auto& m : movers) m.join();
  s.sync_names();
  CHECK(bad == 0);
  CHECK(count_files(dir.path / "deferred" / "blobs") == 100);
  // An object deleted (its directory pruned) before its sync is not an error.
  put(s, "from", "y");
  s.move("from", "gone/soon/data");
  s.remove("gone/soon/data");
  CHECK_NOTHROW(s.sync_names());
  // Destroyed with syncs queued: the syncer finishes them and stops.
  for (int i = 0; i < 10; ++i) {
    put(s, "from", "z");
    s.move("from", "late/" + std::to_string(i) + "/data");
  }
}

TEST_CASE("list: prefixes and pages") {
  TempDir dir;
  FilesystemStore s(dir.path);
  std::vector<std::string> keys;
  for (int i = 0; i < 25; ++i) keys.push_back("p/" + std::to_string(100 + i) + "/data");
  for (const auto& k : keys) put(s, k, k);
  put(s, "q/other", "x");
  put(s, "pz", "x");

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    ListPage page = s.list("p/", token, 10);
    for (const auto& k : page.keys) {
      seen.push_back(k.key);
      CHECK(k.size == k.key.size());
    }
    token = page.continuation;
    ++pages;
  } while (!token.empty());
  CHECK(pages == 3);
  CHECK(seen == keys);  // sorted, complete, no duplicates

  CHECK(s.list("p").keys.size() == 26);  // a partial segment matches "pz" too
  CHECK(s.list("p/10").keys.size() == 10);
  CHECK(s.list("nothing/").keys.empty());
  CHECK(s.list("").keys.size() == 27);
  CHECK_THROWS(s.list("", "", 0));
}

TEST_CASE("multipart: parts in order, ETags checked, hash while assembling") {
  TempDir dir;
  FilesystemStore s(dir.path);
  std::string id = s.begin("_uploads/u1");
  std::string p1 = "first part-", p2 = "second part-", p3 = "third";
  std::string e3 = s.write_part("_uploads/u1", id, 3, p3.size(), reader_of(p3));
  std::string e1 = s.write_part("_uploads/u1", id, 1, std::nullopt, reader_of(p1));  // unknown size
  std::string e2 = s.write_part("_uploads/u1", id, 2, p2.size(), reader_of(p2));
  // Re-uploading a part replaces it.
  std::string e2b = s.write_part("_uploads/u1", id, 2, std::nullopt, reader_of("SECOND part-"));
  CHECK(e2 != e2b);
  CHECK(e1 == hex::encode(sha256(as_bytes(p1))));  // the part's whole sha256

  CHECK_THROWS_AS(s.finish("_uploads/u1", id, {{1, e1}, {2, e2}, {3, e3}}), InvalidPart);  // old ETag of 2
  CHECK_THROWS_AS(s.finish("_uploads/u1", id, {{1, e1}, {2, e2b}, {4, e3}}), InvalidPart);  // never uploaded
  CHECK_THROWS_AS(s.finish("_uploads/u1", id, {{2, e2b}, {1, e1}}), InvalidPart);           // not ascending
  CHECK_THROWS_AS(s.finish("_uploads/u1", id, {{1, "../../etc"}}), InvalidPart);
  CHECK_THROWS_AS(s.finish("_uploads/u1", id, {}), InvalidPart);
  CHECK_THROWS_AS(s.write_part("_uploads/u1", id, 0, 1, reader_of("x")), InvalidPart);
  CHECK_THROWS_AS(s.write_part("_uploads/u1", id, 10001, 1, reader_of("x")), InvalidPart);

  FinishResult r = s.finish("_uploads/u1", id, {{1, "\"" + e1 + "\""}, {2, e2b}, {3, e3}});
  std::string whole = p1 + "SECOND part-" + p3;
  CHECK(get(s, "_uploads/u1") == whole);
  CHECK(r.size == whole.size());
  REQUIRE(r.sha256);
  CHECK(*r.sha256 == sha256(as_bytes(whole)));
  // The upload is over.
  CHECK_THROWS_AS(s.write_part("_uploads/u1", id, 1, 1, reader_of("x")), NotFound);
  CHECK_THROWS_AS(s.finish("_uploads/u1", id, {{1, e1}}), NotFound);
  CHECK_THROWS_AS(s.write_part("_uploads/u1", "../../x", 1, 1, reader_of("x")), NotFound);

  std::string id2 = s.begin("_uploads/u2");
  s.write_part("_uploads/u2", id2, 1, 1, reader_of("x"));
  s.abort("_uploads/u2", id2);
  CHECK_THROWS_AS(s.write_part("_uploads/u2", id2, 1, 1, reader_of("x")), NotFound);
  s.abort("_uploads/u2", id2);  // again: fine
  CHECK(s.list("_uploads/").keys.size() == 1);  // only the assembled u1
  CHECK_FALSE(s.presign_part("_uploads/u2", id2, 1, std::chrono::seconds(60)));
  CHECK_FALSE(s.presign_get("_uploads/u1", std::chrono::seconds(60)));
}

TEST_CASE("multipart: a one-part upload is renamed into place, its hash known from the ETag") {
  TempDir dir;
  FilesystemStore s(dir.path);
  std::string id = s.begin("_uploads/one");
  std::string data(300000, 'z');
  std::string etag = s.write_part("_uploads/one", id, 1, std::nullopt, reader_of(data));
  CHECK_THROWS_AS(s.finish("_uploads/one", id, {{1, std::string(64, '0')}}), InvalidPart);  // wrong ETag
  FinishResult r = s.finish("_uploads/one", id, {{1, etag}});
  CHECK(r.size == data.size());
  REQUIRE(r.sha256);
  CHECK(*r.sha256 == sha256(as_bytes(data)));
  CHECK(get(s, "_uploads/one") == data);
  CHECK_THROWS_AS(s.finish("_uploads/one", id, {{1, etag}}), NotFound);  // over
}

TEST_CASE("Blobs addresses by digest") {
  TempDir dir;
  FilesystemStore s(dir.path);
  Blobs blobs(s);
  auto d = oci::Digest::of("content");
  CHECK_FALSE(blobs.stat(d));
  put(s, blob_key(d), "content");
  CHECK(blobs.stat(d)->size == 7);
  std::string out;
  blobs.read(d, ByteRange{1, 3}, [&](BytesView c) {
    out += to_string(c);
    return true;
  });
  CHECK(out == "ont");
  CHECK(blobs.local_path(d) == dir.path / blob_key(d));
  CHECK_FALSE(blobs.presign_get(d));
  blobs.remove(d);
  CHECK_FALSE(blobs.stat(d));
}

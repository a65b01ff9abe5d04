#include "atcr/storage/filesystem_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <fmt/format.h>

#include "atcr/crypto/random.h"
#include "atcr/encoding/hex.h"
#include "storage/keys.h"

namespace fs = std::filesystem;

namespace atcr::storage {

namespace {

constexpr std::size_t kChunk = 1 << 20;
// How much a temp file may hold unwritten before writeback is started.
constexpr std::uint64_t kWritebackChunk = 8 << 20;
constexpr std::string_view kTmpDir = ".tmp";
constexpr auto kStaleTemp = std::chrono::hours(1);
// A part's ETag is the sha256 of its bytes, all of it: finish() of a
// one-part upload then knows the blob's hash without reading it again.
constexpr std::size_t kEtagHex = 64;

[[noreturn]] void fail_errno(std::string_view what, const fs::path& path, int err) {
  std::string message = fmt::format("storage: {} {}: {}", what, path.string(), std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) throw StorageFull(message);
  throw BackendError(message);
}

// An open file descriptor, closed on scope exit.
class Fd {
 public:
  Fd(const fs::path& path, int flags, mode_t mode = 0644) : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // Closes and reports the error a delayed write may surface only here.
  void close_checked(const fs::path& path) {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_errno("close", path, errno);
  }

 private:
  int fd_;
};

void write_all(int fd, const std::uint8_t* data, std::size_t n, const fs::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_errno("write", path, errno);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

void fsync_path(const fs::path& path, int flags) {
  Fd fd(path, flags);
  if (!fd.ok()) fail_errno("open for fsync", path, errno);
  if (::fsync(fd.get()) != 0) fail_errno("fsync", path, errno);
}

// A temp file under root/.tmp, unlinked on scope exit unless committed
// (renamed into place).
class TempFile {
 public:
  explicit TempFile(const fs::path& root)
      : path_(root / kTmpDir / hex::encode(random_bytes(16))), fd_(path_, O_WRONLY | O_CREAT | O_EXCL) {
    if (!fd_.ok()) fail_errno("create temp file", path_, errno);
  }
  ~TempFile() {
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const std::uint8_t* data, std::size_t n) {
    write_all(fd_.get(), data, n, path_);
    written_ += n;
    if (written_ - queued_ >= kWritebackChunk) start_writeback();
  }

  // How durable commit() makes the name.
  enum class Name {
    kDurable,  // the directory is synced too: the object survives a crash
    // Left to whoever renames it next (a part, an assembled upload: both
    // move on before anything relies on them; their content is synced, so
    // a crash loses the name at worst, never the bytes behind it).
    kScratch,
  };

  // fsync, close, and rename over `dest` (creating its directory).
  void commit(const fs::path& dest, Name name = Name::kDurable) {
    if (::fsync(fd_.get()) != 0) fail_errno("fsync", path_, errno);
    fd_.close_checked(path_);
    // Another thread pruning empty directories may remove dest's parent
    // between creating it and renaming into it: retry a few times.
    for (int attempt = 0;; ++attempt) {
      std::error_code ec;
      fs::create_directories(dest.parent_path(), ec);
      if (ec) throw BackendError(fmt::format("storage: mkdir {}: {}", dest.parent_path().string(), ec.message()));
      if (::rename(path_.c_str(), dest.c_str()) == 0) break;
      if (errno != ENOENT || attempt >= 3) fail_errno("rename into", dest, errno);
    }
    committed_ = true;
    if (name == Name::kDurable) fsync_path(dest.parent_path(), O_RDONLY | O_DIRECTORY);
  }

 private:
  // Hands what was written so far to the disk without waiting for it, so
  // the fsync in commit() waits only for the tail instead of stalling the
  // request on the whole file (which the kernel would otherwise hold back
  // in the page cache until then). Advisory: failures surface at fsync.
  void start_writeback() {
#ifdef __linux__
    ::sync_file_range(fd_.get(), static_cast<off_t>(queued_), static_cast<off_t>(written_ - queued_),
                      SYNC_FILE_RANGE_WRITE);
#endif
    queued_ = written_;
  }

  fs::path path_;
  Fd fd_;
  std::uint64_t written_ = 0;
  std::uint64_t queued_ = 0;  // bytes already handed to writeback
  bool committed_ = false;
};

// Copies `read` into `out`: exactly `size` bytes if given, else until the
// reader returns 0. Returns the byte count.
template <typename OnChunk>
std::uint64_t pump(const Reader& read, std::optional<std::uint64_t> size, OnChunk&& on_chunk) {
  std::vector<std::uint8_t> buffer(kChunk);
  std::uint64_t total = 0;
  for (;;) {
    std::size_t want = buffer.size();
    if (size) {
      if (total == *size) break;
      want = static_cast<std::size_t>(std::min<std::uint64_t>(want, *size - total));
    }
    std::size_t got = read(std::span<std::uint8_t>(buffer.data(), want));
    if (got > want) throw Error(fmt::format("storage: reader returned {} bytes for a {}-byte buffer", got, want));
    if (got == 0) {
      if (size) throw ParseError(fmt::format("storage: body ended after {} of {} bytes", total, *size));
      break;
    }
    on_chunk(buffer.data(), got);
    total += got;
  }
  return total;
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Upload ids this driver makes: 32 lowercase hex digits.
bool valid_upload_id(std::string_view id) { return id.size() == 32 && is_hex(id); }

void check_part_number(int n) {
  if (n < 1 || n > kMaxPartNumber)
    throw InvalidPart(fmt::format("storage: part number {} is not in 1..{}", n, kMaxPartNumber));
}

// Removes now-empty directories from `dir` up to (not including) `root`.
void prune_empty_dirs(fs::path dir, const fs::path& root) {
  while (dir != root && dir.string().size() > root.string().size()) {
    if (::rmdir(dir.c_str()) != 0) return;  // not empty (or gone): stop
    dir = dir.parent_path();
  }
}

std::size_t sweep_stale_temp(const fs::path& tmp, std::chrono::seconds max_age) {
  auto cutoff = fs::file_time_type::clock::now() - max_age;
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(tmp, ec)) {
    std::error_code ec2;
    if (entry.last_write_time(ec2) < cutoff && !ec2 && fs::remove(entry.path(), ec2)) ++removed;
  }
  return removed;
}

}  // namespace

// The background directory fsyncs of NameSync::kDeferred: move() queues
// the directory it renamed into, one thread syncs every queued directory
// (a batch: after the first, the journal is usually committed already),
// and wait() returns once everything queued before it is synced.
class FilesystemStore::DirSyncer {
 public:
  DirSyncer() : worker_([this] { run(); }) {}
  ~DirSyncer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }
  DirSyncer(const DirSyncer&) = delete;
  DirSyncer& operator=(const DirSyncer&) = delete;

  void queue(fs::path dir) {
    {
      std::lock_guard lock(mu_);
      pending_.insert(std::move(dir));
      ++queued_;
    }
    wake_.notify_one();
  }

  void wait() {
    std::unique_lock lock(mu_);
    const std::uint64_t target = queued_;
    synced_cv_.wait(lock, [&] { return synced_ >= target; });
    if (!error_.empty()) {
      std::string error = std::move(error_);
      error_.clear();
      throw BackendError(error);
    }
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, nothing left
      std::set<fs::path> batch = std::move(pending_);
      pending_.clear();
      const std::uint64_t upto = queued_;
      lock.unlock();
      std::string error;
      for (const fs::path& dir : batch) {
        try {
          fsync_path(dir, O_RDONLY | O_DIRECTORY);
        } catch (const StorageError& e) {
          // Gone meanwhile (its object deleted, the directory pruned):
          // nothing left to make durable.
          if (fs::exists(dir) && error.empty()) error = e.what();
        }
      }
      lock.lock();
      if (!error.empty() && error_.empty()) error_ = std::move(error);
      synced_ = upto;
      synced_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, synced_cv_;
  std::set<fs::path> pending_;
  std::uint64_t queued_ = 0, synced_ = 0;
  std::string error_;  // the first failed sync since wait() last reported one
  bool stop_ = false;
  std::thread worker_;  // last: started once the rest exists
};

FilesystemStore::FilesystemStore(fs::path root, NameSync name_sync) {
  if (name_sync == NameSync::kDeferred) dir_syncer_ = std::make_unique<DirSyncer>();
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw BackendError(fmt::format("storage: cannot create root {}: {}", root.string(), ec.message()));
  root_ = fs::canonical(root, ec);
  if (ec) throw BackendError(fmt::format("storage: cannot resolve root {}: {}", root.string(), ec.message()));
  fs::create_directories(root_ / kTmpDir, ec);
  if (ec) throw BackendError(fmt::format("storage: cannot create {}: {}", (root_ / kTmpDir).string(), ec.message()));
  sweep_stale_temp(root_ / kTmpDir, kStaleTemp);
}

FilesystemStore::~FilesystemStore() = default;

void FilesystemStore::sync_names() {
  if (dir_syncer_) dir_syncer_->wait();
}

std::size_t FilesystemStore::sweep_scratch(std::chrono::seconds max_age) {
  return sweep_stale_temp(root_ / kTmpDir, max_age);
}

fs::path FilesystemStore::path_of(std::string_view key) const {
  detail::check_key(key);
  fs::path p = root_ / fs::path(std::string(key));
  // The key's syntax rules out "..", but a symlink planted inside the root
  // could still lead out of it.
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(p, ec);
  if (ec) throw BackendError(fmt::format("storage: cannot resolve {}: {}", p.string(), ec.message()));
  auto [r, k] = std::mismatch(root_.begin(), root_.end(), resolved.begin(), resolved.end());
  if (r != root_.end()) throw InvalidKey(fmt::format("storage: key '{}' resolves outside the store", key));
  return p;
}

fs::path FilesystemStore::parts_dir(std::string_view upload_id) const {
  return root_ / "_uploads" / std::string(upload_id);
}

std::optional<ObjectStat> FilesystemStore::stat(std::string_view key) const {
  fs::path p = path_of(key);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    fail_errno("stat", p, errno);
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  return ObjectStat{static_cast<std::uint64_t>(st.st_size)};
}

ObjectStat FilesystemStore::read(std::string_view key, std::optional<ByteRange> range, const Sink& sink) const {
  fs::path p = path_of(key);
  Fd fd(p, O_RDONLY);
  if (!fd.ok()) {
    if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR) throw NotFound(fmt::format("storage: no key '{}'", key));
    fail_errno("open", p, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail_errno("stat", p, errno);
  if (!S_ISREG(st.st_mode)) throw NotFound(fmt::format("storage: no key '{}'", key));
  auto size = static_cast<std::uint64_t>(st.st_size);

  std::uint64_t offset = 0, end = size;
  if (range) {
    if (range->offset >= size || (range->length && *range->length == 0))
      throw RangeError(fmt::format("storage: range {}+{} does not start inside '{}' ({} bytes)", range->offset,
                                   range->length ? std::to_string(*range->length) : "*", key, size));
    offset = range->offset;
    if (range->length) end = std::min(size, offset + *range->length);
  }
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, end - offset)));
  while (offset < end) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), end - offset));
    ssize_t n = ::pread(fd.get(), buffer.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("read", p, errno);
    }
    if (n == 0) throw BackendError(fmt::format("storage: {} shrank while being read", p.string()));
    if (!sink(BytesView(buffer.data(), static_cast<std::size_t>(n))))
      throw BackendError(fmt::format("storage: reading '{}': aborted by the receiver", key));
    offset += static_cast<std::uint64_t>(n);
  }
  return ObjectStat{size};
}

void FilesystemStore::write(std::string_view key, std::uint64_t size, const Reader& read) {
  fs::path dest = path_of(key);
  TempFile tmp(root_);
  pump(read, size, [&](const std::uint8_t* d, std::size_t n) { tmp.write(d, n); });
  tmp.commit(dest);
}

void FilesystemStore::remove(std::string_view key) {
  fs::path p = path_of(key);
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return;
    fail_errno("unlink", p, errno);
  }
  prune_empty_dirs(p.parent_path(), root_);
}

void FilesystemStore::move(std::string_view from, std::string_view to) {
  fs::path src = path_of(from), dest = path_of(to);
  if (src == dest) throw InvalidKey(fmt::format("storage: moving '{}' onto itself", from));
  for (int attempt = 0;; ++attempt) {
    std::error_code ec;
    fs::create_directories(dest.parent_path(), ec);
    if (ec) throw BackendError(fmt::format("storage: mkdir {}: {}", dest.parent_path().string(), ec.message()));
    // rename(2) replaces the destination atomically.
    if (::rename(src.c_str(), dest.c_str()) == 0) break;
    int err = errno;
    if (err == ENOENT && !fs::exists(src)) throw NotFound(fmt::format("storage: no key '{}' to move", from));
    if (err != ENOENT || attempt >= 3) fail_errno("rename to " + dest.string() + " from", src, err);
  }
  if (dir_syncer_) {
    dir_syncer_->queue(dest.parent_path());
  } else {
    fsync_path(dest.parent_path(), O_RDONLY | O_DIRECTORY);
  }
  prune_empty_dirs(src.parent_path(), root_);
}

ListPage FilesystemStore::list(std::string_view prefix, std::string_view continuation, int max_keys) const {
  detail::check_prefix(prefix);
  if (max_keys < 1 || max_keys > 1000) throw Error(fmt::format("storage: max_keys {} is not in 1..1000", max_keys));
  // Walk only the directory the prefix's complete segments name.
  std::string_view dir_part = prefix.substr(0, prefix.rfind('/') == std::string_view::npos ? 0 : prefix.rfind('/'));
  fs::path start = dir_part.empty() ? root_ : root_ / std::string(dir_part);
  std::vector<ListedKey> keys;
  std::error_code ec;
  if (!fs::is_directory(start, ec)) return {};
  fs::recursive_directory_iterator it(start, ec), end;
  if (ec) throw BackendError(fmt::format("storage: list {}: {}", start.string(), ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) throw BackendError(fmt::format("storage: list {}: {}", start.string(), ec.message()));
    std::string name = it->path().filename().string();
    if (!name.empty() && name.front() == '.') {  // .tmp and anything no key can name
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    std::string key = it->path().lexically_relative(root_).generic_string();
    if (key.compare(0, prefix.size(), prefix) != 0 || key <= continuation) continue;
    ListedKey listed{std::move(key), static_cast<std::uint64_t>(it->file_size(ec)), std::nullopt};
    if (auto mtime = it->last_write_time(ec); !ec)
      listed.modified = std::chrono::time_point_cast<std::chrono::system_clock::duration>(
          std::chrono::file_clock::to_sys(mtime));
    keys.push_back(std::move(listed));
  }
  std::sort(keys.begin(), keys.end(), [](const ListedKey& a, const ListedKey& b) { return a.key < b.key; });
  ListPage page;
  if (keys.size() > static_cast<std::size_t>(max_keys)) {
    keys.resize(static_cast<std::size_t>(max_keys));
    page.continuation = keys.back().key;
  }
  page.keys = std::move(keys);
  return page;
}

std::string FilesystemStore::begin(std::string_view key) {
  path_of(key);  // validate now rather than at finish()
  std::string id = hex::encode(random_bytes(16));
  std::error_code ec;
  fs::create_directories(parts_dir(id), ec);
  if (ec) throw BackendError(fmt::format("storage: mkdir {}: {}", parts_dir(id).string(), ec.message()));
  return id;
}

std::string FilesystemStore::write_part(std::string_view key, std::string_view upload_id, int part_number,
                                        std::optional<std::uint64_t> size, const Reader& read) {
  path_of(key);
  check_part_number(part_number);
  fs::path dir = parts_dir(upload_id);
  if (!valid_upload_id(upload_id) || !fs::is_directory(dir))
    throw NotFound(fmt::format("storage: no multipart upload '{}'", upload_id));
  TempFile tmp(root_);
  Sha256 hash;
  pump(read, size, [&](const std::uint8_t* d, std::size_t n) {
    hash.update(BytesView(d, n));
    tmp.write(d, n);
  });
  std::string etag = hex::encode(hash.finish());
  // Replace earlier uploads of this part number before publishing ours.
  std::string stem = std::to_string(part_number) + ".";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.compare(0, stem.size(), stem) == 0 && name != stem + etag) fs::remove(entry.path(), ec);
  }
  tmp.commit(dir / (stem + etag), TempFile::Name::kScratch);
  return etag;
}

FinishResult FilesystemStore::finish(std::string_view key, std::string_view upload_id,
                                     const std::vector<UploadedPart>& parts) {
  fs::path dest = path_of(key);
  fs::path dir = parts_dir(upload_id);
  if (!valid_upload_id(upload_id) || !fs::is_directory(dir))
    throw NotFound(fmt::format("storage: no multipart upload '{}'", upload_id));
  if (parts.empty()) throw InvalidPart("storage: completing an upload with no parts");
  if (parts.size() == 1) return finish_single(dest, dir, parts.front());
  TempFile tmp(root_);
  Sha256 hash;
  std::uint64_t total = 0;
  std::vector<std::uint8_t> buffer(kChunk);
  int previous = 0;
  for (const auto& part : parts) {
    check_part_number(part.part_number);
    if (part.part_number <= previous)
      throw InvalidPart(fmt::format("storage: part {} listed after part {}: parts must ascend", part.part_number,
                                    previous));
    previous = part.part_number;
    std::string_view etag = detail::unquote(part.etag);
    if (etag.size() != kEtagHex || !is_hex(etag))
      throw InvalidPart(fmt::format("storage: part {}: ETag '{}' is not one this store issued", part.part_number,
                                    part.etag));
    fs::path part_path = dir / fmt::format("{}.{}", part.part_number, etag);
    Fd in(part_path, O_RDONLY);
    if (!in.ok()) {
      if (errno == ENOENT)
        throw InvalidPart(fmt::format("storage: part {} with ETag {} was not uploaded", part.part_number, etag));
      fail_errno("open", part_path, errno);
    }
    for (;;) {
      ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno("read", part_path, errno);
      }
      if (n == 0) break;
      hash.update(BytesView(buffer.data(), static_cast<std::size_t>(n)));
      tmp.write(buffer.data(), static_cast<std::size_t>(n));
      total += static_cast<std::uint64_t>(n);
    }
  }
  tmp.commit(dest, TempFile::Name::kScratch);
  std::error_code ec;
  fs::remove_all(dir, ec);  // the upload is over either way; leftovers are swept by Uploads::expire
  return FinishResult{total, hash.finish()};
}

// One part is the whole blob: rename it into place instead of copying
// (the common case: a client streams a blob in one request). Its ETag is
// its sha256, computed as it was written.
FinishResult FilesystemStore::finish_single(const fs::path& dest, const fs::path& dir, const UploadedPart& part) {
  check_part_number(part.part_number);
  std::string_view etag = detail::unquote(part.etag);
  if (etag.size() != kEtagHex || !is_hex(etag))
    throw InvalidPart(fmt::format("storage: part {}: ETag '{}' is not one this store issued", part.part_number,
                                  part.etag));
  fs::path part_path = dir / fmt::format("{}.{}", part.part_number, etag);
  std::error_code ec;
  std::uint64_t size = fs::file_size(part_path, ec);
  if (ec) throw InvalidPart(fmt::format("storage: part {} with ETag {} was not uploaded", part.part_number, etag));
  fs::create_directories(dest.parent_path());
  // (Its bytes were synced when the part was written; the name is made
  // durable by the move() that publishes the blob.)
  if (::rename(part_path.c_str(), dest.c_str()) != 0) fail_errno("rename", part_path, errno);
  fs::remove_all(dir, ec);
  Sha256Digest sha{};
  Bytes raw = hex::decode(etag);
  std::copy(raw.begin(), raw.end(), sha.begin());
  return FinishResult{size, sha};
}

void FilesystemStore::abort(std::string_view key, std::string_view upload_id) {
  path_of(key);
  if (!valid_upload_id(upload_id)) return;
  std::error_code ec;
  fs::remove_all(parts_dir(upload_id), ec);
  if (ec) throw BackendError(fmt::format("storage: remove {}: {}", parts_dir(upload_id).string(), ec.message()));
}

std::optional<fs::path> FilesystemStore::local_path(std::string_view key) const { return path_of(key); }

}  // namespace atcr::storage

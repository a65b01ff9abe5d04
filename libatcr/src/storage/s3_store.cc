#include "atcr/storage/s3_store.h"

#include <fmt/format.h>

#include <cstdio>
#include <vector>

#include "atcr/data/datetime.h"
#include "storage/keys.h"

namespace atcr::storage {

namespace {

constexpr std::size_t kSpoolChunk = 1 << 20;

// Runs an S3 call and turns its failures into storage errors, so callers
// see one error model whatever the driver.
template <typename F>
auto mapped(std::string_view op, std::string_view key, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const s3::S3Error& e) {
    if (e.status() == 404) throw NotFound(fmt::format("storage: {} '{}': {}", op, key, e.what()));
    if (e.status() == 416) throw RangeError(fmt::format("storage: {} '{}': {}", op, key, e.what()));
    if (e.code() == "InvalidPart" || e.code() == "InvalidPartOrder")
      throw InvalidPart(fmt::format("storage: {} '{}': {}", op, key, e.what()));
    throw BackendError(fmt::format("storage: {} '{}': {}", op, key, e.what()));
  } catch (const net::HttpError& e) {
    throw BackendError(fmt::format("storage: {} '{}': {}", op, key, e.what()));
  }
}

// A part of unknown size: S3 needs its Content-Length before the first
// byte, so it waits in an anonymous temp file (removed when closed).
class Spool {
 public:
  Spool() : file_(std::tmpfile()) {
    if (file_ == nullptr) throw BackendError("storage: cannot create a temp file to spool a part");
  }
  ~Spool() { std::fclose(file_); }
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  std::uint64_t fill(const Reader& read, std::uint64_t limit) {
    std::vector<std::uint8_t> buffer(kSpoolChunk);
    std::uint64_t total = 0;
    for (;;) {
      std::size_t n = read(buffer);
      if (n == 0) break;
      total += n;
      if (total > limit) throw ParseError(fmt::format("storage: part of unknown size is over {} bytes", limit));
      if (std::fwrite(buffer.data(), 1, n, file_) != n) throw BackendError("storage: writing the part spool failed");
    }
    if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0)
      throw BackendError("storage: rewinding the part spool failed");
    return total;
  }

  std::size_t read(std::span<std::uint8_t> buffer) {
    std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file_);
    if (n == 0 && std::ferror(file_)) throw BackendError("storage: reading the part spool failed");
    return n;
  }

 private:
  std::FILE* file_;
};

}  // namespace

S3Store::S3Store(s3::S3Config config, S3StoreOptions options)
    : S3Store(std::make_shared<const s3::S3Client>(std::move(config)), options) {}

S3Store::S3Store(std::shared_ptr<const s3::S3Client> client, S3StoreOptions options)
    : client_(std::move(client)), options_(options) {
  if (!client_) throw Error("storage: S3Store without a client");
  detail::check_prefix(options_.root);
  if (!options_.root.empty() && options_.root.back() != '/')
    throw InvalidKey(fmt::format("storage: S3 root '{}' must end with '/'", options_.root));
}

std::string S3Store::full(std::string_view key, std::string_view what) const {
  detail::check_key(key, what);
  return options_.root + std::string(key);
}

std::optional<ObjectStat> S3Store::stat(std::string_view key) const {
  const std::string k = full(key);
  auto info = mapped("stat", key, [&] { return client_->head_object(k); });
  if (!info) return std::nullopt;
  return ObjectStat{info->size};
}

ObjectStat S3Store::read(std::string_view key, std::optional<ByteRange> range, const Sink& sink) const {
  const std::string k = full(key);
  std::optional<s3::ByteRange> r;
  if (range) {
    if (range->length && *range->length == 0) throw RangeError(fmt::format("storage: empty range of '{}'", key));
    r = s3::ByteRange{range->offset, range->length};
  }
  auto info = mapped("read", key, [&] { return client_->get_object_stream(k, sink, r); });
  return ObjectStat{info.size};
}

void S3Store::write(std::string_view key, std::uint64_t size, const Reader& read) {
  const std::string k = full(key);
  mapped("write", key, [&] { return client_->put_object_stream(k, size, read); });
}

void S3Store::remove(std::string_view key) {
  const std::string k = full(key);
  mapped("remove", key, [&] {
    client_->delete_object(k);
    return 0;
  });
}

void S3Store::move(std::string_view from, std::string_view to) {
  std::string src = full(from, "source key"), dest = full(to, "destination key");
  if (src == dest) throw InvalidKey(fmt::format("storage: moving '{}' onto itself", from));
  mapped("move", from, [&] {
    client_->move_object(src, dest);
    return 0;
  });
}

ListPage S3Store::list(std::string_view prefix, std::string_view continuation, int max_keys) const {
  detail::check_prefix(prefix);
  s3::ListOptions o;
  o.prefix = options_.root + std::string(prefix);
  o.continuation_token = std::string(continuation);
  o.max_keys = max_keys;
  auto result = mapped("list", prefix, [&] { return client_->list_objects(o); });
  ListPage page;
  for (auto& obj : result.objects)
    page.keys.push_back({obj.key.substr(options_.root.size()), obj.size, parse_datetime(obj.last_modified)});
  if (result.truncated) page.continuation = result.next_continuation_token;
  return page;
}

std::string S3Store::begin(std::string_view key) {
  const std::string k = full(key);
  return mapped("begin upload", key, [&] { return client_->create_multipart_upload(k); });
}

std::string S3Store::write_part(std::string_view key, std::string_view upload_id, int part_number,
                                std::optional<std::uint64_t> size, const Reader& read) {
  const std::string k = full(key);
  if (part_number < 1 || part_number > kMaxPartNumber)
    throw InvalidPart(fmt::format("storage: part number {} is not in 1..{}", part_number, kMaxPartNumber));
  if (size) {
    return mapped("write part", key, [&] { return client_->upload_part_stream(k, upload_id, part_number, *size, read); });
  }
  Spool spool;
  std::uint64_t n = spool.fill(read, options_.max_unsized_part);
  return mapped("write part", key, [&] {
    return client_->upload_part_stream(k, upload_id, part_number, n,
                                       [&](std::span<std::uint8_t> b) { return spool.read(b); });
  });
}

FinishResult S3Store::finish(std::string_view key, std::string_view upload_id,
                             const std::vector<UploadedPart>& parts) {
  const std::string k = full(key);
  if (parts.empty()) throw InvalidPart("storage: completing an upload with no parts");
  std::vector<s3::CompletedPart> completed;
  completed.reserve(parts.size());
  for (const auto& p : parts) {
    if (p.part_number < 1 || p.part_number > kMaxPartNumber)
      throw InvalidPart(fmt::format("storage: part number {} is not in 1..{}", p.part_number, kMaxPartNumber));
    completed.push_back({p.part_number, std::string(detail::unquote(p.etag))});
  }
  mapped("finish upload", key, [&] { return client_->complete_multipart_upload(k, upload_id, completed); });
  auto info = mapped("stat", key, [&] { return client_->head_object(k); });
  if (!info) throw BackendError(fmt::format("storage: upload to '{}' completed but the object is missing", key));
  return FinishResult{info->size, std::nullopt};
}

void S3Store::abort(std::string_view key, std::string_view upload_id) {
  const std::string k = full(key);
  try {
    mapped("abort upload", key, [&] {
      client_->abort_multipart_upload(k, upload_id);
      return 0;
    });
  } catch (const NotFound&) {
    // Already completed or aborted: nothing left to discard.
  }
}

std::vector<PendingUpload> S3Store::pending_uploads(std::string_view prefix) const {
  detail::check_prefix(prefix);
  std::vector<PendingUpload> out;
  std::string key_marker, id_marker;
  // A bound for a server whose markers never advance.
  for (int page = 0; page < 10000; ++page) {
    auto result = mapped("list uploads", prefix, [&] {
      return client_->list_multipart_uploads(options_.root + std::string(prefix), key_marker, id_marker);
    });
    for (auto& u : result.uploads)
      out.push_back({u.key.substr(options_.root.size()), std::move(u.upload_id), parse_datetime(u.initiated)});
    if (!result.truncated) return out;
    if (result.next_key_marker == key_marker && result.next_upload_id_marker == id_marker)
      throw BackendError("storage: ListMultipartUploads markers did not advance");
    key_marker = result.next_key_marker;
    id_marker = result.next_upload_id_marker;
  }
  throw BackendError("storage: more than 10000 pages of multipart uploads");
}

std::optional<std::string> S3Store::presign_get(std::string_view key, std::chrono::seconds expires) const {
  const std::string k = full(key);
  if (!options_.presign) return std::nullopt;
  return client_->presign_get(k, expires);
}

std::optional<std::string> S3Store::presign_head(std::string_view key, std::chrono::seconds expires) const {
  const std::string k = full(key);
  if (!options_.presign) return std::nullopt;
  return client_->presign_head(k, expires);
}

std::optional<PartTarget> S3Store::presign_part(std::string_view key, std::string_view upload_id, int part_number,
                                                std::chrono::seconds expires) const {
  const std::string k = full(key);
  if (!options_.presign) return std::nullopt;
  if (part_number < 1 || part_number > kMaxPartNumber)
    throw InvalidPart(fmt::format("storage: part number {} is not in 1..{}", part_number, kMaxPartNumber));
  return PartTarget{client_->presign_upload_part(k, upload_id, part_number, expires), "PUT", {}};
}

}  // namespace atcr::storage

#include "appview/blob_upload.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "atcr/error.h"
#include "atcr/oci/errors.h"
#include "util/text.h"

namespace atcr::appview {

namespace {

std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

[[noreturn]] void spill_failed(std::string_view what, int err) {
  // The path is ours, not the client's business: errors name no file.
  throw StorageError(fmt::format("upload spill file: {}: {}", what, std::strerror(err)));
}

// The spill file, open for one operation, closed on scope exit.
class SpillFd {
 public:
  SpillFd(const std::filesystem::path& path, int flags) : fd_(::open(path.c_str(), flags | O_CLOEXEC, 0600)) {
    if (fd_ < 0) spill_failed("open", errno);
  }
  ~SpillFd() { ::close(fd_); }
  SpillFd(const SpillFd&) = delete;
  SpillFd& operator=(const SpillFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void spill_append(const std::filesystem::path& path, BytesView data) {
  SpillFd fd(path, O_WRONLY | O_CREAT | O_APPEND);
  while (!data.empty()) {
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) spill_failed("write", errno);
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

void spill_truncate(const std::filesystem::path& path, std::uint64_t size) {
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0 && !(errno == ENOENT && size == 0))
    spill_failed("truncate", errno);
}

class FileSpill : public Spill {
 public:
  explicit FileSpill(std::filesystem::path path) : path_(std::move(path)) {}
  std::uint64_t size() override {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) return static_cast<std::uint64_t>(st.st_size);
    if (errno != ENOENT) spill_failed("stat", errno);
    return 0;
  }
  void append(BytesView data) override { spill_append(path_, data); }
  void truncate(std::uint64_t size) override { spill_truncate(path_, size); }
  std::size_t read(std::uint64_t at, std::span<std::uint8_t> buffer) override {
    SpillFd fd(path_, O_RDONLY);
    for (;;) {
      ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) spill_failed("read", errno);
      return static_cast<std::size_t>(n);
    }
  }
  void discard() noexcept override { ::unlink(path_.c_str()); }

 private:
  std::filesystem::path path_;
};

}  // namespace

std::unique_ptr<Spill> file_spill(std::filesystem::path path) { return std::make_unique<FileSpill>(std::move(path)); }

std::optional<ChunkRange> parse_content_range(std::string_view header) {
  header = util::trim(header, " ");
  if (header.starts_with("bytes ") || header.starts_with("bytes=")) header.remove_prefix(6);
  // "bytes 0-99/100" (RFC 9110 form): the total is not ours to check.
  if (auto slash = header.find('/'); slash != std::string_view::npos) header = header.substr(0, slash);
  auto dash = header.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto start = parse_number(header.substr(0, dash));
  auto end = parse_number(header.substr(dash + 1));
  if (!start || !end || *end < *start) return std::nullopt;
  return ChunkRange{*start, *end};
}

BlobUpload::BlobUpload(std::uint64_t part_size)
    : part_size_(part_size == 0 ? 1 : part_size), stream_min_(part_size_) {}

void BlobUpload::stream_parts_from(std::uint64_t size) { stream_min_ = std::clamp<std::uint64_t>(size, 1, part_size_); }

BlobUpload::BlobUpload(std::uint64_t part_size, std::filesystem::path spill_file)
    : BlobUpload(part_size, file_spill(std::move(spill_file))) {}

BlobUpload::BlobUpload(std::uint64_t part_size, std::unique_ptr<Spill> spill) : BlobUpload(part_size) {
  spill_ = std::move(spill);
}

BlobUpload BlobUpload::resume(std::uint64_t part_size, std::filesystem::path spill_file, std::uint64_t offset,
                              std::vector<UploadedPartInfo> parts) {
  return resume(part_size, file_spill(std::move(spill_file)), offset, std::move(parts));
}

BlobUpload BlobUpload::resume(std::uint64_t part_size, std::unique_ptr<Spill> spill, std::uint64_t offset,
                              std::vector<UploadedPartInfo> parts) {
  BlobUpload up(part_size, std::move(spill));
  std::uint64_t sent = 0;
  for (const auto& p : parts) sent += p.size;
  if (sent > offset) throw StorageError("upload state: its parts hold more bytes than its offset");
  std::uint64_t have = up.spill_->size();
  std::uint64_t want = offset - sent;
  if (have < want)
    throw StorageError(fmt::format("upload state: {} buffered bytes expected, {} found", want, have));
  if (have > want) up.spill_->truncate(want);
  up.offset_ = offset;
  up.spilled_ = want;
  up.parts_ = std::move(parts);
  return up;
}

void BlobUpload::discard() noexcept {
  if (spill_) spill_->discard();
  spilled_ = 0;
  buffer_.clear();
}

std::string BlobUpload::range_header() const {
  return fmt::format("0-{}", offset_ == 0 ? 0 : offset_ - 1);
}

void BlobUpload::check_chunk(std::string_view content_range, std::optional<std::uint64_t> content_length) const {
  if (finished_) throw oci::RegistryError(oci::ErrorCode::kBlobUploadInvalid, "the upload is already complete");
  if (content_range.empty()) return;
  auto range = parse_content_range(content_range);
  if (!range)
    throw oci::RegistryError(oci::ErrorCode::kRangeInvalid,
                             fmt::format("malformed Content-Range '{}'", content_range.substr(0, 64)), {}, 416);
  if (range->start != offset_)
    throw oci::RegistryError(oci::ErrorCode::kRangeInvalid,
                             fmt::format("chunk starts at {} but the upload is at {}", range->start, offset_), {},
                             416);
  if (content_length && *content_length != range->length())
    throw oci::RegistryError(oci::ErrorCode::kSizeInvalid,
                             fmt::format("Content-Range spans {} bytes but Content-Length is {}", range->length(),
                                         *content_length));
}

void BlobUpload::append(BytesView data, PartSink& sink) {
  if (finished_) throw oci::RegistryError(oci::ErrorCode::kBlobUploadInvalid, "the upload is already complete");
  while (!data.empty()) {
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(part_size_ - buffered(), data.size()));
    if (!spill_) {
      buffer_.insert(buffer_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    } else {
      spill_->append(data.first(take));
      spilled_ += take;
    }
    offset_ += take;
    data = data.subspan(take);
    if (buffered() == part_size_) flush(sink);
  }
}

namespace {
constexpr std::uint64_t kMaxPartBytes = 5ULL << 30;  // S3's largest part
}

bool BlobUpload::can_stream(std::uint64_t size) const {
  const std::uint64_t min = parts_.size() < kMaxSmallParts ? stream_min_ : part_size_;
  return !finished_ && buffered() == 0 && size >= min && size <= kMaxPartBytes;
}

void BlobUpload::append_stream(std::uint64_t size, const PartSink::Reader& read, PartSink& sink) {
  if (!can_stream(size)) throw std::logic_error("BlobUpload::append_stream: not a streamable chunk");
  int number = static_cast<int>(parts_.size()) + 1;
  std::uint64_t got = 0;
  auto counted_read = [&](std::span<std::uint8_t> buffer) {
    std::size_t n = read(buffer.first(static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - got))));
    if (n == 0 && got < size)
      throw oci::RegistryError(oci::ErrorCode::kSizeInvalid,
                               fmt::format("the chunk ended after {} of {} bytes", got, size));
    got += n;
    return n;
  };
  std::string etag = sink.put_part_stream(number, size, counted_read);
  offset_ += size;
  parts_.push_back({number, std::move(etag), size});
}

void BlobUpload::flush(PartSink& sink) {
  int number = static_cast<int>(parts_.size()) + 1;
  std::uint64_t size = buffered();
  std::string etag;
  if (!spill_ || size == 0) {
    etag = sink.put_part(number, buffer_);
  } else {
    std::uint64_t at = 0;
    etag = sink.put_part_stream(number, size, [&](std::span<std::uint8_t> b) -> std::size_t {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(b.size(), size - at));
      if (want == 0) return 0;
      std::size_t n = spill_->read(at, b.first(want));
      at += n;
      return n;
    });
    spill_->truncate(0);
  }
  parts_.push_back({number, std::move(etag), size});
  buffer_.clear();
  spilled_ = 0;
}

void BlobUpload::finish(PartSink& sink) {
  if (finished_) throw oci::RegistryError(oci::ErrorCode::kBlobUploadInvalid, "the upload is already complete");
  // The last part may be short; an empty blob still needs one part.
  if (buffered() > 0 || parts_.empty()) flush(sink);
  finished_ = true;
}

}  // namespace atcr::appview

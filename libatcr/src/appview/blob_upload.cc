#include "atcr/appview/blob_upload.h"

#include <fmt/core.h>

#include <charconv>

#include "atcr/oci/errors.h"

namespace atcr::appview {

namespace {

std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<ChunkRange> parse_content_range(std::string_view header) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
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

BlobUpload::BlobUpload(std::uint64_t part_size) : part_size_(part_size == 0 ? 1 : part_size) {}

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
  offset_ += data.size();
  while (!data.empty()) {
    std::size_t room = static_cast<std::size_t>(part_size_ - buffer_.size());
    std::size_t take = std::min(room, data.size());
    buffer_.insert(buffer_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data = data.subspan(take);
    if (buffer_.size() == part_size_) flush(sink);
  }
}

namespace {
constexpr std::uint64_t kMaxPartBytes = 5ULL << 30;  // S3's largest part
}

bool BlobUpload::can_stream(std::uint64_t size) const {
  return !finished_ && buffer_.empty() && size >= part_size_ && size <= kMaxPartBytes;
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
  std::string etag = sink.put_part(number, buffer_);
  parts_.push_back({number, std::move(etag), buffer_.size()});
  buffer_.clear();
}

void BlobUpload::finish(PartSink& sink) {
  if (finished_) throw oci::RegistryError(oci::ErrorCode::kBlobUploadInvalid, "the upload is already complete");
  // The last part may be short; an empty blob still needs one part.
  if (!buffer_.empty() || parts_.empty()) flush(sink);
  finished_ = true;
}

}  // namespace atcr::appview

// The registry side of one blob upload (distribution-spec "Pushing blobs"):
// the byte offset the client has reached, the Content-Range rules of
// chunked PATCHes, and the cutting of the stream into multipart parts that
// go to the hold as they fill.
//
//   BlobUpload up(16 << 20);
//   up.check_chunk(req.header("content-range"), content_length);  // 416 if out of order
//   up.append(bytes, sink);        // full parts go to sink.put_part(n, data)
//   ...
//   up.finish(sink);               // the last (possibly short) part
//   completeUpload(digest, up.parts())   // the hold checks the digest
//
// Nothing is hashed here: the hold verifies every blob against its digest
// at completeUpload (it has to, as anyone with a service token can upload
// to it directly), so a second hash on the way through would only cost
// CPU on the push path (SHA-256 was half of the AppView's share of it).
//
// Network-free so the rules are unit-tested; the AppView supplies the sink
// (getPartUploadUrl + PUT to the hold or a presigned S3 URL).
//
// The part being filled waits in memory, or, given a Spill, outside the
// process: a file (the AppView with its own SQLite database) or rows of the
// shared database (AppView instances behind a load balancer, where a
// chunked upload's next request may reach another instance). So an
// abandoned chunked upload costs disk (bounded by its session caps), not up
// to a part's size of memory, and a session saved as (offset, parts)
// resumes after a restart or elsewhere (resume()).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "atcr/bytes.h"

namespace atcr::appview {

// "<start>-<end>", both inclusive (the distribution-spec's PATCH form; a
// leading "bytes " or "bytes=" is tolerated, as some clients send it).
struct ChunkRange {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::uint64_t length() const { return end - start + 1; }
};
// nullopt when malformed (end before start, junk, overflow).
std::optional<ChunkRange> parse_content_range(std::string_view header);

// Where parts go. put_part returns the part's ETag.
class PartSink {
 public:
  // Fills a prefix of the buffer; returns how many bytes (0: no more).
  using Reader = std::function<std::size_t(std::span<std::uint8_t> buffer)>;

  virtual ~PartSink() = default;
  virtual std::string put_part(int part_number, BytesView data) = 0;
  // A part of exactly `size` bytes pulled from `read` as it is sent.
  virtual std::string put_part_stream(int part_number, std::uint64_t size, const Reader& read) = 0;
};

// Where the part being filled is kept. Errors throw atcr::StorageError.
class Spill {
 public:
  virtual ~Spill() = default;
  virtual std::uint64_t size() = 0;  // bytes held
  virtual void append(BytesView data) = 0;
  virtual void truncate(std::uint64_t size) = 0;  // to `size` bytes (<= size())
  // Up to buffer.size() bytes from offset `at` (< size()); returns how many.
  virtual std::size_t read(std::uint64_t at, std::span<std::uint8_t> buffer) = 0;
  // Forgets everything held. Best effort, never throws.
  virtual void discard() noexcept = 0;
};
// A Spill in a file (created on the first byte, deleted by discard()).
std::unique_ptr<Spill> file_spill(std::filesystem::path path);

struct UploadedPartInfo {
  int part_number = 0;
  std::string etag;
  std::uint64_t size = 0;
};

class BlobUpload {
 public:
  // `part_size`: the size of every part but the last (>= 5 MiB for S3).
  explicit BlobUpload(std::uint64_t part_size);
  // Buffers the part being filled in `spill_file` (created on the first
  // byte, emptied as each part is sent, deleted by discard()). File errors
  // throw atcr::StorageError.
  BlobUpload(std::uint64_t part_size, std::filesystem::path spill_file);
  // The same with any Spill.
  BlobUpload(std::uint64_t part_size, std::unique_ptr<Spill> spill);
  // An upload saved as offset() and parts(): `spill_file` must hold the
  // offset - sum(part sizes) bytes buffered then; a longer one (a chunk a
  // crash cut short) is cut back to that. Throws atcr::StorageError when it
  // holds fewer (the upload cannot go on from a known offset).
  static BlobUpload resume(std::uint64_t part_size, std::filesystem::path spill_file, std::uint64_t offset,
                           std::vector<UploadedPartInfo> parts);
  static BlobUpload resume(std::uint64_t part_size, std::unique_ptr<Spill> spill, std::uint64_t offset,
                           std::vector<UploadedPartInfo> parts);
  // Forgets the spilled bytes (if any). Best effort, never throws.
  void discard() noexcept;

  // Bytes received so far (the next chunk must start here).
  std::uint64_t offset() const { return offset_; }
  // "0-<offset-1>", or "0-0" before any byte: the Range header of upload
  // status responses.
  std::string range_header() const;

  // The Content-Range rules for a PATCH (or a PUT's final chunk): with a
  // Content-Range, it must start at offset() (RANGE_INVALID, 416
  // otherwise) and, with a Content-Length, span exactly that many bytes
  // (400 SIZE_INVALID). Empty `content_range`: a streamed chunk, accepted
  // at the current offset. Throws oci::RegistryError.
  void check_chunk(std::string_view content_range, std::optional<std::uint64_t> content_length) const;

  // Appends bytes; every time the buffer reaches part_size it is sent as
  // the next part. Exceptions from the sink propagate (the upload is then
  // unusable: the AppView aborts it).
  void append(BytesView data, PartSink& sink);

  // Whether a chunk of `size` bytes may go to the sink as one part of its
  // own, streamed, instead of through the buffer: nothing is buffered and
  // the chunk is at least stream_min() (so it may be followed by more
  // parts) and at most S3's largest part. Clients that send a blob in one
  // PATCH with a Content-Length (skopeo, podman, buildah) take this path:
  // no copy on disk or in memory, and a one-part upload the hold can move
  // into place.
  bool can_stream(std::uint64_t size) const;
  // Lets chunks from `size` bytes up (clamped to 1..part_size) stream as
  // parts of their own: for a sink that takes parts that small which are
  // not the last (a filesystem hold: any size). After kMaxSmallParts parts
  // the floor is part_size again, so a blob still fits in S3's 10,000.
  void stream_parts_from(std::uint64_t size);
  std::uint64_t stream_min() const { return stream_min_; }
  static constexpr std::size_t kMaxSmallParts = 9000;
  // Sends `size` bytes from `read` as the next part. Throws
  // oci::RegistryError (SIZE_INVALID) if `read` ends early.
  void append_stream(std::uint64_t size, const PartSink::Reader& read, PartSink& sink);

  // Sends what is buffered as the last part (an empty blob is one empty
  // part). Once only.
  void finish(PartSink& sink);
  bool finished() const { return finished_; }

  const std::vector<UploadedPartInfo>& parts() const { return parts_; }

 private:
  void flush(PartSink& sink);
  std::uint64_t buffered() const { return spill_ ? spilled_ : buffer_.size(); }

  std::uint64_t part_size_;
  std::uint64_t stream_min_;  // part_size_ unless stream_parts_from()
  std::uint64_t offset_ = 0;
  Bytes buffer_;                  // the part being filled, without a spill
  std::unique_ptr<Spill> spill_;  // or there
  std::uint64_t spilled_ = 0;     // bytes in spill_
  std::vector<UploadedPartInfo> parts_;
  bool finished_ = false;
};

}  // namespace atcr::appview

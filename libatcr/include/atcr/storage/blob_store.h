// Where a hold keeps blob bytes: an abstract object store with two drivers,
// the local filesystem (filesystem_store.h) and S3-compatible buckets
// (s3_store.h).
//
// Keys are '/'-separated relative paths ("docker/registry/v2/blobs/...").
// Drivers refuse keys they could not address safely (storage::InvalidKey).
// A missing key is storage::NotFound; every other failure of the backend is
// storage::BackendError (or, for S3, the s3::S3Error / net::HttpError that
// caused it, wrapped), so a server can answer 404 vs 500.
//
// Multipart uploads mirror S3's: begin() gives an upload id, parts 1..10000
// are written (or PUT by a client to a presigned URL), finish() assembles
// them in the given order at the key. A BlobStore may be used from many
// threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/crypto/sha256.h"
#include "atcr/error.h"

namespace atcr::storage {

// The key (or a multipart upload, or a part) does not exist.
class NotFound : public NotFoundError {
 public:
  using NotFoundError::NotFoundError;
};

// A key a driver refuses: empty, absolute, "." / ".." segments, NUL,
// backslash, over 1024 bytes, ...
class InvalidKey : public ParseError {
 public:
  using ParseError::ParseError;
};

// A byte range that does not start inside the object (HTTP 416).
class RangeError : public Error {
 public:
  using Error::Error;
};

// finish() was given a part that was never written, or whose ETag does not
// match the part's content (S3's InvalidPart / InvalidPartOrder).
class InvalidPart : public VerifyError {
 public:
  using VerifyError::VerifyError;
};

// Anything else the backend did wrong: I/O errors, S3 errors, timeouts.
class BackendError : public StorageError {
 public:
  using StorageError::StorageError;
};

// The backend has no room left (the filesystem store's ENOSPC or EDQUOT).
// Nothing of the failed write is kept. The message names paths: log it,
// do not show it to clients.
class StorageFull : public BackendError {
 public:
  using BackendError::BackendError;
};

// Fills a prefix of `buffer` and returns how many bytes it wrote; 0 means
// the end of the data. May throw to abort the transfer.
using Reader = std::function<std::size_t(std::span<std::uint8_t> buffer)>;
// Receives data piece by piece; returning false aborts the transfer
// (BackendError).
using Sink = std::function<bool(BytesView chunk)>;

// Bytes [offset, offset + length); no length: to the end. A range must
// start inside the object; a length past the end is clipped.
struct ByteRange {
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;
};

struct ObjectStat {
  std::uint64_t size = 0;
};

struct ListedKey {
  std::string key;
  std::uint64_t size = 0;
  // When it was last written, if the driver says (both drivers do).
  std::optional<std::chrono::system_clock::time_point> modified;
};

struct ListPage {
  std::vector<ListedKey> keys;  // in ascending byte order
  // Non-empty when more keys follow: pass it back to list().
  std::string continuation;
};

// A multipart upload the backend keeps outside any key (S3's, whose
// parts are invisible to list()).
struct PendingUpload {
  std::string key;
  std::string upload_id;
  std::optional<std::chrono::system_clock::time_point> initiated;
};

// Where and how a client sends a part itself.
struct PartTarget {
  std::string url;
  std::string method = "PUT";
  std::vector<std::pair<std::string, std::string>> headers;
};

struct UploadedPart {
  int part_number = 0;
  std::string etag;  // without surrounding quotes (quotes are tolerated)
};

// What finish() learned. A driver that reads every byte while assembling
// (the filesystem) hashes them on the way, sparing the caller a second pass.
struct FinishResult {
  std::uint64_t size = 0;
  std::optional<Sha256Digest> sha256;
};

constexpr int kMaxPartNumber = 10000;

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // nullopt when the key does not exist.
  virtual std::optional<ObjectStat> stat(std::string_view key) const = 0;
  // Streams the object (or a range of it) to `sink`; returns the whole
  // object's size. NotFound, RangeError.
  virtual ObjectStat read(std::string_view key, std::optional<ByteRange> range, const Sink& sink) const = 0;
  // Writes a whole object of exactly `size` bytes from `read` (fewer is an
  // error). Readers see either the old object or the new one, never a part.
  virtual void write(std::string_view key, std::uint64_t size, const Reader& read) = 0;
  // Removing a missing key is not an error.
  virtual void remove(std::string_view key) = 0;
  // Replaces `to` with `from` (NotFound if `from` is missing). Atomic on
  // the filesystem; copy then delete on S3.
  virtual void move(std::string_view from, std::string_view to) = 0;
  // Keys starting with `prefix`, one page (1..1000 keys) at a time.
  virtual ListPage list(std::string_view prefix, std::string_view continuation = {}, int max_keys = 1000) const = 0;

  // Multipart uploads.
  virtual std::string begin(std::string_view key) = 0;
  // `size` known: exactly that many bytes are read. Unknown: until the
  // reader returns 0. Returns the part's ETag. Writing a part again
  // replaces it.
  virtual std::string write_part(std::string_view key, std::string_view upload_id, int part_number,
                                 std::optional<std::uint64_t> size, const Reader& read) = 0;
  // Assembles the parts, in the given order, at `key` and ends the upload.
  // InvalidPart for a missing part or an ETag that does not match; NotFound
  // for an unknown upload.
  virtual FinishResult finish(std::string_view key, std::string_view upload_id,
                              const std::vector<UploadedPart>& parts) = 0;
  // Discards the upload and its parts; an unknown upload is not an error.
  virtual void abort(std::string_view key, std::string_view upload_id) = 0;

  // Presigned URLs for clients that talk to the backend directly; nullopt
  // when the driver cannot presign or presigning is turned off (then the
  // bytes go through the server).
  virtual std::optional<std::string> presign_get(std::string_view key, std::chrono::seconds expires) const;
  virtual std::optional<std::string> presign_head(std::string_view key, std::chrono::seconds expires) const;
  virtual std::optional<PartTarget> presign_part(std::string_view key, std::string_view upload_id, int part_number,
                                                 std::chrono::seconds expires) const;
  // The file holding the key's bytes, for drivers that have one (so a
  // server can send it with sendfile). Does not check that it exists.
  virtual std::optional<std::filesystem::path> local_path(std::string_view key) const;
  // The smallest part the driver accepts that is not an upload's last:
  // S3's 5 MiB by default; the filesystem takes any size. (A caller that
  // does not know a chunk is the last keeps it until it has this much.)
  virtual std::uint64_t min_part_size() const;
  // Removes the driver's own scratch files (e.g. partial parts a crash or
  // a dropped connection left) older than `max_age`; returns how many.
  // Uploads::expire calls it on the sessions' schedule. Default: none.
  virtual std::size_t sweep_scratch(std::chrono::seconds max_age);
  // Multipart uploads in progress under `prefix` that list() does not
  // show (S3: ListMultipartUploads, every page). Default (drivers whose
  // parts are ordinary keys): none.
  virtual std::vector<PendingUpload> pending_uploads(std::string_view prefix) const;
  // Makes the names of every object move()d before the call durable, for
  // drivers that sync them in the background (FilesystemStore with
  // NameSync::kDeferred); a no-op where move() returns durable (default,
  // S3). A server calls it before anything that relies on those objects
  // surviving a crash is committed. BackendError if a sync failed.
  virtual void sync_names();
};

}  // namespace atcr::storage

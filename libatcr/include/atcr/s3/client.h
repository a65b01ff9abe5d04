// A client for S3-compatible object storage (AWS S3, Ceph radosgw, MinIO,
// R2, ...): the "bring your own storage" backend of a hold.
//
// Requests are signed with SigV4 (atcr/s3/sigv4.h) and sent with
// net::HttpClient; bodies that live in memory are signed with their SHA-256,
// streamed ones as UNSIGNED-PAYLOAD. An S3 error answer becomes an S3Error;
// a failed exchange (connect, timeout, ...) stays a net::HttpError.
//
// Object keys are arbitrary UTF-8 of 1 to 1024 bytes, except that a key may
// not contain "." or ".." path segments ("a/../b"): HTTP clients resolve
// those before sending, so such a key could not be addressed reliably.
//
// An S3Client holds no mutable state; one may be used from many threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/error.h"
#include "atcr/net/http_client.h"
#include "atcr/s3/sigv4.h"

namespace atcr::s3 {

struct S3Config {
  // "https://host" or "http://host:port"; no path.
  std::string endpoint;
  std::string bucket;
  std::string region = "us-east-1";
  Credentials credentials;
  // true: https://host/bucket/key. false: https://bucket.host/key (AWS's
  // default; needs a DNS name, not an IP address, as the endpoint host).
  bool path_style = false;
  // Optional CDN base URL ("https://cdn.example.com") put in place of the
  // endpoint's scheme and host in presigned GET and HEAD URLs, after
  // signing: the CDN forwards the request, Host rewritten, to the bucket.
  std::string pull_zone;
  // Total time for a request whose body is in memory.
  std::chrono::milliseconds timeout{30000};
  // Total time for a streamed transfer, and how long one may move no bytes.
  std::chrono::milliseconds stream_timeout{std::chrono::hours(2)};
  std::chrono::seconds stall_timeout{60};
  // The largest object body get_object() will hold in memory.
  std::size_t max_buffered_bytes = 64 * 1024 * 1024;
  // Requests whose body is in memory (all but the streamed ones, which
  // cannot be replayed) are retried this many times on 500, 502, 503
  // (SlowDown) and 504, after retry_delay, 4x retry_delay, 16x ... with
  // jitter. 0 disables.
  int max_retries = 3;
  std::chrono::milliseconds retry_delay{100};
  // move_object() copies objects up to this size with one CopyObject (S3
  // refuses more than 5 GiB) and larger ones as a multipart copy of
  // copy_part_bytes parts (UploadPartCopy). Tests lower both.
  std::uint64_t max_single_copy_bytes = 5ULL << 30;
  std::uint64_t copy_part_bytes = 1ULL << 30;
  // The signing time; tests fix it. Default: the system clock.
  std::function<TimePoint()> clock;

  // Equal settings; `clock` (a test hook) is not compared.
  bool operator==(const S3Config& other) const;
};

// An error answer from S3, e.g. 404 NoSuchKey. Bodiless answers (HEAD) get
// a code named after the status ("NotFound", "Forbidden", ...).
class S3Error : public Error {
 public:
  S3Error(int status, std::string code, std::string message, std::string request_id, std::string key,
          const std::string& what);

  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& request_id() const { return request_id_; }
  const std::string& key() const { return key_; }  // the key asked about, if any

 private:
  int status_;
  std::string code_, message_, request_id_, key_;
};

// ETags are given without their surrounding quotes.
struct ObjectInfo {
  std::uint64_t size = 0;  // of the whole object, also after a ranged GET
  std::string etag;
  std::string content_type;
  std::string last_modified;  // as the server wrote it
};

// Bytes [offset, offset + length); no length: to the end.
struct ByteRange {
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length;
};

struct ListOptions {
  std::string prefix;
  std::string delimiter;  // e.g. "/": keys past it are rolled into common_prefixes
  std::string continuation_token;
  int max_keys = 1000;  // 1..1000
};

struct ListedObject {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;
  std::string last_modified;
};

struct ListResult {
  std::vector<ListedObject> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_continuation_token;  // pass back in ListOptions when truncated
};

// A multipart upload in progress (ListMultipartUploads).
struct MultipartUpload {
  std::string key;
  std::string upload_id;
  std::string initiated;  // as the server wrote it (ISO 8601)
};

struct MultipartUploadsPage {
  std::vector<MultipartUpload> uploads;
  bool truncated = false;
  // Pass both back to list_multipart_uploads() for the next page.
  std::string next_key_marker;
  std::string next_upload_id_marker;
};

struct CompletedPart {
  int part_number = 0;
  std::string etag;
};

struct PartInfo {
  int part_number = 0;
  std::string etag;
  std::uint64_t size = 0;
};

// Fills a prefix of the buffer, returns how many bytes it wrote; see
// net::BodySource for the contract.
using Reader = std::function<std::size_t(std::span<std::uint8_t> buffer)>;
// Receives a body piece by piece; false aborts the transfer.
using Sink = net::BodySink;

class S3Client {
 public:
  // Throws Error on an invalid configuration.
  explicit S3Client(S3Config config);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Config& config() const;

  // Objects. put_* return the new object's ETag.
  std::string put_object(std::string_view key, BytesView data, std::string_view content_type = {}) const;
  std::string put_object_stream(std::string_view key, std::uint64_t size, const Reader& read,
                                std::string_view content_type = {}) const;
  Bytes get_object(std::string_view key, std::optional<ByteRange> range = {}) const;
  ObjectInfo get_object_stream(std::string_view key, const Sink& sink, std::optional<ByteRange> range = {}) const;
  std::optional<ObjectInfo> head_object(std::string_view key) const;
  // Succeeds whether or not the key exists.
  void delete_object(std::string_view key) const;
  // Server-side copy within the bucket (up to 5 GiB); returns the ETag.
  std::string copy_object(std::string_view from, std::string_view to) const;
  // Server-side copy of any size: one CopyObject up to
  // max_single_copy_bytes, else a multipart copy (aborted on failure).
  void copy_large_object(std::string_view from, std::string_view to) const;
  // Copy (copy_large_object), then delete the source: S3 has no rename.
  void move_object(std::string_view from, std::string_view to) const;
  // One page of ListObjectsV2.
  ListResult list_objects(const ListOptions& options = {}) const;

  // Multipart uploads: parts 1..10000, each but the last at least 5 MiB.
  std::string create_multipart_upload(std::string_view key, std::string_view content_type = {}) const;
  std::string upload_part(std::string_view key, std::string_view upload_id, int part_number, BytesView data) const;
  std::string upload_part_stream(std::string_view key, std::string_view upload_id, int part_number,
                                 std::uint64_t size, const Reader& read) const;
  // Returns the assembled object's ETag.
  std::string complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                        const std::vector<CompletedPart>& parts) const;
  void abort_multipart_upload(std::string_view key, std::string_view upload_id) const;
  // UploadPartCopy: part `part_number` is `range` of the object `from`.
  std::string upload_part_copy(std::string_view key, std::string_view upload_id, int part_number,
                               std::string_view from, const ByteRange& range) const;
  // Every part uploaded so far (following the pages). A 404 S3Error once the
  // upload is completed or aborted (code NoSuchUpload; radosgw: NoSuchKey).
  std::vector<PartInfo> list_parts(std::string_view key, std::string_view upload_id) const;
  // One page (up to 1000) of the multipart uploads in progress whose keys
  // start with `prefix`, in key order; continue from a page's next_*
  // markers. Uploads nobody completes or aborts keep their parts (and
  // their cost) forever: a store's janitor lists them to abort the stale.
  MultipartUploadsPage list_multipart_uploads(std::string_view prefix, std::string_view key_marker = {},
                                              std::string_view upload_id_marker = {}) const;

  // Presigned URLs, valid for `expires` (1 s to 7 days), for clients that
  // talk to the bucket directly. GET and HEAD go through the pull zone if
  // one is configured.
  std::string presign_get(std::string_view key, std::chrono::seconds expires) const;
  std::string presign_head(std::string_view key, std::chrono::seconds expires) const;
  std::string presign_put(std::string_view key, std::chrono::seconds expires) const;
  std::string presign_upload_part(std::string_view key, std::string_view upload_id, int part_number,
                                  std::chrono::seconds expires) const;

  // The unsigned URL of an object (or of the bucket, for an empty key).
  std::string url(std::string_view key) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::s3

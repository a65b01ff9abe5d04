// Internal: the AppView's side of a hold's XRPC API (over HTTP only; the
// appview never includes the hold's headers). Each call takes the bearer
// token to send: a service-auth JWT minted by the user's PDS, or "" for
// anonymous reads of a public hold. Hold errors surface as xrpc::XrpcError.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "appview/upload_target.h"
#include "appview/blob_upload.h"
#include "atcr/data/value.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/digest.h"

namespace atcr::appview {

struct HoldRef {
  std::string did;
  std::string url;  // "https://hold.example.com", no trailing '/'
};

// Where a hold's part URLs may send the AppView (a hold is whoever a user
// names, so its URLs are untrusted): the hold's own origin (with our token),
// an operator-listed storage origin (config uploads.storage_origins), or
// else an https URL reached through `http`, whose AddressPolicy refuses
// loopback, private, link-local and metadata addresses after DNS. Only
// allow-listed headers from the hold reach the PUT (Content-Type,
// Content-MD5, x-amz-checksum-*), and an upstream body is never echoed.
struct PartDestinations {
  std::shared_ptr<const net::HttpClient> http;  // AddressPolicy::kPublic, no redirects
  std::vector<std::string> trusted_origins;
};

// What GET getBlob (probed with "Range: bytes=0-0") said about a blob.
struct BlobProbe {
  enum class Kind { kRedirect, kServed, kMissing, kDenied } kind = Kind::kMissing;
  std::string location;  // kRedirect: where the bytes are
  int status = 0;        // kDenied: 401 or 403
};

class HoldClient {
 public:
  // Without `parts`, part URLs outside the hold's own origin are refused.
  HoldClient(HoldRef hold, std::shared_ptr<const net::HttpClient> http,
             std::shared_ptr<const PartDestinations> parts = nullptr);

  const HoldRef& hold() const { return hold_; }
  // The hold's own URL for a blob: <url>/xrpc/com.atproto.sync.getBlob?did=&cid=
  std::string blob_url(const oci::Digest& digest) const;

  // HEAD getBlob: the size, nullopt when the hold does not have it.
  // Throws XrpcError for 401/403 (not allowed to read) and other failures.
  std::optional<std::uint64_t> head_blob(const oci::Digest& digest, const std::string& token) const;
  BlobProbe probe_blob(const oci::Digest& digest, const std::string& token) const;
  // GET getBlob streamed into `sink` (with `range` as a Range header if
  // not empty). Returns the response (status, headers; body empty on 2xx).
  net::HttpResponse stream_blob(const oci::Digest& digest, const std::string& token, const std::string& range,
                                const net::BodySink& sink) const;

  // A multipart upload on the hold: its id, and the smallest part that
  // need not be the last if the hold says (our holds' minPartSize, not in
  // the lexicon; 0 when absent or malformed: assume S3's 5 MiB rule).
  struct Initiated {
    std::string upload_id;
    std::uint64_t min_part_size = 0;
  };
  Initiated initiate_upload(const std::string& token, const std::string& digest_hint) const;
  UploadTarget part_target(const std::string& token, const std::string& upload_id, int part_number) const;
  // PUTs a part where part_target said; `uploadPart_token` is used only
  // when the target is the hold itself. Returns the ETag.
  std::string put_part(const UploadTarget& target, const std::string& upload_part_token, BytesView data) const;
  // The same, pulling exactly `size` bytes from `read` as they are sent.
  std::string put_part_stream(const UploadTarget& target, const std::string& upload_part_token, std::uint64_t size,
                              const std::function<std::size_t(std::span<std::uint8_t>)>& read) const;
  // Returns the blob's size.
  std::uint64_t complete_upload(const std::string& token, const std::string& upload_id, const oci::Digest& digest,
                                const std::vector<UploadedPartInfo>& parts) const;
  void abort_upload(const std::string& token, const std::string& upload_id) const;

  Value notify_manifest(const std::string& token, const Value& input) const;
  // io.atcr.hold.deleteBlob: the caller's references to `digest` from
  // `repository` go, the bytes once nothing references them. False when
  // the hold has neither (BlobNotFound).
  bool delete_blob(const std::string& token, const oci::Digest& digest, const std::string& repository) const;
  // "created" | "already_member"
  std::string request_crew(const std::string& token) const;
  // The captain record's `public` (false if absent).
  bool is_public() const;

 private:
  Value procedure(const std::string& nsid, const std::string& token, const Value& input) const;

  HoldRef hold_;
  std::shared_ptr<const net::HttpClient> http_;
  std::shared_ptr<const PartDestinations> parts_;
};

}  // namespace atcr::appview

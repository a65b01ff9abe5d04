// Internal: self-authorizing uploadPart URLs for holds that take part bytes
// themselves (filesystem storage, or S3 without presigning), the
// counterpart of an S3 presigned URL. getPartUploadUrl hands out
//   <public_url>/xrpc/io.atcr.hold.uploadPart?uploadId=..&partNumber=..
//     &did=..&expires=<unix seconds>&sig=<base64url HMAC-SHA256>
// and a PUT to it needs no other credential, as the lexicon's flow
// expects (a client sends only the returned headers, here none).
//
// The HMAC key is 32 random bytes in <data_dir>/part-url.key (mode 0600),
// made on first start and kept across restarts, so URLs outlive one.
// The signature binds the upload id, the part number, the uploader's DID
// and the expiry; any change, or a URL past its expiry, is refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "atcr/bytes.h"

namespace atcr::hold {

class PartUrlSigner {
 public:
  // Loads the key from `key_file`, creating it if absent. Throws
  // StorageError if it cannot be read or written, or is not private.
  explicit PartUrlSigner(const std::filesystem::path& key_file);

  // The query string (without '?') for one part, valid until `expires`.
  std::string query(std::string_view upload_id, int part, std::string_view did, std::int64_t expires) const;

  enum class Check { kValid, kBadSignature, kExpired };
  // Checks a URL's parameters at time `now` (unix seconds).
  Check check(std::string_view upload_id, int part, std::string_view did, std::int64_t expires,
              std::string_view signature, std::int64_t now) const;

 private:
  std::string sign(std::string_view upload_id, int part, std::string_view did, std::int64_t expires) const;

  Bytes key_;
};

}  // namespace atcr::hold

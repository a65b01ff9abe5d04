// The error codes of the OCI distribution-spec (v1.1, "Error Codes") and
// the JSON body registries answer with:
//
//   {"errors":[{"code":"MANIFEST_INVALID","message":"...","detail":...}]}
//
// Every failure the registry reports to an OCI client is a RegistryError;
// the HTTP layer turns it into the status and body with http_status() and
// error_body(), so a handler never picks a status by hand.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "atcr/data/value.h"
#include "atcr/error.h"

namespace atcr::oci {

enum class ErrorCode {
  kBlobUnknown,           // 404
  kBlobUploadInvalid,     // 400
  kBlobUploadUnknown,     // 404
  kDigestInvalid,         // 400
  kManifestBlobUnknown,   // 400 (as docker/distribution answers a push)
  kManifestInvalid,       // 400
  kManifestUnknown,       // 404
  kNameInvalid,           // 400
  kNameUnknown,           // 404
  kSizeInvalid,           // 400
  kUnauthorized,          // 401
  kDenied,                // 403
  kUnsupported,           // 405
  kTooManyRequests,       // 429
  kRangeInvalid,          // 416 (docker/distribution's code for a bad Content-Range)
  // Not in the OCI table, but spoken by docker/distribution and understood
  // by docker clients:
  kTagInvalid,            // 400 "manifest tag did not match URI"
  kPaginationNumberInvalid,  // 400 bad `n` on /tags/list, /_catalog
  kUnavailable,           // 503 a backend (PDS, hold) could not be reached
  kUnknown,               // 500 anything else
};

// "BLOB_UNKNOWN", ...
std::string_view code_name(ErrorCode code) noexcept;
// The HTTP status the distribution-spec pairs with the code.
int code_status(ErrorCode code) noexcept;
// The spec's short description ("blob unknown to registry").
std::string_view default_message(ErrorCode code) noexcept;
// The inverse of code_name (exact, uppercase); nullopt for unknown names.
std::optional<ErrorCode> code_from_name(std::string_view name) noexcept;

class RegistryError : public Error {
 public:
  // `message` defaults to the code's default message; `detail` is any JSON
  // value (null = omitted); `status` overrides the code's HTTP status when
  // the spec asks for a different one in context (e.g. 413 for an
  // oversized manifest, which is still MANIFEST_INVALID).
  explicit RegistryError(ErrorCode code, std::string message = {}, Value detail = {}, int status = 0);

  ErrorCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  const Value& detail() const noexcept { return detail_; }
  int http_status() const noexcept { return status_; }

 private:
  ErrorCode code_;
  std::string message_;
  Value detail_;
  int status_;
};

// {"errors":[{"code","message","detail"?}]} as compact JSON.
std::string error_body(ErrorCode code, std::string_view message = {}, const Value& detail = {});
std::string error_body(const RegistryError& error);

}  // namespace atcr::oci

#include "atcr/oci/errors.h"

#include <rapidjson/encodings.h>
#include <rapidjson/stream.h>
#include <rapidjson/stringbuffer.h>

#include <array>

#include "atcr/data/json.h"

namespace atcr::oci {

namespace {

struct CodeInfo {
  ErrorCode code;
  std::string_view name;
  int status;
  std::string_view message;
};

// Names and messages from the distribution-spec's error-code table; the
// extra codes use docker/distribution's wording.
constexpr std::array<CodeInfo, 19> kCodes{{
    {ErrorCode::kBlobUnknown, "BLOB_UNKNOWN", 404, "blob unknown to registry"},
    {ErrorCode::kBlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"},
    {ErrorCode::kBlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"},
    {ErrorCode::kDigestInvalid, "DIGEST_INVALID", 400, "provided digest did not match uploaded content"},
    {ErrorCode::kManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400,
     "manifest references a manifest or blob unknown to registry"},
    {ErrorCode::kManifestInvalid, "MANIFEST_INVALID", 400, "manifest invalid"},
    {ErrorCode::kManifestUnknown, "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"},
    {ErrorCode::kNameInvalid, "NAME_INVALID", 400, "invalid repository name"},
    {ErrorCode::kNameUnknown, "NAME_UNKNOWN", 404, "repository name not known to registry"},
    {ErrorCode::kSizeInvalid, "SIZE_INVALID", 400, "provided length did not match content length"},
    {ErrorCode::kUnauthorized, "UNAUTHORIZED", 401, "authentication required"},
    {ErrorCode::kDenied, "DENIED", 403, "requested access to the resource is denied"},
    {ErrorCode::kUnsupported, "UNSUPPORTED", 405, "the operation is unsupported"},
    {ErrorCode::kTooManyRequests, "TOOMANYREQUESTS", 429, "too many requests"},
    {ErrorCode::kRangeInvalid, "RANGE_INVALID", 416, "invalid content range"},
    {ErrorCode::kTagInvalid, "TAG_INVALID", 400, "manifest tag did not match URI"},
    {ErrorCode::kPaginationNumberInvalid, "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"},
    {ErrorCode::kUnavailable, "UNAVAILABLE", 503, "service unavailable"},
    {ErrorCode::kUnknown, "UNKNOWN", 500, "unknown error"},
}};

const CodeInfo& info(ErrorCode code) noexcept {
  for (const CodeInfo& c : kCodes)
    if (c.code == code) return c;
  return kCodes.back();  // unreachable for valid enumerators
}

// Messages may quote hostile input (a digest, a name); the body must stay
// valid UTF-8 JSON, so text that is not UTF-8 has its non-ASCII bytes
// replaced. RapidJSON's validator reads at most up to the terminating NUL
// of the copy.
std::string utf8_text(std::string_view s) {
  std::string copy(s);
  rapidjson::StringStream in(copy.c_str());
  rapidjson::StringBuffer sink;
  while (in.Tell() < copy.size()) {
    if (!rapidjson::UTF8<>::Validate(in, sink)) {
      for (char& c : copy)
        if (static_cast<unsigned char>(c) >= 0x80) c = '?';
      return copy;
    }
  }
  return copy;
}

Value error_entry(ErrorCode code, std::string_view message, const Value& detail) {
  Value::Map entry{{"code", Value(code_name(code))},
                   {"message", Value(utf8_text(message.empty() ? default_message(code) : message))}};
  if (!detail.is_null()) entry.emplace("detail", detail);
  return Value(std::move(entry));
}

}  // namespace

std::string_view code_name(ErrorCode code) noexcept { return info(code).name; }
int code_status(ErrorCode code) noexcept { return info(code).status; }
std::string_view default_message(ErrorCode code) noexcept { return info(code).message; }

std::optional<ErrorCode> code_from_name(std::string_view name) noexcept {
  for (const CodeInfo& c : kCodes)
    if (c.name == name) return c.code;
  return std::nullopt;
}

RegistryError::RegistryError(ErrorCode code, std::string message, Value detail, int status)
    : Error(std::string(code_name(code)) + ": " +
            (message.empty() ? std::string(default_message(code)) : message)),
      code_(code),
      message_(message.empty() ? std::string(default_message(code)) : std::move(message)),
      detail_(std::move(detail)),
      status_(status != 0 ? status : code_status(code)) {}

std::string error_body(ErrorCode code, std::string_view message, const Value& detail) {
  Value::Map body{{"errors", Value(Value::Array{error_entry(code, message, detail)})}};
  return json::serialize(Value(std::move(body)));
}

std::string error_body(const RegistryError& error) {
  return error_body(error.code(), error.message(), error.detail());
}

}  // namespace atcr::oci

// AWS Signature Version 4 for S3: signed request headers and presigned URLs.
//
// Pure functions of the request, the credentials, the region and the time,
// so they are tested against AWS's published examples and, in the
// integration suite, against a real SigV4-verifying server (Ceph radosgw).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atcr::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional (temporary credentials)
  bool operator==(const Credentials&) const = default;
};

using Params = std::vector<std::pair<std::string, std::string>>;

// What is signed. `path` is the raw (unencoded) object path starting with
// '/', e.g. "/bucket/key" or "/key"; `query` holds raw names and values.
struct CanonicalRequest {
  std::string method;
  std::string host;  // exactly as sent in the Host header (with :port if any)
  std::string path;
  Params query;
  Params headers;  // further headers to sign (any case); Host is always signed
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_sha256 = "UNSIGNED-PAYLOAD";
};

struct SigningContext {
  Credentials credentials;
  std::string region = "us-east-1";
  std::string service = "s3";
};

using TimePoint = std::chrono::system_clock::time_point;

// The headers to add to the request: Authorization, x-amz-date,
// x-amz-content-sha256 and, with temporary credentials, x-amz-security-token.
Params sign_headers(const CanonicalRequest& request, const SigningContext& ctx, TimePoint now);

// The full query string (encoded, with X-Amz-Signature last) that presigns
// `request` for `expires` (1 s to 7 days).
std::string presign_query(const CanonicalRequest& request, const SigningContext& ctx, TimePoint now,
                          std::chrono::seconds expires);

// RFC 3986 encoding as SigV4 specifies it: unreserved characters kept,
// everything else %XX (uppercase); '/' kept when `keep_slash`.
std::string uri_encode(std::string_view text, bool keep_slash);

// "YYYYMMDDTHHMMSSZ".
std::string amz_date(TimePoint t);

}  // namespace atcr::s3

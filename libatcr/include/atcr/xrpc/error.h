// XRPC errors: an HTTP status, an error name and a human-readable message,
// sent on the wire as {"error": "<Name>", "message": "<text>"}.
//
// One type serves both directions. XrpcClient throws it for a non-2xx
// response, and a server handler throws it to answer with that error. So a
// handler that calls another service and does not catch passes the upstream
// error through unchanged, as the TypeScript reference server does.
#pragma once

#include <string>
#include <string_view>

#include "atcr/error.h"
#include "atcr/net/http_client.h"

namespace atcr::xrpc {

class XrpcError : public Error {
 public:
  XrpcError(int status, std::string error, std::string message);
  // `headers`: on the client, the response's headers (Retry-After,
  // WWW-Authenticate...); on a server, extra headers to send with the error.
  // `context` (e.g. "GET https://pds.example/xrpc/com.atproto.repo.getRecord")
  // goes into what() only, never onto the wire.
  XrpcError(int status, std::string error, std::string message, net::Headers headers,
            std::string_view context = {});

  int status() const noexcept { return status_; }
  // The error name, e.g. "InvalidRequest", "RecordNotFound", "ExpiredToken".
  const std::string& error() const noexcept { return error_; }
  // May be empty.
  const std::string& message() const noexcept { return message_; }
  const net::Headers& headers() const noexcept { return headers_; }

 private:
  int status_;
  std::string error_;
  std::string message_;
  net::Headers headers_;
};

// The conventional name for an error status when the body does not name
// one: 400 "InvalidRequest", 401 "AuthRequired", 403 "Forbidden",
// 404 "NotFound", 413 "PayloadTooLarge", 429 "RateLimitExceeded",
// 500 "InternalServerError", 501 "MethodNotImplemented",
// 502 "UpstreamFailure", 503 "NotEnoughResources", 504 "UpstreamTimeout";
// anything else "Unknown".
std::string_view default_error_name(int status);

// Shorthands for handlers: `throw xrpc::invalid_request("limit must be 1-100");`
// A method-specific name replaces the generic one where a lexicon defines it
// (e.g. invalid_request("...", "RecordNotFound")).
XrpcError invalid_request(std::string message, std::string error = "InvalidRequest");
XrpcError auth_required(std::string message, std::string error = "AuthRequired");
XrpcError forbidden(std::string message, std::string error = "Forbidden");
XrpcError not_found(std::string message, std::string error = "NotFound");
XrpcError payload_too_large(std::string message);
XrpcError internal_error(std::string message);
XrpcError not_implemented(std::string message);

}  // namespace atcr::xrpc

#include "atcr/xrpc/error.h"

#include <fmt/core.h>

#include <utility>

namespace atcr::xrpc {

namespace {

std::string describe(std::string_view context, int status, std::string_view error,
                     std::string_view message) {
  std::string text = context.empty() ? "xrpc" : fmt::format("xrpc {}", context);
  text += fmt::format(": {} {}", status, error);
  if (!message.empty()) text += fmt::format(": {}", message);
  return text;
}

}  // namespace

XrpcError::XrpcError(int status, std::string error, std::string message)
    : XrpcError(status, std::move(error), std::move(message), {}, {}) {}

XrpcError::XrpcError(int status, std::string error, std::string message, net::Headers headers,
                     std::string_view context)
    : Error(describe(context, status, error, message)),
      status_(status),
      error_(std::move(error)),
      message_(std::move(message)),
      headers_(std::move(headers)) {}

std::string_view default_error_name(int status) {
  switch (status) {
    case 400: return "InvalidRequest";
    case 401: return "AuthRequired";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 413: return "PayloadTooLarge";
    case 429: return "RateLimitExceeded";
    case 500: return "InternalServerError";
    case 501: return "MethodNotImplemented";
    case 502: return "UpstreamFailure";
    case 503: return "NotEnoughResources";
    case 504: return "UpstreamTimeout";
    case 507: return "InsufficientStorage";
    default: return "Unknown";
  }
}

XrpcError invalid_request(std::string message, std::string error) {
  return XrpcError(400, std::move(error), std::move(message));
}

XrpcError auth_required(std::string message, std::string error) {
  return XrpcError(401, std::move(error), std::move(message));
}

XrpcError forbidden(std::string message, std::string error) {
  return XrpcError(403, std::move(error), std::move(message));
}

XrpcError not_found(std::string message, std::string error) {
  return XrpcError(404, std::move(error), std::move(message));
}

XrpcError payload_too_large(std::string message) {
  return XrpcError(413, "PayloadTooLarge", std::move(message));
}

XrpcError internal_error(std::string message) {
  return XrpcError(500, "InternalServerError", std::move(message));
}

XrpcError not_implemented(std::string message) {
  return XrpcError(501, "MethodNotImplemented", std::move(message));
}

}  // namespace atcr::xrpc

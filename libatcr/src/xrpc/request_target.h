// The request-target of an HTTP request line ("/path?query"), decoded.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atcr::xrpc {

struct RequestTarget {
  std::string path;  // percent-decoded
  // Percent-decoded, '+' read as a space, in order; a key without '=' has "".
  std::vector<std::pair<std::string, std::string>> params;
};

// Parses an origin-form target (RFC 9112 3.2.1). Throws XrpcError 400
// InvalidRequest for anything else (absolute-form, bad escapes, controls).
RequestTarget parse_request_target(std::string_view target);

}  // namespace atcr::xrpc

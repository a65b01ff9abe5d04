// HTTP client for talking to other services (PDSes, PLC directories, DID
// documents, holds, S3), built on libcurl.
//
// Every request is bounded: total and connect timeouts, a cap on the
// response body (exceeding it is an error, not a truncation), and a cap on
// redirects (none by default). Connections are reused across requests; a
// client may be used from many threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/error.h"

namespace atcr::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The request could not be completed: DNS, connect, TLS, timeout, too many
// redirects, or a response body over the limit. (An HTTP error status is a
// response, not an HttpError.)
class HttpError : public Error {
 public:
  using Error::Error;
};

struct HttpOptions {
  std::chrono::milliseconds timeout{15000};
  std::chrono::milliseconds connect_timeout{5000};
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  int max_redirects = 0;
  // curl CONNECT_TO entries ("HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT"):
  // send requests for one host:port to another address, keeping the Host
  // header and TLS name. Tests use it to reach loopback services by name.
  std::vector<std::string> connect_to;
  std::string user_agent = "atcr/0.1";
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;
  Bytes body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // names lowercased
  Bytes body;
  std::string effective_url;  // after redirects

  // The first header with this (case-insensitive) name, or "".
  std::string header(std::string_view name) const;
  std::string text() const { return to_string(body); }
  bool ok() const { return status >= 200 && status < 300; }
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const HttpOptions& options() const;

  // Sends a request with this client's options. Throws HttpError.
  HttpResponse send(const HttpRequest& request) const;
  // The same with other options for this one request.
  HttpResponse send(const HttpRequest& request, const HttpOptions& options) const;

  HttpResponse get(const std::string& url, const Headers& headers = {}) const;
  HttpResponse post(const std::string& url, std::string_view content_type, BytesView body,
                    const Headers& headers = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a URL query component (RFC 3986 unreserved kept).
std::string url_encode(std::string_view text);

}  // namespace atcr::net

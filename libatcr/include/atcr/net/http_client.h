// HTTP client for talking to other services (PDSes, PLC directories, DID
// documents, holds, S3), built on libcurl.
//
// Every request is bounded: total and connect timeouts, a cap on the
// response body (exceeding it is an error, not a truncation), and a cap on
// redirects (none by default). Only http and https URLs are fetched, also
// when following redirects. Connections are reused across requests; a
// client may be used from many threads at once.
//
// Blobs too large to hold in memory go through send_streaming(), which reads
// the request body from a callback and hands a successful response's body to
// another callback as it arrives.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/error.h"
#include "atcr/version.h"

namespace atcr::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The request could not be completed: DNS, connect, TLS, timeout, too many
// redirects, a response body over the limit, or a malformed request (bad
// method or header). The message names the method and URL. (An HTTP error
// status is a response, not an HttpError.)
class HttpError : public Error {
 public:
  using Error::Error;
};

// Which addresses a client may connect to, checked for every connection
// it opens (after DNS resolution, so a name cannot hide an address, and on
// every redirect). For URLs someone else chose (a hold's part URL): a
// client with a policy other than kAny must not share connections with one
// that has none, which HttpClient guarantees (connections are per client).
enum class AddressPolicy {
  kAny,
  kPublic,            // no loopback, private, link-local (cloud metadata), CGNAT, multicast, reserved
  kPublicOrLoopback,  // development: kPublic plus 127.0.0.0/8 and ::1
};

// Whether `address` (a sockaddr_in or sockaddr_in6) is allowed by `policy`.
bool address_allowed(const void* sockaddr, AddressPolicy policy);

struct HttpOptions {
  // For the whole exchange, including every redirect and a streamed body.
  // Both timeouts must be positive (HttpError otherwise).
  std::chrono::milliseconds timeout{15000};
  std::chrono::milliseconds connect_timeout{5000};
  // Abort a transfer that moves no bytes for this long (checked about once
  // a second); 0 disables. For streamed blobs, whose total `timeout` must
  // be generous.
  std::chrono::milliseconds stall_timeout{0};
  // Applies to buffered bodies; a streaming sink has no cap.
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  // 0: a redirect is returned as the response (status 3xx, "location").
  int max_redirects = 0;
  // curl CONNECT_TO entries ("HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT"):
  // send requests for one host:port to another address, keeping the Host
  // header and TLS name. Tests use it to reach loopback services by name.
  std::vector<std::string> connect_to{};
  std::string user_agent = "atcr/" ATCR_VERSION;
  // A refused connection fails the request with an HttpError naming the
  // address.
  AddressPolicy addresses = AddressPolicy::kAny;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  // Sent as given; a body without a content-type header is sent without one.
  Headers headers;
  Bytes body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // names lowercased, values trimmed; of the last response only
  Bytes body;
  std::string effective_url;  // after redirects

  // The first header with this (case-insensitive) name, or "".
  std::string header(std::string_view name) const;
  std::string text() const { return to_string(body); }
  bool ok() const { return status >= 200 && status < 300; }
};

// A request body produced on demand. `read` fills a prefix of its buffer and
// returns how many bytes it wrote; it is never asked for more than `size`
// bytes in total, and must deliver exactly `size` (returning 0 earlier fails
// the request). An exception from `read` aborts the transfer and propagates
// out of send_streaming unchanged.
struct BodySource {
  std::uint64_t size = 0;  // sent as Content-Length
  std::function<std::size_t(std::span<std::uint8_t> buffer)> read;
};

// Receives a response body chunk by chunk. Returning false aborts the
// transfer (HttpError); an exception propagates out of send_streaming.
using BodySink = std::function<bool(BytesView chunk)>;

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

  // Like send(), streaming either body or both; pass {} for a side that is
  // not streamed. With a source, request.body must be empty. With a sink, a
  // 2xx response's body goes to the sink (no size cap) and response.body
  // stays empty; any other status's body is buffered as usual, so an error
  // page never reaches the sink. After an HttpError the sink may have seen
  // part of the body. A streamed upload cannot be replayed, so a redirect
  // that would resend it (307/308) fails the request.
  HttpResponse send_streaming(const HttpRequest& request, const BodySource& source, const BodySink& sink) const;
  HttpResponse send_streaming(const HttpRequest& request, const BodySource& source, const BodySink& sink,
                              const HttpOptions& options) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a URL query component (RFC 3986 unreserved kept).
std::string url_encode(std::string_view text);

}  // namespace atcr::net

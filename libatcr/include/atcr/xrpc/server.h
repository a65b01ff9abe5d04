// An HTTP server for XRPC methods, plain routes and XRPC subscriptions
// (WebSockets), on Boost.Beast.
//
//   XrpcServer server({.port = 8080});
//   server.query("io.atcr.hold.getQuota", [&](const ServerRequest& req) {
//     auto claims = verifier.verify(req.bearer_token(), "io.atcr.hold.getQuota");
//     return ServerResponse::json(quota_of(claims.iss));
//   });
//   server.route("GET", "/.well-known/did.json", serve_did_document);
//   server.start();
//   ...
//   server.stop();  // in-flight requests finish first
//
// Each connection has a thread of its own (at most max_connections), and
// carries requests one after the other (HTTP/1.1 keep-alive), so handlers
// run concurrently and may block. They answer with a ServerResponse or
// throw: an XrpcError becomes {"error", "message"} with its status
// (ServiceAuthError gives 401); any other exception becomes a 500
// InternalServerError whose detail goes to the log, never to the client.
//
// XRPC semantics (as the TypeScript reference server):
//   - queries answer GET (and HEAD), procedures POST; another HTTP method on a
//     registered NSID is 400 InvalidRequest "Incorrect HTTP method";
//   - an unregistered but valid NSID is 501 MethodNotImplemented, an invalid
//     one 400 InvalidRequest;
//   - GET /xrpc/_health answers {"version": ...};
//   - a request body over ServerOptions::max_body_bytes is refused with 413
//     PayloadTooLarge before it is read (streaming handlers excepted).
//
// Request bodies are buffered whole for Handler (up to max_body_bytes) and
// read incrementally by a StreamHandler; responses are buffered, streamed or
// read from a file as they are sent. A request whose body is left unread
// (refused, or ignored by a streaming handler) closes its connection after
// the response, so the rest is never parsed as a request. "Expect:
// 100-continue" is answered only when the body will be read.
//
// Boost stays out of this header: requests and responses are our own
// small structs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/value.h"
#include "atcr/net/http_client.h"
#include "atcr/xrpc/error.h"
#include "atcr/version.h"

namespace atcr::xrpc {

struct ServerRequest {
  std::string method;  // "GET", "HEAD", "POST", ...
  std::string path;    // without the query string
  // The NSID for XRPC methods; empty for plain routes.
  std::string nsid;
  // Decoded query parameters in order; a key repeats for array parameters.
  std::vector<std::pair<std::string, std::string>> params;
  net::Headers headers;  // names lowercased
  // Valid during the handler call only (it points into the server's buffer).
  std::string_view body;
  // Plain routes: the pattern's capture groups (path_params[0] is the first).
  std::vector<std::string> path_params;
  std::string remote_addr;
  // What the request was routed by: "/xrpc/<nsid>" for a registered XRPC
  // method, a plain route's pattern; "" when nothing matched. A bounded
  // set, unlike `path` (metrics label requests with it).
  std::string route;

  // The first header with this (case-insensitive) name, or "".
  std::string header(std::string_view name) const;
  // The bare media type: "application/json" for "Application/JSON; charset=utf-8".
  std::string content_type() const;

  std::optional<std::string> param(std::string_view name) const;
  std::vector<std::string> param_all(std::string_view name) const;
  // These throw InvalidRequest (400) naming the parameter when it is
  // missing or malformed, so handlers need no error plumbing of their own.
  std::string required_param(std::string_view name) const;
  std::optional<std::int64_t> int_param(std::string_view name, std::int64_t min,
                                        std::int64_t max) const;
  bool bool_param(std::string_view name, bool fallback) const;  // "true" / "false"

  // The body as atproto JSON; InvalidRequest unless it is a JSON object sent
  // as application/json.
  Value json() const;
  // The body as HTML form fields (application/x-www-form-urlencoded),
  // decoded, in order. InvalidRequest for another content type or a
  // malformed body.
  std::vector<std::pair<std::string, std::string>> form() const;
  // The token of "Authorization: Bearer <token>"; "" when there is no
  // Authorization header; AuthRequired (401) for any other scheme.
  std::string bearer_token() const;
};

struct ServerResponse {
  int status = 200;
  net::Headers headers;
  std::string content_type;  // "" sends none (an empty body needs none)
  std::string body;
  // Set by streamed() and file(); `body` is then unused.
  std::function<void(const std::function<bool(BytesView)>& write)> stream;
  std::optional<std::uint64_t> stream_length;
  std::string file_path;
  std::uint64_t file_offset = 0;
  // HEAD: no body is ever sent, but Content-Length is kept (stream_length,
  // the file length, the body's size, or a handler's own Content-Length
  // header on an empty body), so HEAD can report a blob's size unread.

  static ServerResponse json(const Value& value, int status = 200);
  // Already-serialised JSON.
  static ServerResponse json_text(std::string json, int status = 200);
  static ServerResponse bytes(BytesView data, std::string content_type, int status = 200);
  static ServerResponse text(std::string text, std::string content_type = "text/plain; charset=utf-8",
                             int status = 200);
  static ServerResponse empty(int status = 200);
  // A body produced while it is sent: `stream` is called once with a writer
  // that returns false when the client has gone (stop writing then).
  // `length` becomes Content-Length; nullopt sends it chunked.
  static ServerResponse streamed(std::optional<std::uint64_t> length, std::string content_type,
                                 std::function<void(const std::function<bool(BytesView)>& write)> stream,
                                 int status = 200);
  // `length` bytes of the file at `path` from `offset`, read in pieces as
  // they are sent. The file is opened when the response is sent: if that
  // fails the answer is a 500; if it turns out shorter than `length`, the
  // connection drops mid-body.
  static ServerResponse file(std::string path, std::uint64_t offset, std::uint64_t length,
                             std::string content_type, int status = 200);
  // {"error": error, "message": message}, the XRPC error body.
  static ServerResponse error(int status, std::string_view error, std::string_view message);

  ServerResponse& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using Handler = std::function<ServerResponse(const ServerRequest&)>;

// A request body read as it arrives, for streaming handlers (blob uploads
// of any size). ServerRequest::body is empty for those.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Fills a prefix of `buffer` and returns how many bytes it wrote; 0 once
  // the body is exhausted. Throws atcr::Error if the client disconnects or
  // sends nothing for ServerOptions::read_timeout.
  virtual std::size_t read(std::span<std::uint8_t> buffer) = 0;
  // The declared Content-Length; nullopt for a chunked body.
  virtual std::optional<std::uint64_t> content_length() const = 0;
};

// A handler that reads the body itself. If it answers without reading the
// body to its end, the server closes the connection after the response
// (the unread rest must never be parsed as the next request).
using StreamHandler = std::function<ServerResponse(const ServerRequest&, BodyReader&)>;

// One side of an accepted WebSocket (an XRPC subscription).
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // Each sends one message; false once the peer is gone, the socket was
  // closed, or the server is stopping. Safe from one thread at a time.
  virtual bool send_binary(BytesView message) = 0;
  virtual bool send_text(std::string_view message) = 0;
  // Sends a close frame (1000 normal, 1008 policy violation, 1011 error).
  virtual void close(std::uint16_t code = 1000, std::string_view reason = {}) = 0;
  // True once the peer closed, the connection broke, or XrpcServer::stop()
  // began: a handler's loop ends when this turns true.
  virtual bool closed() const = 0;
  // Blocks until closed() or `timeout` passes; returns closed().
  virtual bool wait_closed(std::chrono::milliseconds timeout) = 0;
  // The next data message from the peer (text or binary, as bytes), waiting
  // up to `timeout`; nullopt on timeout or once closed() with nothing
  // queued. Only for subscriptions registered with
  // SubscriptionOptions::max_incoming_bytes; others discard what the
  // client sends. A message over that size closes the socket (1009).
  // From the handler's thread. (The default, for sockets that receive
  // nothing, e.g. tests' fakes: waits, then nullopt.)
  virtual std::optional<std::string> receive(std::chrono::milliseconds timeout) {
    wait_closed(timeout);
    return std::nullopt;
  }
};

// Runs on the connection's thread for the life of the socket; the socket is
// closed (1000, or 1001 when the server is stopping) when it returns, or
// 1011 if it throws. Data frames from the client are discarded (unless the
// subscription receives them, see SubscriptionOptions); pings and the
// closing handshake are answered.
using SocketHandler = std::function<void(const ServerRequest&, WebSocket&)>;

struct SubscriptionOptions {
  // Runs before the upgrade: throwing an XrpcError refuses it as an HTTP
  // response (e.g. 401 for a wrong secret), so a refused client never gets
  // a socket.
  std::function<void(const ServerRequest&)> authorize;
  // > 0: the client's data messages up to this size are queued for
  // WebSocket::receive() (a two-way protocol); 0: discarded.
  std::size_t max_incoming_bytes = 0;
};

// One line per request, for the log.
struct RequestLog {
  std::string method;
  std::string path;  // without the query string (it may carry secrets)
  std::string nsid;  // XRPC requests only
  int status = 0;
  std::chrono::microseconds latency{0};
  std::string remote_addr;
  std::string route;  // ServerRequest::route
  // The request body's declared (or buffered) size, and the response
  // body's (0 for HEAD): what metrics count as bytes in and out.
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  // For 500s from a handler's exception: what it said. Logged, not sent.
  std::string internal_error;
};
using Logger = std::function<void(const RequestLog&)>;

// "GET /xrpc/com.example.foo 200 1.234ms 127.0.0.1" (+ " error: ...") on stderr.
Logger stderr_logger();

struct ServerOptions {
  // Loopback by default; serving other hosts is a deliberate choice.
  std::string host = "127.0.0.1";
  int port = 0;  // 0: an ephemeral port, see XrpcServer::port()
  // For buffered handlers (Handler); StreamHandlers enforce their own.
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  // Unused since connections have threads of their own (max_connections
  // bounds them); kept so existing configurations still compile.
  std::size_t threads = 16;
  // Open connections (each has a thread). Beyond it a new connection is
  // answered 503 NotEnoughResources and closed at once.
  std::size_t max_connections = 1024;
  // Each read of a request body (and a WebSocket's silence: a quiet peer is
  // pinged, and dropped after this long without an answer).
  std::chrono::seconds read_timeout{30};
  // Each write of a response (or of a WebSocket message).
  std::chrono::seconds write_timeout{30};
  // How long a connection may wait between requests, and how long a
  // request's header may take to arrive whole (so a client trickling a
  // header, slowloris-style, is dropped too). stop() closes idle
  // connections at once.
  std::chrono::seconds idle_timeout{5};
  // Reported by /xrpc/_health.
  std::string version = ATCR_VERSION;
  Logger logger = stderr_logger();  // nullptr: no logging
};

class XrpcServer {
 public:
  explicit XrpcServer(ServerOptions options = {});
  ~XrpcServer();  // stop()
  XrpcServer(const XrpcServer&) = delete;
  XrpcServer& operator=(const XrpcServer&) = delete;

  // Registration happens before start(); afterwards it throws
  // std::logic_error (the route tables are read without locks). Each throws
  // ParseError for an invalid NSID and std::logic_error for a duplicate.
  void query(std::string_view nsid, Handler handler);      // GET and HEAD
  void procedure(std::string_view nsid, Handler handler);  // POST
  // An XRPC method on another HTTP method (e.g. ATCR's PUT uploadPart).
  void method(std::string_view http_method, std::string_view nsid, Handler handler);
  // A plain HTTP route: `pattern` is an ECMAScript regex that must match the
  // whole path, e.g. "/v2/(.+)/blobs/(sha256:[0-9a-f]{64})". Routes are
  // tried in registration order. A GET route also answers HEAD. A path that
  // matches some route but not the method gets 405 with an Allow header; a
  // path no route matches gets 404 NotFound. Paths under /xrpc/ are XRPC's.
  // A bad pattern throws std::regex_error.
  void route(std::string_view http_method, std::string_view pattern, Handler handler);
  // The same with a handler that streams the request body (no
  // max_body_bytes limit applies: the handler enforces its own).
  void stream_route(std::string_view http_method, std::string_view pattern, StreamHandler handler);
  void stream_method(std::string_view http_method, std::string_view nsid, StreamHandler handler);
  // An XRPC subscription: GET /xrpc/<nsid> upgraded to a WebSocket. A plain
  // GET without the upgrade is answered 426. Errors the handler wants the
  // client to see go as frames (atproto event streams send an error frame,
  // then close).
  void subscription(std::string_view nsid, SocketHandler handler);
  void subscription(std::string_view nsid, SocketHandler handler, SubscriptionOptions options);

  // Binds and starts serving on background threads. Throws atcr::Error if
  // the address cannot be bound. Once per server, even after a failure
  // (std::logic_error otherwise): make a new server to try again.
  void start();
  // Stops accepting, lets in-flight requests finish, then returns.
  // Idempotent. Not from a handler: it waits for the handler's own thread.
  void stop();
  bool running() const;

  // The bound port (useful with port 0); 0 before start().
  int port() const;
  // "http://127.0.0.1:<port>"
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::xrpc

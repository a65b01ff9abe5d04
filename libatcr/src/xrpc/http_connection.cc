// The HTTP/1.1 request loop of one connection, on Beast's parser.
//
// Each request is read in two steps. First the header alone (bounded by
// kMaxHeaderBytes and ServerOptions::idle_timeout); the route it resolves
// to decides how the body is read: buffered up to max_body_bytes for plain
// handlers, pulled by the handler through a BodyReader for streaming ones,
// not at all for a WebSocket upgrade. A body left unread (refused early,
// or ignored by a streaming handler) is never parsed as the next request:
// the connection closes after the response.
#include "xrpc/http_connection.h"

#include <fmt/core.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "xrpc/request_log.h"
#include "xrpc/request_target.h"
#include "xrpc/response_writer.h"
#include "xrpc/router.h"
#include "xrpc/stop_relay.h"
#include "xrpc/sync_stream.h"
#include "xrpc/websocket_session.h"
#include "util/text.h"

namespace atcr::xrpc {

namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// When a connection closes with a request body left unread, what the peer
// still sends is drained for at most this long / this much (see
// SyncStream::lingering_close).
constexpr auto kLingerTime = std::chrono::milliseconds(500);
constexpr std::size_t kLingerBytes = 1024 * 1024;
// Bodies are read through the connection's buffer; Beast reads no more
// than its free capacity at a time, so a small buffer means many small
// reads (512 bytes after a short header).
constexpr std::size_t kBodyReadBuffer = 64 * 1024;

// Read errors that just mean the peer left or went quiet: no answer is due.
bool is_disconnect(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == beast::error::timeout || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message;
}

using HeaderParser = http::request_parser<http::empty_body>;
using StreamParser = http::request_parser<http::buffer_body>;
using BufferedParser = http::request_parser<http::string_body>;

// BodyReader over the connection: each read() pulls what the socket has,
// up to the caller's buffer, through Beast's parser (which undoes chunked
// transfer-encoding).
class SocketBodyReader final : public BodyReader {
 public:
  SocketBodyReader(SyncStream& io, beast::flat_buffer& buffer, StreamParser& parser,
                   const ServerOptions& options, std::function<void()> send_continue)
      : io_(io),
        buffer_(buffer),
        parser_(parser),
        options_(options),
        send_continue_(std::move(send_continue)) {}

  std::size_t read(std::span<std::uint8_t> out) override {
    if (broken_) throw Error("request body: the connection already failed");
    if (parser_.is_done() || out.empty()) return 0;
    if (send_continue_) {
      // The client holds the body back until it sees 100 Continue; it is
      // sent when the handler first asks for the body, so a handler that
      // refuses without reading costs the client no upload.
      auto send = std::move(send_continue_);
      send_continue_ = nullptr;
      send();
    }
    for (;;) {
      auto& body = parser_.get().body();
      body.data = out.data();
      body.size = out.size();
      error_code ec = io_.run(options_.read_timeout, [&](auto handler) {
        http::async_read_some(io_.stream(), buffer_, parser_, handler);
      });
      std::size_t n = out.size() - body.size;
      body.data = nullptr;
      body.size = 0;
      // need_buffer: the caller's buffer is full.
      if (ec && ec != http::error::need_buffer) {
        broken_ = true;
        disconnected_ = is_disconnect(ec);
        if (disconnected_)
          throw Error(fmt::format("request body: the client went away or stalled ({})",
                                  ec.message()));
        throw invalid_request(fmt::format("malformed request body: {}", ec.message()));
      }
      if (n > 0 || parser_.is_done()) return n;
    }
  }

  std::optional<std::uint64_t> content_length() const override {
    if (parser_.chunked()) return std::nullopt;
    return parser_.content_length().value_or(0);
  }

  // The client left or stalled: nothing more can be sent to it.
  bool disconnected() const { return disconnected_; }

 private:
  SyncStream& io_;
  beast::flat_buffer& buffer_;
  StreamParser& parser_;
  const ServerOptions& options_;
  std::function<void()> send_continue_;
  bool broken_ = false;
  bool disconnected_ = false;
};

}  // namespace

struct HttpConnection::Impl {
  const ServerContext& server;
  const ServerOptions& options;
  SyncStream io;
  beast::flat_buffer buffer;
  std::string remote_addr;
  StopRelay stop;
  // Only touched on the connection's thread (posted interrupts run there
  // too, inside io.run()).
  bool waiting_for_request = false;

  Impl(const ServerContext& s, std::unique_ptr<asio::io_context> context,
       asio::ip::tcp::socket socket)
      : server(s), options(s.options), io(std::move(context), std::move(socket)) {
    error_code ec;
    auto endpoint = io.stream().socket().remote_endpoint(ec);
    if (!ec) remote_addr = endpoint.address().to_string();
  }

  void serve();
  // Reads and answers one request; false when the connection is done.
  bool serve_one();

  // The state of the request being answered.
  struct Exchange {
    HeaderParser header;
    ServerRequest req;
    // A body was announced and not (entirely) read: the connection cannot
    // carry another request.
    bool body_pending = false;
    // The connection failed while reading the body: nothing more is sent.
    bool broken = false;
    // The connection became a WebSocket (already answered and closed).
    bool upgraded = false;
    int upgrade_status = 0;
    std::string internal_error;
    // Holds a buffered request body; req.body points into it.
    std::optional<BufferedParser> body_parser;
  };

  // The request's header, within idle_timeout; false (answered or not, as
  // is due) when there is none to serve.
  bool read_header(Exchange& x);
  // x.req's method, address and headers, from the header read.
  void take_request(Exchange& x);
  // Writes the response and logs it; false when the connection is done.
  bool send_response(Exchange& x, ServerResponse& res, ResponseFraming framing, Clock::time_point start);
  ServerResponse dispatch(Exchange& x);
  void read_buffered_body(Exchange& x);
  ServerResponse run_stream_handler(Exchange& x, const StreamHandler& handler);
  void send_continue(unsigned version);
  bool wants_continue(const Exchange& x) const;
  void answer_and_close(int status, std::string_view message);
  void log(const Exchange& x, int status, Clock::time_point start, std::uint64_t bytes_out = 0);
};

HttpConnection::HttpConnection(const ServerContext& server,
                               std::unique_ptr<asio::io_context> context,
                               asio::ip::tcp::socket socket)
    : impl_(std::make_unique<Impl>(server, std::move(context), std::move(socket))) {}

HttpConnection::~HttpConnection() = default;

void HttpConnection::serve() { impl_->serve(); }

void HttpConnection::request_stop() { impl_->stop.request(); }

void HttpConnection::Impl::serve() {
  // While the connection waits for a request, a stop closes it at once.
  stop.set_action([this] {
    asio::post(io.context(), [this] {
      if (waiting_for_request) io.stream().cancel();
    });
  });
  while (serve_one()) {
  }
  io.close();
}

bool HttpConnection::Impl::serve_one() {
  if (server.stopping) return false;
  Exchange x;
  if (!read_header(x)) return false;
  Clock::time_point start = Clock::now();
  // Read now: the header parser is moved into a body parser later.
  const auto& msg = x.header.get();
  const unsigned version = msg.version();
  const bool client_keep_alive = msg.keep_alive();
  const bool head = msg.method() == http::verb::head;
  take_request(x);

  ServerResponse res = respond_or_error([&] { return dispatch(x); }, x.internal_error);
  if (x.upgraded || x.broken) {
    log(x, x.upgraded ? x.upgrade_status : res.status, start);
    return false;
  }
  // HTTP/1.0 always closes: it has no chunked framing and rarely asks for
  // keep-alive; one request per connection keeps it simple and correct.
  bool keep_alive = version >= 11 && client_keep_alive && !x.body_pending && !server.stopping;
  return send_response(x, res, ResponseFraming{head, version, keep_alive}, start);
}

bool HttpConnection::Impl::read_header(Exchange& x) {
  x.header.header_limit(kMaxHeaderBytes);
  // Body sizes are checked once the route is known (streaming routes have
  // no limit), not by the header parser.
  x.header.body_limit(boost::none);

  // The whole header must arrive within idle_timeout: an idle keep-alive
  // connection and a client dribbling a header (slowloris) both end there.
  waiting_for_request = true;
  error_code ec = io.run(options.idle_timeout, [&](auto handler) {
    http::async_read_header(io.stream(), buffer, x.header, handler);
  });
  waiting_for_request = false;
  if (ec == http::error::header_limit) {
    answer_and_close(431, fmt::format("request header exceeds {} bytes", kMaxHeaderBytes));
    return false;
  }
  if (ec) {
    // A request cut short or timed out gets no answer; a malformed one
    // gets a 400 in the XRPC format.
    if (!is_disconnect(ec) && buffer.size() > 0)
      answer_and_close(400, fmt::format("malformed request: {}", ec.message()));
    return false;
  }
  return true;
}

void HttpConnection::Impl::take_request(Exchange& x) {
  const auto& msg = x.header.get();
  x.req.method = std::string(msg.method_string());
  x.req.remote_addr = remote_addr;
  for (const auto& field : msg)
    x.req.headers.emplace_back(util::ascii_lower(field.name_string()), std::string(field.value()));
  x.body_pending = !x.header.is_done();
}

bool HttpConnection::Impl::send_response(Exchange& x, ServerResponse& res, ResponseFraming framing,
                                         Clock::time_point start) {
  const std::uint64_t bytes_out = framing.head ? 0 : res.stream_length.value_or(res.body.size());
  bool sent = write_response(io, options, res, framing, x.internal_error);
  log(x, res.status, start, bytes_out);
  if (!sent) return false;
  if (framing.keep_alive) return true;
  if (x.body_pending)
    io.lingering_close(kLingerTime, kLingerBytes);
  else
    io.close();
  return false;
}

ServerResponse HttpConnection::Impl::dispatch(Exchange& x) {
  ServerRequest& req = x.req;
  if (!is_supported_method(req.method))
    throw invalid_request(fmt::format("unsupported HTTP method {}", req.method));
  RequestTarget target = parse_request_target(x.header.get().target());
  req.path = std::move(target.path);
  req.params = std::move(target.params);

  if (x.body_pending && !is_body_method(req.method))
    throw invalid_request(fmt::format("{} requests take no body", req.method));
  // Neither XRPC nor the OCI distribution API uses form uploads.
  if (req.header("content-type").starts_with("multipart/form-data"))
    throw invalid_request("multipart/form-data bodies are not supported");

  RouteMatch match = server.router.resolve(req);
  if (match.response) return std::move(*match.response);

  if (match.socket_handler) {
    if (match.subscription_options->authorize) match.subscription_options->authorize(req);
    if (!beast::websocket::is_upgrade(x.header.get()))
      return ServerResponse::error(426, "InvalidRequest",
                                   fmt::format("{} is a subscription: connect with a WebSocket",
                                               req.nsid))
          .header("Upgrade", "websocket");
    x.upgraded = true;
    x.upgrade_status = serve_websocket(io, options, *match.subscription_options, x.header.get(), req,
                                       *match.socket_handler, stop, x.internal_error);
    return ServerResponse::empty(x.upgrade_status);
  }
  if (match.stream_handler) return run_stream_handler(x, *match.stream_handler);

  if (x.body_pending) read_buffered_body(x);
  return (*match.handler)(req);
}

void HttpConnection::Impl::read_buffered_body(Exchange& x) {
  auto declared = x.header.content_length();
  if (declared && *declared > options.max_body_bytes)
    throw payload_too_large(fmt::format("request body of {} bytes exceeds {} bytes", *declared,
                                        options.max_body_bytes));
  if (wants_continue(x)) send_continue(x.header.get().version());
  buffer.reserve(kBodyReadBuffer);
  x.body_parser.emplace(std::move(x.header));
  x.body_parser->body_limit(options.max_body_bytes);
  error_code ec = io.run(options.read_timeout, [&](auto handler) {
    http::async_read(io.stream(), buffer, *x.body_parser, handler);
  });
  if (ec == http::error::body_limit)
    throw payload_too_large(
        fmt::format("request body exceeds {} bytes", options.max_body_bytes));
  if (ec) {
    x.broken = is_disconnect(ec);
    throw invalid_request(fmt::format("could not read the request body: {}", ec.message()));
  }
  x.body_pending = false;
  x.req.body = x.body_parser->get().body();
}

ServerResponse HttpConnection::Impl::run_stream_handler(Exchange& x,
                                                        const StreamHandler& handler) {
  unsigned version = x.header.get().version();
  std::function<void()> continue_sender;
  if (wants_continue(x)) continue_sender = [this, version] { send_continue(version); };
  buffer.reserve(kBodyReadBuffer);
  StreamParser parser(std::move(x.header));
  parser.body_limit(boost::none);  // the handler enforces its own
  SocketBodyReader reader(io, buffer, parser, options, std::move(continue_sender));
  // Whatever the handler does, the parser says afterwards whether the body
  // was read to its end.
  struct Settle {
    Exchange& x;
    StreamParser& parser;
    SocketBodyReader& reader;
    ~Settle() {
      x.body_pending = !parser.is_done();
      x.broken = reader.disconnected();
    }
  } settle{x, parser, reader};
  return handler(x.req, reader);
}

bool HttpConnection::Impl::wants_continue(const Exchange& x) const {
  const auto& msg = x.header.get();
  return msg.version() >= 11 && x.body_pending &&
         util::iequals_ascii(msg[http::field::expect], "100-continue");
}

void HttpConnection::Impl::send_continue(unsigned version) {
  http::response<http::empty_body> interim{http::status::continue_, version};
  error_code ec = io.run(options.write_timeout, [&](auto handler) {
    http::async_write(io.stream(), interim, handler);
  });
  if (ec) throw Error(fmt::format("sending 100 Continue: {}", ec.message()));
}

// For requests that never reached routing (unparseable, header too large).
void HttpConnection::Impl::answer_and_close(int status, std::string_view message) {
  ServerResponse res = ServerResponse::error(status, default_error_name(status), message);
  if (status == 431) res = ServerResponse::error(431, "RequestHeaderFieldsTooLarge", message);
  std::string internal_error;
  write_response(io, options, res, ResponseFraming{false, 11, false}, internal_error);
  io.lingering_close(kLingerTime, kLingerBytes);
  RequestLog entry;
  entry.status = status;
  entry.remote_addr = remote_addr;
  emit_log(options.logger, entry);
}

void HttpConnection::Impl::log(const Exchange& x, int status, Clock::time_point start, std::uint64_t bytes_out) {
  if (!options.logger) return;
  RequestLog entry;
  entry.method = x.req.method;
  entry.path = x.req.path;
  entry.nsid = x.req.nsid;
  entry.route = x.req.route;
  entry.bytes_out = bytes_out;
  // The header parser may have moved into a body parser: the copy of
  // the header in req says the declared length.
  entry.bytes_in = x.req.body.size();
  if (std::string declared = x.req.header("content-length"); !declared.empty() && entry.bytes_in == 0)
    entry.bytes_in = std::strtoull(declared.c_str(), nullptr, 10);
  entry.status = status;
  entry.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  entry.remote_addr = remote_addr;
  entry.internal_error = x.internal_error;
  emit_log(options.logger, entry);
}

}  // namespace atcr::xrpc

// The WebSocket client on Beast.
//
// The client owns an io_context that only the calling thread runs: each
// operation is started asynchronously and the context is run until it
// completes or its deadline passes. That gives blocking callers deadlines
// without closing the stream, so receive() can time out and resume later
// with the same read still pending (a Beast websocket read cannot be
// cancelled without failing the stream). interrupt() posts a socket close
// into the context from any thread.
#include "atcr/xrpc/websocket_client.h"

#include <fmt/core.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <mutex>

namespace atcr::xrpc {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

struct Target {
  bool tls = false;
  std::string host;         // without brackets
  std::string port;
  std::string host_header;  // host[:port] as the URL wrote it
  std::string path;         // path and query, at least "/"
  std::string display;      // the URL for messages, without credentials
};

Target parse_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return net::HttpError(fmt::format("websocket: bad URL: {}", why));
  };
  Target t;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) throw bad("no scheme");
  std::string_view scheme = url.substr(0, scheme_end);
  if (beast::iequals(scheme, "wss") || beast::iequals(scheme, "https")) {
    t.tls = true;
  } else if (!beast::iequals(scheme, "ws") && !beast::iequals(scheme, "http")) {
    throw bad("scheme is not ws, wss, http or https");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view path = authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
  if (auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  if (authority.find('@') != std::string_view::npos) throw bad("credentials in the URL (use a header)");
  if (authority.empty()) throw bad("no host");
  t.host_header = std::string(authority);
  std::string_view port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw bad("unterminated IPv6 address");
    t.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw bad("junk after IPv6 address");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    t.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (t.host.empty()) throw bad("no host");
  for (char c : t.host + std::string(path))
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) throw bad("control character or space");
  if (port.empty()) {
    t.port = t.tls ? "443" : "80";
  } else {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535)
      throw bad("bad port");
    t.port = std::string(port);
  }
  t.path = path.empty() || path.front() == '?' ? "/" + std::string(path) : std::string(path);
  t.display = std::string(t.tls ? "wss" : "ws") + "://" + t.host_header + t.path;
  return t;
}

// Header names the client sets itself and a caller must not override.
bool reserved_header(std::string_view name) {
  for (std::string_view own : {"host", "upgrade", "connection"})
    if (beast::iequals(name, own)) return true;
  return name.size() >= 14 && beast::iequals(name.substr(0, 14), "sec-websocket-");
}

template <class NextLayer>
class Client final : public WebSocketClient {
 public:
  using Ws = websocket::stream<NextLayer>;

  Client(Target target, const WebSocketOptions& options) : target_(std::move(target)), options_(options) {}

  ~Client() override { drop(); }

  // Only for TLS: the stream is built on a context that lives as long.
  void make_stream(asio::ssl::context* tls) {
    if constexpr (std::is_same_v<NextLayer, beast::tcp_stream>) {
      (void)tls;
      ws_.emplace(context_);
    } else {
      ws_.emplace(context_, *tls);
    }
  }

  void connect() {
    Clock::time_point deadline = Clock::now() + options_.connect_timeout;
    tcp::resolver resolver(context_);
    tcp::resolver::results_type endpoints;
    error_code ec = run_until(deadline, [&](auto done) {
      resolver.async_resolve(target_.host, target_.port, [&, done](error_code e, tcp::resolver::results_type r) {
        endpoints = std::move(r);
        done(e);
      });
    }, [&] { resolver.cancel(); });
    if (ec) fail("cannot resolve host", ec);

    auto& lowest = beast::get_lowest_layer(*ws_);
    lowest.expires_at(deadline);
    ec = run_until(deadline, [&](auto done) {
      lowest.async_connect(endpoints, [done](error_code e, const tcp::endpoint&) { done(e); });
    });
    if (ec) fail("cannot connect", ec);

    if constexpr (!std::is_same_v<NextLayer, beast::tcp_stream>) {
      auto& tls = ws_->next_layer();
      if (!SSL_set_tlsext_host_name(tls.native_handle(), target_.host.c_str()))
        throw net::HttpError(fmt::format("websocket: {}: cannot set TLS server name", target_.display));
      tls.set_verify_mode(asio::ssl::verify_peer);
      tls.set_verify_callback(asio::ssl::host_name_verification(target_.host));
      ec = run_until(deadline, [&](auto done) {
        tls.async_handshake(asio::ssl::stream_base::client, [done](error_code e) { done(e); });
      });
      if (ec) fail("TLS handshake failed", ec);
    }

    // From here the websocket's own timers apply.
    lowest.expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::max<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(1));
    timeouts.idle_timeout = options_.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_->set_option(timeouts);
    ws_->read_message_max(options_.max_message_bytes);
    ws_->set_option(websocket::stream_base::decorator([headers = options_.headers](websocket::request_type& req) {
      req.set(http::field::user_agent, "atcr");
      for (const auto& [name, value] : headers)
        if (!reserved_header(name)) req.set(name, value);
    }));
    websocket::response_type response;
    ec = run_until(deadline, [&](auto done) {
      ws_->async_handshake(response, target_.host_header, target_.path, [done](error_code e) { done(e); });
    });
    if (ec == websocket::error::upgrade_declined)
      throw net::HttpError(fmt::format("websocket: {}: upgrade refused: HTTP {}", target_.display,
                                       response.result_int()));
    if (ec) fail("upgrade failed", ec);
    open_ = true;
  }

  std::optional<WebSocketMessage> receive(std::optional<std::chrono::milliseconds> wait) override {
    if (interrupted_) return std::nullopt;
    if (!open_) {
      if (peer_closed_) return std::nullopt;
      throw net::HttpError(fmt::format("websocket: {}: not connected", target_.display));
    }
    if (!read_pending_) start_read();
    std::optional<Clock::time_point> deadline;
    if (wait) deadline = Clock::now() + *wait;
    while (read_pending_) {
      if (!run_one(deadline)) return WebSocketMessage{WebSocketMessage::kTimeout, {}};
    }
    error_code ec = read_error_;
    if (ec) {
      open_ = false;
      if (interrupted_) return std::nullopt;
      // A close frame arrived (a TLS peer may then drop the connection
      // without close_notify: the close was clean all the same).
      if (ec == websocket::error::closed || ws_->reason().code != websocket::close_code::none) {
        peer_closed_ = true;
        std::lock_guard lock(mu_);
        close_code_ = ws_->reason().code;
        close_reason_ = std::string(ws_->reason().reason.c_str());
        return std::nullopt;
      }
      drop();
      fail("receive failed", ec);
    }
    WebSocketMessage message;
    message.kind = ws_->got_text() ? WebSocketMessage::kText : WebSocketMessage::kBinary;
    auto data = incoming_.data();
    const auto* begin = static_cast<const std::uint8_t*>(data.data());
    message.data.assign(begin, begin + data.size());
    incoming_.clear();
    return message;
  }

  void send_binary(BytesView message) override { send(asio::const_buffer(message.data(), message.size()), true); }

  void send_text(std::string_view message) override {
    send(asio::const_buffer(message.data(), message.size()), false);
  }

  void ping() override {
    check_usable("ping");
    error_code ec = run_until(Clock::now() + options_.write_timeout, [&](auto done) {
      ws_->async_ping({}, [done](error_code e) { done(e); });
    }, [&] { close_socket(); });
    if (ec) {
      open_ = false;
      fail("ping failed", ec);
    }
  }

  void close(std::uint16_t code, std::string_view reason) override {
    if (!open_ || interrupted_) {
      drop();
      return;
    }
    open_ = false;
    websocket::close_reason why(code);
    why.reason.assign(reason.data(), std::min<std::size_t>(reason.size(), why.reason.max_size()));
    // async_close reads up to the peer's close frame itself unless a read
    // is pending, which then completes with `closed`.
    run_until(Clock::now() + options_.write_timeout, [&](auto done) {
      ws_->async_close(why, [done](error_code e) { done(e); });
    }, [&] { close_socket(); });
    drop();
  }

  void interrupt() override {
    interrupted_ = true;
    asio::post(context_, [this] { close_socket(); });
  }

  std::uint16_t close_code() const override {
    std::lock_guard lock(mu_);
    return close_code_;
  }

  std::string close_reason() const override {
    std::lock_guard lock(mu_);
    return close_reason_;
  }

 private:
  [[noreturn]] void fail(std::string_view what, error_code ec) {
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      throw net::HttpError(fmt::format("websocket: {}: {}: timed out", target_.display, what));
    }
    throw net::HttpError(fmt::format("websocket: {}: {}: {}", target_.display, what, ec.message()));
  }

  void check_usable(std::string_view what) {
    if (interrupted_) throw net::HttpError(fmt::format("websocket: {}: {}: interrupted", target_.display, what));
    if (!open_) throw net::HttpError(fmt::format("websocket: {}: {}: not connected", target_.display, what));
  }

  void start_read() {
    read_pending_ = true;
    ws_->async_read(incoming_, [this](error_code ec, std::size_t) {
      read_error_ = ec;
      read_pending_ = false;
    });
  }

  void send(asio::const_buffer message, bool binary) {
    check_usable("send");
    error_code ec = run_until(Clock::now() + options_.write_timeout, [&](auto done) {
      ws_->binary(binary);
      ws_->async_write(message, [done](error_code e, std::size_t) { done(e); });
    }, [&] { close_socket(); });
    if (ec) {
      open_ = false;
      fail("send failed", ec);
    }
  }

  // Runs one handler; false if `deadline` passed first.
  bool run_one(std::optional<Clock::time_point> deadline) {
    if (context_.stopped()) context_.restart();
    if (!deadline) {
      context_.run_one();
      return true;
    }
    if (Clock::now() >= *deadline) return false;
    context_.run_one_until(*deadline);
    return true;
  }

  // Starts an operation (`start` gets a done(error_code) callback) and runs
  // the context until it completes. Past `deadline`, `on_timeout` cancels it
  // (by default the socket is closed) and the result is beast's timeout.
  template <class Start, class OnTimeout>
  error_code run_until(Clock::time_point deadline, Start&& start, OnTimeout&& on_timeout) {
    bool finished = false;
    error_code result;
    start([&finished, &result](error_code e) {
      result = e;
      finished = true;
    });
    bool timed_out = false;
    while (!finished) {
      if (!timed_out && !run_one(deadline)) {
        timed_out = true;
        on_timeout();
      } else if (timed_out) {
        run_one(std::nullopt);
      }
    }
    if (timed_out && result) return beast::error::timeout;
    return result;
  }

  template <class Start>
  error_code run_until(Clock::time_point deadline, Start&& start) {
    return run_until(deadline, std::forward<Start>(start), [this] { close_socket(); });
  }

  void close_socket() {
    if (!ws_) return;
    error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
  }

  // Closes the socket and lets what was pending finish (it fails at once).
  void drop() {
    open_ = false;
    close_socket();
    while (read_pending_) run_one(std::nullopt);
  }

  Target target_;
  WebSocketOptions options_;
  asio::io_context context_{1};
  std::optional<Ws> ws_;
  beast::flat_buffer incoming_;
  bool open_ = false;
  bool peer_closed_ = false;
  bool read_pending_ = false;
  error_code read_error_;
  std::atomic<bool> interrupted_{false};
  mutable std::mutex mu_;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
};

// A TLS client that keeps its ssl::context alive as long as the stream.
class TlsClient final : public WebSocketClient {
 public:
  TlsClient(Target target, const WebSocketOptions& options)
      : tls_(asio::ssl::context::tls_client), inner_(std::move(target), options) {
    tls_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    error_code ec;
    if (options.ca_file.empty()) {
      tls_.set_default_verify_paths(ec);
    } else {
      tls_.load_verify_file(options.ca_file, ec);
    }
    if (ec) throw net::HttpError(fmt::format("websocket: cannot load CA certificates: {}", ec.message()));
    inner_.make_stream(&tls_);
  }
  void connect() { inner_.connect(); }
  std::optional<WebSocketMessage> receive(std::optional<std::chrono::milliseconds> wait) override {
    return inner_.receive(wait);
  }
  void send_binary(BytesView message) override { inner_.send_binary(message); }
  void send_text(std::string_view message) override { inner_.send_text(message); }
  void ping() override { inner_.ping(); }
  void close(std::uint16_t code, std::string_view reason) override { inner_.close(code, reason); }
  void interrupt() override { inner_.interrupt(); }
  std::uint16_t close_code() const override { return inner_.close_code(); }
  std::string close_reason() const override { return inner_.close_reason(); }

 private:
  asio::ssl::context tls_;
  Client<beast::ssl_stream<beast::tcp_stream>> inner_;
};

}  // namespace

std::unique_ptr<WebSocketClient> WebSocketClient::connect(std::string_view url, const WebSocketOptions& options) {
  Target target = parse_url(url);
  if (target.tls) {
    auto client = std::make_unique<TlsClient>(std::move(target), options);
    client->connect();
    return client;
  }
  auto client = std::make_unique<Client<beast::tcp_stream>>(std::move(target), options);
  client->make_stream(nullptr);
  client->connect();
  return client;
}

}  // namespace atcr::xrpc

// xrpc::WebSocketClient against our own XrpcServer's subscriptions, plain
// and behind a TLS terminator (as a production relay sits behind one).
#include "atcr/xrpc/websocket_client.h"

#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "atcr/xrpc/server.h"
#include "free_port.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::xrpc;
using namespace std::chrono_literals;

namespace {

std::string ws_url(const XrpcServer& server, std::string_view nsid, std::string_view query = "") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + "/xrpc/" + std::string(nsid) + std::string(query);
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A server with the subscriptions the tests talk to.
struct Fixture {
  XrpcServer server;
  std::atomic<bool> client_closed{false};

  static ServerOptions options() {
    ServerOptions o;
    o.logger = nullptr;
    return o;
  }

  Fixture() : server(options()) {
    // Echoes the request back: a binary frame, then its headers and query as text.
    server.subscription("com.example.hello", [](const ServerRequest& req, WebSocket& ws) {
      ws.send_binary(bytes_of("\x01\x02\x03"));
      ws.send_text("auth=" + req.header("authorization") + " ua=" + req.header("user-agent") +
                   " cursor=" + req.param("cursor").value_or(""));
      ws.close(1000, "bye");
    });
    server.subscription("com.example.slow", [](const ServerRequest&, WebSocket& ws) {
      std::this_thread::sleep_for(300ms);
      ws.send_text("late");
      ws.wait_closed(10s);
    });
    server.subscription("com.example.big", [](const ServerRequest&, WebSocket& ws) {
      ws.send_binary(Bytes(4096, 7));
      ws.wait_closed(10s);
    });
    server.subscription("com.example.quiet", [this](const ServerRequest&, WebSocket& ws) {
      ws.wait_closed(10s);
      client_closed = true;
    });
    server.query("com.example.plain", [](const ServerRequest&) { return ServerResponse::json_text("{}"); });
    server.start();
  }
};

}  // namespace

TEST_CASE("websocket client: binary and text messages, request headers, the peer's close") {
  Fixture f;
  WebSocketOptions options;
  options.headers = {{"Authorization", "Bearer t0k"}, {"Host", "evil.example"}};
  auto ws = WebSocketClient::connect(ws_url(f.server, "com.example.hello", "?cursor=42"), options);
  auto first = ws->receive(5s);
  REQUIRE(first);
  CHECK(first->kind == WebSocketMessage::kBinary);
  CHECK(first->data == bytes_of("\x01\x02\x03"));
  auto second = ws->receive(5s);
  REQUIRE(second);
  CHECK(second->kind == WebSocketMessage::kText);
  CHECK(second->text() == "auth=Bearer t0k ua=atcr cursor=42");
  CHECK_FALSE(ws->receive(5s));
  CHECK(ws->close_code() == 1000);
  CHECK(ws->close_reason() == "bye");
  CHECK_FALSE(ws->receive(5s));  // stays closed
  CHECK_THROWS_AS(ws->send_text("x"), net::HttpError);
  ws->close();  // a no-op now
}

TEST_CASE("websocket client: a receive that times out leaves the connection usable") {
  Fixture f;
  auto ws = WebSocketClient::connect(ws_url(f.server, "com.example.slow"));
  auto waited = ws->receive(20ms);
  REQUIRE(waited);
  CHECK(waited->kind == WebSocketMessage::kTimeout);
  ws->ping();  // answered by the server, consumed by the next receive
  auto late = ws->receive(5s);
  REQUIRE(late);
  CHECK(late->text() == "late");
  ws->close();
}

TEST_CASE("websocket client: a message over max_message_bytes fails the connection") {
  Fixture f;
  WebSocketOptions options;
  options.max_message_bytes = 1024;
  auto ws = WebSocketClient::connect(ws_url(f.server, "com.example.big"), options);
  CHECK_THROWS_AS(ws->receive(5s), net::HttpError);
  options.max_message_bytes = 8192;
  auto roomy = WebSocketClient::connect(ws_url(f.server, "com.example.big"), options);
  auto message = roomy->receive(5s);
  REQUIRE(message);
  CHECK(message->data.size() == 4096);
}

TEST_CASE("websocket client: close() runs the closing handshake; interrupt() unblocks a receive") {
  Fixture f;
  {
    auto ws = WebSocketClient::connect(ws_url(f.server, "com.example.quiet"));
    ws->close(1001, "going");
    for (int i = 0; i < 200 && !f.client_closed; ++i) std::this_thread::sleep_for(10ms);
    CHECK(f.client_closed);
  }
  auto ws = WebSocketClient::connect(ws_url(f.server, "com.example.quiet"));
  auto started = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    ws->interrupt();
  });
  CHECK_FALSE(ws->receive());  // no bound: only interrupt() ends it
  stopper.join();
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK_THROWS_AS(ws->send_text("x"), net::HttpError);
}

TEST_CASE("websocket client: refused upgrades, unreachable hosts and bad URLs are HttpErrors") {
  Fixture f;
  auto refused = [](const std::string& url, std::string_view says) {
    try {
      WebSocketClient::connect(url);
      FAIL("connected to " << url);
    } catch (const net::HttpError& e) {
      CHECK_MESSAGE(std::string(e.what()).find(says) != std::string::npos, std::string(e.what()));
    }
  };
  refused(ws_url(f.server, "com.example.plain"), "upgrade refused: HTTP 200");
  refused(ws_url(f.server, "com.example.nothing"), "HTTP 501");
  refused("ws://127.0.0.1:" + std::to_string(test::free_port()) + "/", "cannot connect");
  refused("ftp://127.0.0.1/", "scheme");
  refused("ws://user:pw@127.0.0.1/", "credentials");
  refused("ws://127.0.0.1:99999/", "bad port");
  refused("ws:///path", "no host");
  refused("ws://127.0.0.1/a b", "control character");
  WebSocketOptions quick;
  quick.connect_timeout = 200ms;
  // 192.0.2.0/24 is TEST-NET-1: nothing answers, so the connect times out.
  auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(WebSocketClient::connect("ws://192.0.2.1:9/", quick), net::HttpError);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A TLS terminator on a free port passing every connection on to
// 127.0.0.1:<backend>, with a self-signed certificate for `name`.
class TlsRelay {
 public:
  TlsRelay(int backend, const std::string& name, const test::TempDir& dir)
      : backend_(backend), tls_(asio::ssl::context::tls_server), acceptor_(context_) {
    cert_ = (dir / (name + ".pem")).string();
    std::string key = (dir / (name + ".key")).string();
    std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=" +
                          name + " -addext subjectAltName=DNS:" + name + " -keyout " + key + " -out " + cert_ +
                          " 2>/dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
    tls_.use_certificate_chain_file(cert_);
    tls_.use_private_key_file(key, asio::ssl::context::pem);
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { context_.run(); });
  }
  ~TlsRelay() {
    context_.stop();
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  const std::string& cert() const { return cert_; }

 private:
  struct Pair {
    asio::ssl::stream<tcp::socket> front;
    tcp::socket back;
    std::array<char, 16384> up{}, down{};
    Pair(asio::io_context& c, asio::ssl::context& t) : front(c, t), back(c) {}
  };

  void accept() {
    auto pair = std::make_shared<Pair>(context_, tls_);
    acceptor_.async_accept(pair->front.next_layer(), [this, pair](boost::system::error_code ec) {
      if (ec) return;
      accept();
      pair->front.async_handshake(asio::ssl::stream_base::server, [this, pair](boost::system::error_code ec) {
        if (ec) return;
        boost::system::error_code connect_ec;
        pair->back.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), backend_), connect_ec);
        if (connect_ec) return;
        pump(pair->front, pair->back, pair->up, pair);
        pump(pair->back, pair->front, pair->down, pair);
      });
    });
  }

  template <class From, class To>
  static void pump(From& from, To& to, std::array<char, 16384>& buffer, std::shared_ptr<Pair> pair) {
    from.async_read_some(asio::buffer(buffer), [&from, &to, &buffer, pair](boost::system::error_code ec, std::size_t n) {
      if (ec) {
        // The other side's TLS ends with close_notify, as a real terminator's does.
        if constexpr (std::is_same_v<To, asio::ssl::stream<tcp::socket>>) to.async_shutdown([pair](auto) {});
        return;
      }
      asio::async_write(to, asio::buffer(buffer, n), [&from, &to, &buffer, pair](boost::system::error_code ec, std::size_t) {
        if (!ec) pump(from, to, buffer, pair);
      });
    });
  }

  int backend_;
  asio::io_context context_;
  asio::ssl::context tls_;
  tcp::acceptor acceptor_;
  std::string cert_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("websocket client: wss verifies the certificate chain and the host name") {
  Fixture f;
  test::TempDir dir("ws-tls");
  TlsRelay relay(f.server.port(), "localhost", dir);
  std::string url = "wss://localhost:" + std::to_string(relay.port()) + "/xrpc/com.example.hello";
  WebSocketOptions options;
  options.ca_file = relay.cert();
  auto ws = WebSocketClient::connect(url, options);
  auto first = ws->receive(5s);
  REQUIRE(first);
  CHECK(first->data == bytes_of("\x01\x02\x03"));
  auto second = ws->receive(5s);
  REQUIRE(second);
  CHECK(second->text().starts_with("auth="));
  CHECK_FALSE(ws->receive(5s));
  CHECK(ws->close_code() == 1000);

  // Not signed by a CA the client trusts.
  CHECK_THROWS_AS(WebSocketClient::connect(url), net::HttpError);
  // The certificate is for "localhost", not for the address.
  std::string by_address = "wss://127.0.0.1:" + std::to_string(relay.port()) + "/xrpc/com.example.hello";
  CHECK_THROWS_AS(WebSocketClient::connect(by_address, options), net::HttpError);
}

TEST_CASE("two-way subscriptions: authorize before the upgrade, receive the client's messages") {
  ServerOptions o;
  o.logger = nullptr;
  XrpcServer server(o);
  SubscriptionOptions sub;
  sub.authorize = [](const ServerRequest& req) {
    if (req.header("x-secret") != "open sesame") throw XrpcError(401, "InvalidSecret", "wrong secret");
  };
  sub.max_incoming_bytes = 1024;
  // Echoes each message back, numbered; "stop" ends the session.
  server.subscription(
      "com.example.echo",
      [](const ServerRequest&, WebSocket& ws) {
        for (int n = 1; !ws.closed();) {
          auto m = ws.receive(100ms);
          if (!m) continue;
          if (*m == "stop") return;
          ws.send_text(std::to_string(n++) + ":" + *m);
        }
      },
      sub);
  // A one-way subscription discards what the client sends.
  server.subscription("com.example.deaf", [](const ServerRequest&, WebSocket& ws) {
    CHECK_FALSE(ws.receive(300ms));
    ws.send_text("heard nothing");
    ws.wait_closed(5s);
  });
  server.start();

  CHECK_THROWS_WITH_AS(WebSocketClient::connect(ws_url(server, "com.example.echo")), doctest::Contains("401"),
                       net::HttpError);
  WebSocketOptions with_secret;
  with_secret.headers = {{"X-Secret", "open sesame"}};
  auto ws = WebSocketClient::connect(ws_url(server, "com.example.echo"), with_secret);
  // More messages than the server queues: backpressure, nothing lost.
  for (int i = 0; i < 20; ++i) ws->send_text("m" + std::to_string(i));
  for (int i = 0; i < 20; ++i) {
    auto m = ws->receive(5s);
    REQUIRE(m);
    CHECK(m->text() == std::to_string(i + 1) + ":m" + std::to_string(i));
  }
  ws->send_text(std::string(2000, 'x'));  // over max_incoming_bytes: 1009
  CHECK_FALSE(ws->receive(5s));
  CHECK(ws->close_code() == 1009);

  auto deaf = WebSocketClient::connect(ws_url(server, "com.example.deaf"));
  deaf->send_text("hello?");
  auto m = deaf->receive(5s);
  REQUIRE(m);
  CHECK(m->text() == "heard nothing");
}

// XrpcServer's transport: keep-alive, limits, 100-continue, streamed
// request and response bodies, files, WebSocket subscriptions, timeouts.
// The clients are Boost.Beast (raw control over the connection) and
// atcr::net::HttpClient (libcurl, as real clients upload).
#include <doctest/doctest.h>
#include <fmt/core.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "atcr/crypto/sha256.h"
#include "atcr/data/json.h"
#include "atcr/encoding/hex.h"
#include "atcr/net/http_client.h"
#include "atcr/xrpc/server.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::xrpc;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

ServerOptions quiet() {
  ServerOptions o;
  o.logger = nullptr;
  return o;
}

// A client connection for tests that care what happens on one socket.
struct Client {
  asio::io_context ioc;
  tcp::socket socket{ioc};
  beast::flat_buffer buffer;

  explicit Client(int port) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(port)));
    // Nothing in these tests should take long; a hang fails instead.
    timeval tv{10, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  void send_raw(std::string_view bytes) { asio::write(socket, asio::buffer(bytes)); }

  template <class Body>
  void send(http::request<Body>& req) {
    req.prepare_payload();
    http::write(socket, req);
  }

  http::response<http::string_body> receive(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    parser.body_limit(256 * 1024 * 1024);
    http::read(socket, buffer, parser);
    return parser.release();
  }

  http::response<http::string_body> get(const std::string& target, bool keep_alive = true) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    send(req);
    return receive();
  }

  // True once the server has closed the connection (EOF or reset).
  bool closed_by_server() {
    char byte;
    boost::system::error_code ec;
    std::size_t n = socket.read_some(asio::buffer(&byte, 1), ec);
    return n == 0 && ec;
  }
};

std::string error_name(const http::response<http::string_body>& res) {
  return json::parse(res.body()).at("error").as_string();
}

std::string sha256_hex(BytesView data) {
  auto digest = atcr::sha256(data);
  return hex::encode(BytesView(digest.data(), digest.size()));
}

// Deterministic, not trivially compressible bytes.
std::uint8_t pattern_byte(std::uint64_t i) { return static_cast<std::uint8_t>((i * 2654435761u) >> 13); }

}  // namespace

TEST_CASE("keep-alive: many requests on one connection, HTTP/1.0 closes") {
  XrpcServer server(quiet());
  std::atomic<int> calls{0};
  server.query("com.example.count", [&](const ServerRequest&) {
    return ServerResponse::json(Value::Map{{"n", static_cast<std::int64_t>(++calls)}});
  });
  server.start();

  Client c(server.port());
  for (int i = 1; i <= 20; ++i) {
    auto res = c.get("/xrpc/com.example.count");
    REQUIRE(res.result_int() == 200);
    CHECK(res.keep_alive());
    CHECK(json::parse(res.body()).at("n").as_integer() == i);
  }
  // Errors keep the connection too, when no body is left unread.
  CHECK(c.get("/xrpc/com.example.nothing").result_int() == 501);
  CHECK(c.get("/nowhere").result_int() == 404);
  CHECK(c.get("/xrpc/_health").result_int() == 200);
  // Connection: close is honoured.
  auto last = c.get("/xrpc/_health", false);
  CHECK(last.result_int() == 200);
  CHECK(!last.keep_alive());
  CHECK(c.closed_by_server());

  Client old(server.port());
  old.send_raw("GET /xrpc/_health HTTP/1.0\r\n\r\n");
  auto res = old.receive();
  CHECK(res.result_int() == 200);
  CHECK(res.version() == 10);
  CHECK(old.closed_by_server());

  // libcurl reuses its connection across requests as well.
  net::HttpClient curl;
  for (int i = 0; i < 5; ++i) CHECK(curl.get(server.url() + "/xrpc/_health").status == 200);
}

TEST_CASE("bodies left unread close the connection; read ones do not") {
  ServerOptions o = quiet();
  o.max_body_bytes = 1024;
  XrpcServer server(o);
  server.procedure("com.example.size", [](const ServerRequest& req) {
    return ServerResponse::json(Value::Map{{"size", static_cast<std::int64_t>(req.body.size())}});
  });
  // Reads nothing, whatever is sent.
  server.stream_route("POST", "/ignore", [](const ServerRequest&, BodyReader&) {
    return ServerResponse::text("ignored");
  });
  server.start();

  SUBCASE("a buffered body is read whole: the next request follows") {
    Client c(server.port());
    http::request<http::string_body> req{http::verb::post, "/xrpc/com.example.size", 11};
    req.set(http::field::host, "x");
    req.set(http::field::content_type, "application/octet-stream");
    req.body() = std::string(1000, 'a');
    c.send(req);
    auto res = c.receive();
    CHECK(res.result_int() == 200);
    CHECK(res.keep_alive());
    CHECK(c.get("/xrpc/_health").result_int() == 200);
  }
  SUBCASE("413 before the body: answered, then closed") {
    Client c(server.port());
    // The body would be a request of its own if it were parsed as one.
    std::string smuggled = "GET /xrpc/_health HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string body = smuggled + std::string(2000 - smuggled.size(), ' ');
    c.send_raw("POST /xrpc/com.example.size HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" +
               body);
    auto res = c.receive();
    CHECK(res.result_int() == 413);
    CHECK(error_name(res) == "PayloadTooLarge");
    CHECK(!res.keep_alive());
    CHECK(c.closed_by_server());
  }
  SUBCASE("a streaming handler that ignores its body: no desync") {
    Client c(server.port());
    std::string smuggled = "GET /xrpc/_health HTTP/1.1\r\nHost: x\r\n\r\n";
    c.send_raw("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: " +
               std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
    auto res = c.receive();
    CHECK(res.result_int() == 200);
    CHECK(res.body() == "ignored");
    CHECK(!res.keep_alive());
    CHECK(c.closed_by_server());  // and no second response
  }
  SUBCASE("header over the limit: 431") {
    Client c(server.port());
    std::string huge = "GET /xrpc/_health HTTP/1.1\r\nHost: x\r\nX-Big: " +
                       std::string(70 * 1024, 'h') + "\r\n\r\n";
    boost::system::error_code ec;
    asio::write(c.socket, asio::buffer(huge), ec);  // the server may stop reading early
    auto res = c.receive();
    CHECK(res.result_int() == 431);
    CHECK(c.closed_by_server());
  }
}

TEST_CASE("Expect: 100-continue and large uploads") {
  XrpcServer server(quiet());
  server.method("PUT", "com.example.hashBuffered", [](const ServerRequest& req) {
    return ServerResponse::json(Value::Map{{"sha256", sha256_hex(as_bytes(req.body))},
                                           {"expect", req.header("expect")}});
  });
  std::atomic<int> pieces{0};
  std::atomic<std::size_t> largest_piece{0};
  server.stream_method("PUT", "com.example.hashStream",
                       [&](const ServerRequest&, BodyReader& body) {
                         Sha256 hasher;
                         std::vector<std::uint8_t> buf(64 * 1024);
                         std::uint64_t total = 0;
                         while (std::size_t n = body.read(buf)) {
                           hasher.update(BytesView(buf.data(), n));
                           total += n;
                           ++pieces;
                           if (n > largest_piece) largest_piece = n;
                         }
                         auto digest = hasher.finish();
                         return ServerResponse::json(Value::Map{
                             {"sha256", hex::encode(BytesView(digest.data(), digest.size()))},
                             {"size", static_cast<std::int64_t>(total)},
                             {"declared", static_cast<std::int64_t>(body.content_length().value_or(0))},
                         });
                       });
  server.start();
  net::HttpOptions options;
  options.timeout = 120s;
  net::HttpClient curl(options);

  auto upload = [&](const std::string& nsid, std::uint64_t size) {
    std::uint64_t offset = 0;
    net::BodySource source{size, [&](std::span<std::uint8_t> out) {
                             std::size_t n = static_cast<std::size_t>(
                                 std::min<std::uint64_t>(out.size(), size - offset));
                             for (std::size_t i = 0; i < n; ++i) out[i] = pattern_byte(offset + i);
                             offset += n;
                             return n;
                           }};
    net::HttpRequest req;
    req.method = "PUT";
    req.url = server.url() + "/xrpc/" + nsid;
    req.headers = {{"Content-Type", "application/octet-stream"}, {"Expect", "100-continue"}};
    return curl.send_streaming(req, source, {});
  };
  auto expected_hash = [](std::uint64_t size) {
    Sha256 hasher;
    std::vector<std::uint8_t> buf(1 << 20);
    for (std::uint64_t done = 0; done < size;) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - done));
      for (std::size_t i = 0; i < n; ++i) buf[i] = pattern_byte(done + i);
      hasher.update(BytesView(buf.data(), n));
      done += n;
    }
    auto digest = hasher.finish();
    return hex::encode(BytesView(digest.data(), digest.size()));
  };

  constexpr std::uint64_t k8MiB = 8ull << 20;
  auto res = upload("com.example.hashBuffered", k8MiB);
  REQUIRE(res.status == 200);
  Value v = json::parse(res.text());
  CHECK(v.at("expect").as_string() == "100-continue");
  CHECK(v.at("sha256").as_string() == expected_hash(k8MiB));

  constexpr std::uint64_t k64MiB = 64ull << 20;
  res = upload("com.example.hashStream", k64MiB);
  REQUIRE(res.status == 200);
  v = json::parse(res.text());
  CHECK(v.at("size").as_integer() == static_cast<std::int64_t>(k64MiB));
  CHECK(v.at("declared").as_integer() == static_cast<std::int64_t>(k64MiB));
  CHECK(v.at("sha256").as_string() == expected_hash(k64MiB));
  // The body arrived in bounded pieces, never whole.
  CHECK(pieces >= 1024);
  CHECK(largest_piece <= 64 * 1024);
  MESSAGE("64 MiB arrived in " << pieces.load() << " reads");

  // Refused before the body: the final status comes instead of 100.
  Client c(server.port());
  c.send_raw(
      "PUT /xrpc/com.example.nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
      "Expect: 100-continue\r\n\r\n");
  auto refused = c.receive();
  CHECK(refused.result_int() == 501);
  CHECK(c.closed_by_server());
}

TEST_CASE("streamed request bodies: chunked, and a client that leaves") {
  XrpcServer server(quiet());
  std::mutex mu;
  std::condition_variable cv;
  std::string failure;
  server.stream_route("POST", "/echo", [&](const ServerRequest&, BodyReader& body) {
    std::string all;
    std::vector<std::uint8_t> buf(7);  // small, to cross chunk boundaries
    while (std::size_t n = body.read(buf)) all.append(reinterpret_cast<char*>(buf.data()), n);
    return ServerResponse::text(all + (body.content_length() ? "|length" : "|chunked"));
  });
  server.stream_route("POST", "/drop", [&](const ServerRequest&, BodyReader& body) {
    std::vector<std::uint8_t> buf(4096);
    try {
      while (body.read(buf) > 0) {
      }
    } catch (const Error& e) {
      std::lock_guard lock(mu);
      failure = e.what();
      cv.notify_all();
      throw;
    }
    return ServerResponse::empty();
  });
  server.start();

  Client c(server.port());
  c.send_raw(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
  auto res = c.receive();
  CHECK(res.result_int() == 200);
  CHECK(res.body() == "hello, world|chunked");
  CHECK(res.keep_alive());  // read to the end: the connection lives on
  c.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  res = c.receive();
  CHECK(res.body() == "abc|length");

  // Malformed chunking is the client's fault: 400, then close.
  Client bad(server.port());
  bad.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  res = bad.receive();
  CHECK(res.result_int() == 400);
  CHECK(bad.closed_by_server());

  {
    Client leaver(server.port());
    leaver.send_raw("POST /drop HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                    std::string(1000, 'x'));
    std::this_thread::sleep_for(50ms);
  }  // closed mid-body
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return !failure.empty(); }));
  }
  CHECK(failure.find("went away") != std::string::npos);
  // The server is unharmed.
  Client after(server.port());
  CHECK(after.get("/xrpc/_health").result_int() == 200);
}

TEST_CASE("streamed and file responses, HEAD keeps Content-Length") {
  test::TempDir dir;
  std::string path = (dir / "blob").string();
  std::string content;
  for (int i = 0; i < 1'000'000; ++i) content.push_back(static_cast<char>(pattern_byte(i)));
  std::ofstream(path, std::ios::binary) << content;

  XrpcServer server(quiet());
  std::atomic<int> stream_calls{0};
  server.route("GET", "/stream/(fixed|chunked|short|throws)", [&](const ServerRequest& req) {
    std::string kind = req.path_params.at(0);
    std::optional<std::uint64_t> length;
    if (kind == "fixed" || kind == "short") length = 30000;
    return ServerResponse::streamed(length, "application/octet-stream",
                                    [&, kind](const std::function<bool(BytesView)>& write) {
                                      ++stream_calls;
                                      std::string piece(1000, 'p');
                                      int pieces = kind == "short" ? 10 : 30;
                                      for (int i = 0; i < pieces; ++i)
                                        if (!write(as_bytes(piece))) return;
                                      if (kind == "throws") throw std::runtime_error("disk on fire");
                                    });
  });
  server.route("GET", "/file", [&](const ServerRequest& req) {
    auto offset = req.int_param("offset", 0, 1'000'000).value_or(0);
    auto length = req.int_param("length", 0, 1'000'000).value_or(1'000'000 - offset);
    return ServerResponse::file(req.param("path").value_or(path), static_cast<std::uint64_t>(offset),
                                static_cast<std::uint64_t>(length), "application/octet-stream",
                                offset > 0 ? 206 : 200);
  });
  server.route("GET", "/sized", [](const ServerRequest&) {
    return ServerResponse::empty().header("Content-Length", "12345");
  });
  server.start();

  Client c(server.port());
  auto res = c.get("/stream/fixed");
  CHECK(res.result_int() == 200);
  CHECK(res.body() == std::string(30000, 'p'));
  CHECK(res[http::field::content_length] == "30000");
  CHECK(res.keep_alive());
  res = c.get("/stream/chunked");
  CHECK(res.body() == std::string(30000, 'p'));
  CHECK(res.chunked());
  CHECK(stream_calls == 2);

  auto head = [&](const std::string& target) {
    http::request<http::empty_body> req{http::verb::head, target, 11};
    req.set(http::field::host, "x");
    c.send(req);
    return c.receive(true);
  };
  res = head("/stream/fixed");
  CHECK(res.result_int() == 200);
  CHECK(res[http::field::content_length] == "30000");
  CHECK(res.body().empty());
  CHECK(stream_calls == 2);  // HEAD never runs the stream
  res = head("/file");
  CHECK(res[http::field::content_length] == "1000000");
  res = head("/sized");
  CHECK(res[http::field::content_length] == "12345");
  res = head("/xrpc/_health");
  CHECK(res[http::field::content_length] != "");
  // The connection survived all the HEADs: no stray body bytes.
  CHECK(c.get("/xrpc/_health").result_int() == 200);

  res = c.get("/file");
  CHECK(res.result_int() == 200);
  CHECK(res.body() == content);
  res = c.get("/file?offset=123456&length=500000");
  CHECK(res.result_int() == 206);
  CHECK(res.body() == content.substr(123456, 500000));
  CHECK(res[http::field::content_length] == "500000");
  res = c.get("/file?path=/nonexistent/blob&length=10");
  CHECK(res.result_int() == 500);
  CHECK(c.get("/xrpc/_health").result_int() == 200);

  // A stream that breaks its promise cannot be answered properly: the
  // connection drops and the client sees a truncated body.
  Client s(server.port());
  http::request<http::empty_body> req{http::verb::get, "/stream/short", 11};
  req.set(http::field::host, "x");
  s.send(req);
  CHECK_THROWS(s.receive());
  Client t(server.port());
  req.target("/stream/throws");
  t.send(req);
  CHECK_THROWS(t.receive());  // chunked, never terminated
}

TEST_CASE("file responses (sendfile): large, ranged, to a slow reader, shorter than promised, a stalled reader") {
  test::TempDir dir;
  const std::string path = (dir.path() / "big").string();
  constexpr std::uint64_t kSize = 24ull << 20;  // beyond any socket buffer
  std::string content(kSize, '\0');
  for (std::uint64_t i = 0; i < kSize; ++i) content[i] = static_cast<char>(pattern_byte(i));
  std::ofstream(path, std::ios::binary) << content;

  ServerOptions o = quiet();
  o.write_timeout = 1s;
  XrpcServer server(o);
  server.route("GET", "/file", [&](const ServerRequest& req) {
    auto offset = req.int_param("offset", 0, 1ll << 40).value_or(0);
    auto length = req.int_param("length", 0, 1ll << 40).value_or(static_cast<std::int64_t>(kSize) - offset);
    return ServerResponse::file(path, static_cast<std::uint64_t>(offset), static_cast<std::uint64_t>(length),
                                "application/octet-stream", offset > 0 ? 206 : 200);
  });
  server.start();

  SUBCASE("whole and ranged, on one connection") {
    Client c(server.port());
    auto res = c.get("/file");
    CHECK(res.result_int() == 200);
    CHECK(res.body().size() == kSize);
    CHECK(res.body() == content);
    res = c.get(fmt::format("/file?offset={}&length={}", (5 << 20) + 17, 3 << 20));
    CHECK(res.result_int() == 206);
    CHECK(res.body() == content.substr((5 << 20) + 17, 3 << 20));
    CHECK(c.get("/xrpc/_health").result_int() == 200);
  }
  SUBCASE("a reader that pauses: the server waits for the socket, then goes on") {
    Client c(server.port());
    http::request<http::empty_body> req{http::verb::get, "/file", 11};
    req.set(http::field::host, "x");
    c.send(req);
    std::this_thread::sleep_for(300ms);  // the socket buffers fill up; under write_timeout
    auto res = c.receive();
    CHECK(res.body() == content);
    CHECK(c.get("/xrpc/_health").result_int() == 200);
  }
  SUBCASE("a file shorter than the response: the connection drops mid-body") {
    Client c(server.port());
    http::request<http::empty_body> req{http::verb::get, fmt::format("/file?offset={}&length=4096", kSize - 1000), 11};
    req.set(http::field::host, "x");
    c.send(req);
    CHECK_THROWS(c.receive());
  }
  SUBCASE("a reader that stops reading is dropped after write_timeout; the server stays well") {
    // The file is larger than both sockets' buffers can take (the kernel's
    // tcp_wmem and tcp_rmem maxima, 4 and 6 MiB by default).
    Client c(server.port());
    http::request<http::empty_body> req{http::verb::get, "/file", 11};
    req.set(http::field::host, "x");
    c.send(req);
    std::this_thread::sleep_for(2s);
    // What had been sent arrives, then the connection ends short of the body.
    CHECK_THROWS(c.receive());
    Client d(server.port());
    CHECK(d.get("/file?offset=1&length=10").body() == content.substr(1, 10));
  }
  auto before = std::chrono::steady_clock::now();
  server.stop();
  CHECK(std::chrono::steady_clock::now() - before < 5s);
}

TEST_CASE("WebSocket subscriptions") {
  ServerOptions o = quiet();
  XrpcServer server(o);
  constexpr int kMessages = 200;
  std::atomic<bool> handler_returned{false};
  server.subscription("com.example.subscribe", [&](const ServerRequest& req, WebSocket& ws) {
    std::int64_t cursor = req.int_param("cursor", 0, 1'000'000).value_or(0);
    for (int i = 0; i < kMessages; ++i) {
      std::string message = std::to_string(cursor + i);
      if (!ws.send_binary(as_bytes(message))) return;
    }
    // A live stream waits for more events until the server stops.
    while (!ws.wait_closed(10s)) {
    }
    handler_returned = true;
  });
  server.subscription("com.example.fails", [](const ServerRequest&, WebSocket& ws) {
    ws.send_text("about to fail");
    throw std::runtime_error("subscription broke");
  });
  server.subscription("com.example.short", [](const ServerRequest&, WebSocket& ws) {
    ws.send_binary(as_bytes(std::string("one")));
    ws.close(1008, "policy");
    CHECK(ws.closed());
    CHECK(!ws.send_binary(as_bytes(std::string("two"))));
  });
  server.start();

  auto connect = [&](asio::io_context& ioc, const std::string& target) {
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(ioc);
    ws->next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                           static_cast<unsigned short>(server.port())));
    ws->handshake("127.0.0.1", target);
    return ws;
  };

  SUBCASE("messages arrive in order; stop() ends the handler") {
    asio::io_context ioc;
    auto ws = connect(ioc, "/xrpc/com.example.subscribe?cursor=1000");
    beast::flat_buffer buffer;
    for (int i = 0; i < kMessages; ++i) {
      buffer.clear();
      ws->read(buffer);
      CHECK(ws->got_binary());
      REQUIRE(beast::buffers_to_string(buffer.data()) == std::to_string(1000 + i));
    }
    // The client keeps reading (answering the close) while the server stops.
    auto reader = std::async(std::launch::async, [&] {
      boost::system::error_code ec;
      buffer.clear();
      ws->read(buffer, ec);
      return std::make_pair(ec, ws->reason().code);
    });
    auto before = std::chrono::steady_clock::now();
    server.stop();
    auto took = std::chrono::steady_clock::now() - before;
    CHECK(handler_returned);
    auto [ec, code] = reader.get();
    CHECK(ec == websocket::error::closed);
    CHECK(code == websocket::close_code::going_away);
    MESSAGE("stop() with an open subscription took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  }
  SUBCASE("a throwing handler closes with 1011") {
    asio::io_context ioc;
    auto ws = connect(ioc, "/xrpc/com.example.fails");
    beast::flat_buffer buffer;
    ws->read(buffer);
    CHECK(ws->got_text());
    boost::system::error_code ec;
    ws->read(buffer, ec);
    CHECK(ec == websocket::error::closed);
    CHECK(ws->reason().code == websocket::close_code::internal_error);
  }
  SUBCASE("close() from the handler") {
    asio::io_context ioc;
    auto ws = connect(ioc, "/xrpc/com.example.short");
    beast::flat_buffer buffer;
    ws->read(buffer);
    CHECK(beast::buffers_to_string(buffer.data()) == "one");
    boost::system::error_code ec;
    ws->read(buffer, ec);
    CHECK(ec == websocket::error::closed);
    CHECK(ws->reason().code == websocket::close_code::policy_error);
    CHECK(std::string(ws->reason().reason.data(), ws->reason().reason.size()) == "policy");
  }
  SUBCASE("a plain GET gets 426") {
    Client c(server.port());
    auto res = c.get("/xrpc/com.example.subscribe");
    CHECK(res.result_int() == 426);
    CHECK(res[http::field::upgrade] == "websocket");
    CHECK(error_name(res) == "InvalidRequest");
  }
}

TEST_CASE("timeouts and connection limits") {
  ServerOptions o = quiet();
  o.idle_timeout = 1s;
  o.max_connections = 3;
  XrpcServer server(o);
  server.start();

  SUBCASE("slowloris: half a header, then silence, is dropped") {
    Client c(server.port());
    c.send_raw("GET /xrpc/_health HT");
    auto before = std::chrono::steady_clock::now();
    CHECK(c.closed_by_server());
    auto waited = std::chrono::steady_clock::now() - before;
    CHECK(waited >= 500ms);
    MESSAGE("dropped after " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                             << " ms");
  }
  SUBCASE("an idle keep-alive connection is dropped") {
    Client c(server.port());
    CHECK(c.get("/xrpc/_health").result_int() == 200);
    CHECK(c.closed_by_server());
  }
  SUBCASE("beyond max_connections: 503") {
    Client a(server.port()), b(server.port()), d(server.port());
    CHECK(a.get("/xrpc/_health").result_int() == 200);
    CHECK(b.get("/xrpc/_health").result_int() == 200);
    CHECK(d.get("/xrpc/_health").result_int() == 200);
    Client e(server.port());
    e.send_raw("GET /xrpc/_health HTTP/1.1\r\nHost: x\r\n\r\n");
    auto res = e.receive();
    CHECK(res.result_int() == 503);
    CHECK(error_name(res) == "NotEnoughResources");
  }
}

TEST_CASE("stop() is not held up by idle or trickling connections") {
  ServerOptions o = quiet();
  o.idle_timeout = 60s;  // far beyond the test's patience
  XrpcServer server(o);
  server.start();
  Client idle(server.port());
  CHECK(idle.get("/xrpc/_health").result_int() == 200);
  Client trickle(server.port());
  trickle.send_raw("GET /xrpc/_he");
  std::this_thread::sleep_for(100ms);
  auto before = std::chrono::steady_clock::now();
  server.stop();
  auto took = std::chrono::steady_clock::now() - before;
  CHECK(took < 10s);
  CHECK(idle.closed_by_server());
  CHECK(trickle.closed_by_server());
  MESSAGE("stop() took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                         << " ms");
}

// The HTTP client against a cpp-httplib server on 127.0.0.1 (a random port),
// started by each test case that needs it.
#include "atcr/net/http_client.h"

#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"
#include "atcr/version.h"

using namespace atcr;
using namespace atcr::net;
using namespace std::chrono_literals;

namespace {

// Deterministic, non-repeating-looking content for large bodies.
std::uint8_t pattern(std::uint64_t i) { return static_cast<std::uint8_t>((i * 2654435761u) >> 11); }

Bytes pattern_bytes(std::uint64_t offset, std::size_t n) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = pattern(offset + i);
  return out;
}

std::string pattern_sha256(std::uint64_t size) {
  Sha256 hasher;
  for (std::uint64_t at = 0; at < size; at += 1 << 20)
    hasher.update(pattern_bytes(at, static_cast<std::size_t>(std::min<std::uint64_t>(1 << 20, size - at))));
  return hex::encode(hasher.finish());
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const HttpError& e) {
    return e.what();
  }
  FAIL("no HttpError");
  return "";
}

class TestServer {
 public:
  TestServer() {
    // Enough workers for the concurrency test's keep-alive connections plus
    // handlers still sleeping from a timeout test.
    server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    server_.set_keep_alive_max_count(100000);
    // Else Nagle's algorithm holds a response's body back for the client's
    // delayed ACK, 40 ms a request.
    server_.set_tcp_nodelay(true);
    routes();
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(1ms);
    REQUIRE(server_.is_running());
  }
  ~TestServer() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  // Distinct client connections seen so far (by client port).
  std::size_t connections() {
    std::lock_guard lock(mu_);
    return client_ports_.size();
  }

 private:
  void count(const httplib::Request& req) {
    std::lock_guard lock(mu_);
    client_ports_.insert(req.remote_port);
  }

  void routes() {
    server_.set_logger([this](const httplib::Request& req, const httplib::Response&) { count(req); });
    server_.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Test-Header", "Value");
      res.set_content("hello", "text/plain");
    });
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("X-Method", req.method);
      for (const char* name : {"X-Custom", "Content-Type", "Expect", "X-Empty", "Host"})
        if (req.has_header(name)) res.set_header(std::string("X-Echo-") + name, "[" + req.get_header_value(name) + "]");
      res.set_content(req.body, "application/octet-stream");
    };
    server_.Get("/echo", echo);
    server_.Post("/echo", echo);
    server_.Put("/echo", echo);
    server_.Patch("/echo", echo);
    server_.Delete("/echo", echo);
    server_.Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      res.status = std::stoi(req.matches[1]);
      if (res.status != 204) res.set_content("status " + std::string(req.matches[1]), "text/plain");
    });
    server_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      for (int i = 0; i < 150 && !stopping_; ++i) std::this_thread::sleep_for(10ms);
      res.set_content("late", "text/plain");
    });
    server_.Get("/stall", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [this](std::size_t offset, httplib::DataSink& sink) {
        if (offset == 0) return sink.write("first", 5);
        for (int i = 0; i < 300 && !stopping_; ++i) std::this_thread::sleep_for(10ms);
        sink.done();
        return true;
      });
    });
    server_.Get(R"(/big/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::string(std::stoul(req.matches[1]), 'b'), "text/plain");
    });
    server_.Get("/endless", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](std::size_t, httplib::DataSink& sink) {
        static const std::string chunk(64 * 1024, 'e');
        return sink.write(chunk.data(), chunk.size());  // until the client hangs up
      });
    });
    server_.Get(R"(/redirect/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      int n = std::stoi(req.matches[1]);
      if (n == 0) return res.set_content("done", "text/plain");
      res.set_redirect("/redirect/" + std::to_string(n - 1));
      res.set_content("redirect body", "text/plain");
    });
    server_.Get("/loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop"); });
    server_.Get("/to-file",
                [](const httplib::Request&, httplib::Response& res) { res.set_redirect("file:///etc/passwd"); });
    server_.Post("/307", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/echo", 307); });
    server_.Put("/upload", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.body.size()) + " " + hex::encode(sha256(as_bytes(req.body))), "text/plain");
    });
    server_.Get(R"(/download/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
      std::size_t size = std::stoul(req.matches[1]);
      res.set_content_provider(size, "application/octet-stream",
                               [](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                 Bytes chunk = pattern_bytes(offset, std::min<std::size_t>(length, 256 * 1024));
                                 return sink.write(reinterpret_cast<const char*>(chunk.data()), chunk.size());
                               });
    });
  }

  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_ = false;
  std::mutex mu_;
  std::set<int> client_ports_;
};

// A loopback socket that nothing listens on yet. listening() makes it a
// server that answers one request with an empty 200 and keeps the request's
// bytes, to check exactly what goes on the wire.
class RawServer {
 public:
  RawServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~RawServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  void listening() {
    REQUIRE(::listen(fd_, 1) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  // The request's head, once it has been answered.
  std::string request() {
    thread_.join();
    return request_;
  }

 private:
  void serve() {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, 5000) != 1) return;  // the client never came
    int client = ::accept(fd_, nullptr, nullptr);
    if (client < 0) return;
    char buffer[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request_.append(buffer, static_cast<std::size_t>(n));
    }
    std::string_view answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    [[maybe_unused]] auto sent = ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::close(client);
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::string request_;
};

template <typename F>
std::chrono::milliseconds time_of(F&& f) {
  auto started = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
}

}  // namespace

TEST_CASE("GET: status, body, lowercased headers, effective URL") {
  TestServer server;
  HttpClient client;
  HttpResponse res = client.get(server.url("/hello"));
  CHECK(res.status == 200);
  CHECK(res.ok());
  CHECK(res.text() == "hello");
  CHECK(res.effective_url == server.url("/hello"));
  bool found = false;
  for (const auto& [name, value] : res.headers) {
    CHECK(std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    if (name == "x-test-header") found = value == "Value";
  }
  CHECK(found);
  CHECK(res.header("X-TEST-HEADER") == "Value");
  CHECK(res.header("content-type") == "text/plain");
  CHECK(res.header("no-such-header") == "");
}

TEST_CASE("request methods, headers and bodies reach the server") {
  TestServer server;
  HttpClient client;

  SUBCASE("post() with a content type and extra headers") {
    Bytes body = {'a', 0, 'b', 0xff, '\n'};
    HttpResponse res = client.post(server.url("/echo"), "application/json", body, {{"X-Custom", "custom value"}});
    CHECK(res.status == 200);
    CHECK(res.header("x-method") == "POST");
    CHECK(res.body == body);
    CHECK(res.header("x-echo-content-type") == "[application/json]");
    CHECK(res.header("x-echo-x-custom") == "[custom value]");
    CHECK(res.header("x-echo-expect") == "");  // no 100-continue handshake
  }
  SUBCASE("a body without a content type is sent without one") {
    HttpResponse res = client.send({"POST", server.url("/echo"), {}, to_bytes("raw")});
    CHECK(res.text() == "raw");
    CHECK(res.header("x-echo-content-type") == "");
  }
  SUBCASE("a large body is sent without waiting for 100 Continue") {
    Bytes body = pattern_bytes(0, 3 << 20);
    HttpResponse res;
    auto took = time_of([&] { res = client.send({"POST", server.url("/echo"), {}, body}); });
    CHECK(res.body == body);
    CHECK(took < 900ms);
  }
  SUBCASE("PUT, PATCH, DELETE and GET") {
    for (const char* method : {"PUT", "PATCH", "DELETE", "GET"}) {
      CAPTURE(method);
      HttpResponse res = client.send({method, server.url("/echo"), {{"X-Custom", method}}, {}});
      CHECK(res.status == 200);
      CHECK(res.header("x-method") == method);
      CHECK(res.header("x-echo-x-custom") == std::string("[") + method + "]");
    }
    HttpResponse put =
        client.send({"PUT", server.url("/echo"), {{"Content-Type", "text/plain"}}, to_bytes("put body")});
    CHECK(put.text() == "put body");
    CHECK(put.header("x-echo-content-type") == "[text/plain]");
  }
  SUBCASE("on the wire: empty header values, Content-Length: 0, no curl defaults") {
    RawServer raw;
    raw.listening();
    CHECK(client.send({"PUT", raw.url("/x"), {{"X-Empty", ""}, {"X-Full", "full"}}, {}}).status == 200);
    std::string head = raw.request();
    CAPTURE(head);
    CHECK(head.starts_with("PUT /x HTTP/1.1\r\n"));
    CHECK(head.find("\r\nX-Empty:\r\n") != std::string::npos);
    CHECK(head.find("\r\nX-Full: full\r\n") != std::string::npos);
    CHECK(head.find("\r\nContent-Length: 0\r\n") != std::string::npos);
    CHECK(head.find("\r\nUser-Agent: atcr/" ATCR_VERSION "\r\n") != std::string::npos);
    CHECK(head.find("Content-Type") == std::string::npos);
    CHECK(head.find("Expect") == std::string::npos);
  }
  SUBCASE("HEAD") {
    HttpResponse res = client.send({"HEAD", server.url("/hello"), {}, {}});
    CHECK(res.status == 200);
    CHECK(res.body.empty());
    CHECK(res.header("content-length") == "5");
  }
}

TEST_CASE("error statuses are responses") {
  TestServer server;
  HttpClient client;
  for (int status : {201, 204, 400, 404, 500, 503}) {
    CAPTURE(status);
    HttpResponse res = client.get(server.url("/status/" + std::to_string(status)));
    CHECK(res.status == status);
    CHECK(res.ok() == (status < 300));
    if (status != 204) CHECK(res.text() == "status " + std::to_string(status));
  }
}

TEST_CASE("malformed requests are refused before sending") {
  TestServer server;
  HttpClient client;
  auto message = [&](HttpRequest request) { return message_of([&] { client.send(request); }); };
  CHECK(message({"GET / HTTP/1.1\r\nX:", server.url("/echo"), {}, {}}).find("invalid method") != std::string::npos);
  CHECK(message({"", server.url("/echo"), {}, {}}).find("invalid method") != std::string::npos);
  CHECK(message({"GET", server.url("/echo"), {{"X-A", "a\r\nX-Injected: 1"}}, {}}).find("line break") !=
        std::string::npos);
  CHECK(message({"GET", server.url("/echo"), {{"X A", "a"}}, {}}).find("invalid header name") != std::string::npos);
  CHECK(message({"GET", server.url("/echo"), {{"", "a"}}, {}}).find("invalid header name") != std::string::npos);
  // A zero timeout would mean none to curl.
  CHECK(message_of([&] {
          client.send({"GET", server.url("/echo"), {}, {}}, HttpOptions{.timeout = 0ms});
        }).find("timeouts must be positive") != std::string::npos);
  CHECK(server.connections() == 0);
}

TEST_CASE("connections are reused") {
  TestServer server;
  HttpClient client;
  auto took = time_of([&] {
    for (int i = 0; i < 200; ++i) REQUIRE(client.get(server.url("/hello")).status == 200);
  });
  CHECK(server.connections() == 1);
  CHECK(took < 5s);
  // Per-request options use the same pool.
  HttpOptions other = client.options();
  other.timeout = 3s;
  CHECK(client.send({"GET", server.url("/hello"), {}, {}}, other).status == 200);
  CHECK(server.connections() == 1);
}

TEST_CASE("timeouts") {
  TestServer server;

  SUBCASE("total") {
    HttpClient client(HttpOptions{.timeout = 200ms});
    std::string message;
    auto took = time_of([&] { message = message_of([&] { client.get(server.url("/slow")); }); });
    CHECK(took < 1000ms);
    CHECK(message.find("Timeout") != std::string::npos);
    CHECK(message.find("GET " + server.url("/slow")) != std::string::npos);
  }
  SUBCASE("stall") {
    HttpClient client(HttpOptions{.timeout = 20s, .stall_timeout = 500ms});
    std::string message;
    auto took = time_of([&] { message = message_of([&] { client.get(server.url("/stall")); }); });
    CHECK(took >= 500ms);
    CHECK(took < 2500ms);  // the server stalls for 3 s
    CHECK(message.find("stalled: no data moved for 500 ms") != std::string::npos);
  }
}

TEST_CASE("response bodies over max_response_bytes are errors") {
  TestServer server;
  HttpClient client(HttpOptions{.max_response_bytes = 1000});
  CHECK(client.get(server.url("/big/1000")).body.size() == 1000);
  std::string message = message_of([&] { client.get(server.url("/big/1001")); });
  CHECK(message.find("over the 1000-byte limit") != std::string::npos);
  CHECK(message.find("GET " + server.url("/big/1001")) != std::string::npos);
  // Per-request options override the client's.
  CHECK(client.send({"GET", server.url("/big/1001"), {}, {}}, HttpOptions{}).body.size() == 1001);

  // A body without a Content-Length is cut off as it arrives.
  HttpClient capped(HttpOptions{.timeout = 10s, .max_response_bytes = 1 << 20});
  std::string endless;
  auto took = time_of([&] { endless = message_of([&] { capped.get(server.url("/endless")); }); });
  CHECK(endless.find("over the 1048576-byte limit") != std::string::npos);
  CHECK(took < 5s);
}

TEST_CASE("redirects") {
  TestServer server;

  SUBCASE("not followed by default") {
    HttpClient client;
    HttpResponse res = client.get(server.url("/redirect/2"));
    CHECK(res.status == 302);
    CHECK(res.header("location") == "/redirect/1");
    CHECK(res.effective_url == server.url("/redirect/2"));
  }
  SUBCASE("followed up to the limit") {
    HttpClient client(HttpOptions{.max_redirects = 3});
    HttpResponse res = client.get(server.url("/redirect/3"));
    CHECK(res.status == 200);
    CHECK(res.text() == "done");          // no redirect bodies mixed in
    CHECK(res.header("location") == "");  // the final response's headers only
    CHECK(res.effective_url == server.url("/redirect/0"));
    CHECK(message_of([&] { client.get(server.url("/redirect/4")); }).find("redirect") != std::string::npos);
  }
  SUBCASE("a loop fails") {
    HttpClient client(HttpOptions{.max_redirects = 10});
    std::string message = message_of([&] { client.get(server.url("/loop")); });
    CHECK(message.find("redirect") != std::string::npos);
    CHECK(message.find(server.url("/loop")) != std::string::npos);
  }
  SUBCASE("only to http and https") {
    HttpClient client(HttpOptions{.max_redirects = 10});
    CHECK_THROWS_AS(client.get(server.url("/to-file")), HttpError);
  }
  SUBCASE("a 307 replays a buffered body") {
    HttpClient client(HttpOptions{.max_redirects = 1});
    HttpResponse res = client.post(server.url("/307"), "text/plain", as_bytes("replayed"));
    CHECK(res.status == 200);
    CHECK(res.header("x-method") == "POST");
    CHECK(res.text() == "replayed");
  }
}

TEST_CASE("only http and https URLs") {
  HttpClient client;
  CHECK_THROWS_AS(client.get("file:///etc/passwd"), HttpError);
  CHECK_THROWS_AS(client.get("ftp://127.0.0.1/"), HttpError);
  CHECK_THROWS_AS(client.get("not a url"), HttpError);
}

TEST_CASE("connect_to sends a name's requests to another address") {
  TestServer server;
  HttpClient client(HttpOptions{.connect_to = {"example.invalid:1234:127.0.0.1:" + std::to_string(server.port())}});
  HttpResponse res = client.get("http://example.invalid:1234/echo");
  CHECK(res.status == 200);
  CHECK(res.header("x-echo-host") == "[example.invalid:1234]");
  CHECK(res.effective_url == "http://example.invalid:1234/echo");
}

TEST_CASE("connection failures are HttpErrors naming the request") {
  HttpClient client(HttpOptions{.timeout = 5s});
  RawServer closed;
  std::string url = closed.url("/x");
  std::string message = message_of([&] { client.get(url); });
  CHECK(message.find("GET " + url) != std::string::npos);
  CHECK(message.find("onnect") != std::string::npos);  // "Couldn't connect to server"

  // Credentials in a URL stay out of messages.
  std::string with_password = "http://user:secret@127.0.0.1:" + url.substr(17);
  message = message_of([&] { client.get(with_password); });
  CHECK(message.find("secret") == std::string::npos);
  CHECK(message.find("***@127.0.0.1") != std::string::npos);
}

TEST_CASE("one client, many threads") {
  TestServer server;
  HttpClient client;
  constexpr int kThreads = 8, kRequests = 50;
  std::atomic<int> good = 0;
  std::atomic<int> bad = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        std::string body = "thread " + std::to_string(t) + " request " + std::to_string(i);
        try {
          HttpResponse res = client.post(server.url("/echo"), "text/plain", as_bytes(body));
          (res.status == 200 && res.text() == body ? good : bad)++;
        } catch (const HttpError&) {
          bad++;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(good == kThreads * kRequests);
  CHECK(bad == 0);
  // Each thread's handle keeps its connection; a few more may open while
  // handles change hands, but nowhere near one per request.
  CHECK(server.connections() <= 2 * kThreads);
}

TEST_CASE("streaming upload from a callback") {
  TestServer server;
  HttpClient client;
  constexpr std::uint64_t kSize = 20 << 20;
  std::uint64_t produced = 0;
  std::size_t calls = 0;
  bool overasked = false;
  BodySource source{kSize, [&](std::span<std::uint8_t> buffer) {
                      ++calls;
                      overasked |= buffer.size() > kSize - produced;
                      // Deliberately short reads: a source need not fill the buffer.
                      std::size_t n = std::min<std::size_t>(buffer.size(), 10000);
                      for (std::size_t i = 0; i < n; ++i) buffer[i] = pattern(produced + i);
                      produced += n;
                      return n;
                    }};
  HttpResponse res =
      client.send_streaming({"PUT", server.url("/upload"), {}, {}}, source, {}, HttpOptions{.timeout = 60s});
  CHECK(res.status == 200);
  CHECK(res.text() == std::to_string(kSize) + " " + pattern_sha256(kSize));
  CHECK(produced == kSize);
  CHECK(calls >= kSize / 10000);
  CHECK_FALSE(overasked);
}

TEST_CASE("streaming download into a sink") {
  TestServer server;
  // The sink has no size cap; max_response_bytes still guards error bodies.
  HttpClient client(HttpOptions{.timeout = 60s, .max_response_bytes = 1024});
  constexpr std::uint64_t kSize = 20 << 20;
  std::uint64_t received = 0;
  std::size_t chunks = 0;
  Sha256 hasher;
  BodySink sink = [&](BytesView chunk) {
    received += chunk.size();
    ++chunks;
    hasher.update(chunk);
    return true;
  };
  HttpResponse res = client.send_streaming({"GET", server.url("/download/" + std::to_string(kSize)), {}, {}}, {}, sink);
  CHECK(res.status == 200);
  CHECK(res.body.empty());
  CHECK(res.header("content-length") == std::to_string(kSize));
  CHECK(received == kSize);
  CHECK(chunks > 1);
  CHECK(hex::encode(hasher.finish()) == pattern_sha256(kSize));

  SUBCASE("an error status's body is buffered, not sunk") {
    received = 0;
    HttpResponse missing = client.send_streaming({"GET", server.url("/status/404"), {}, {}}, {}, sink);
    CHECK(missing.status == 404);
    CHECK(missing.text() == "status 404");
    CHECK(received == 0);
  }
  SUBCASE("a sink can stop the transfer") {
    std::string message = message_of([&] {
      client.send_streaming({"GET", server.url("/download/1000000"), {}, {}}, {}, [](BytesView) { return false; });
    });
    CHECK(message.find("sink stopped") != std::string::npos);
  }
  SUBCASE("a sink's exception comes through unchanged") {
    struct SinkFull : std::runtime_error {
      using std::runtime_error::runtime_error;
    };
    CHECK_THROWS_AS(client.send_streaming({"GET", server.url("/download/1000000"), {}, {}}, {},
                                          [](BytesView) -> bool { throw SinkFull("disk full"); }),
                    SinkFull);
  }
  // The client still works after aborted transfers.
  CHECK(client.get(server.url("/hello")).text() == "hello");
}

TEST_CASE("streaming upload misuse and failures") {
  TestServer server;
  HttpClient client(HttpOptions{.timeout = 10s, .max_redirects = 1});
  auto counting = [](std::uint64_t limit) {
    return [limit, at = std::uint64_t{0}](std::span<std::uint8_t> buffer) mutable {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), limit - at));
      std::fill_n(buffer.begin(), n, 'u');
      at += n;
      return n;
    };
  };

  SUBCASE("a source that ends early") {
    std::string message = message_of([&] {
      client.send_streaming({"PUT", server.url("/upload"), {}, {}}, {1000, counting(600)}, {});
    });
    CHECK(message.find("ended after 600 of 1000 bytes") != std::string::npos);
  }
  SUBCASE("a source's exception comes through unchanged") {
    BodySource failing{1000, [](std::span<std::uint8_t>) -> std::size_t { throw std::out_of_range("source broke"); }};
    CHECK_THROWS_AS(client.send_streaming({"PUT", server.url("/upload"), {}, {}}, failing, {}), std::out_of_range);
  }
  SUBCASE("a body and a source") {
    CHECK_THROWS_AS(client.send_streaming({"PUT", server.url("/upload"), {}, to_bytes("x")}, {1, counting(1)}, {}),
                    HttpError);
  }
  SUBCASE("an empty source sends Content-Length: 0") {
    HttpResponse res = client.send_streaming({"PUT", server.url("/upload"), {}, {}}, {0, counting(0)}, {});
    CHECK(res.text().starts_with("0 "));
  }
  SUBCASE("a streamed body cannot follow a 307") {
    CHECK_THROWS_AS(client.send_streaming({"POST", server.url("/307"), {}, {}}, {100, counting(100)}, {}), HttpError);
  }
  CHECK(client.get(server.url("/hello")).text() == "hello");
}

TEST_CASE("url_encode") {
  CHECK(url_encode("") == "");
  CHECK(url_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(url_encode("a b&c=d/e?f#g+h%") == "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25");
  CHECK(url_encode("did:plc:abc") == "did%3Aplc%3Aabc");
  CHECK(url_encode("caf\xc3\xa9") == "caf%C3%A9");
  CHECK(url_encode(std::string_view("\0\xff", 2)) == "%00%FF");
}

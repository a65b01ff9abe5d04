#include "atcr/xrpc/server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "atcr/data/json.h"
#include "atcr/log.h"
#include "atcr/xrpc/service_auth.h"

using namespace atcr;
using namespace atcr::xrpc;
using namespace std::chrono_literals;

namespace {

// Collects log entries for inspection.
struct LogSink {
  std::mutex mu;
  std::vector<RequestLog> entries;
  Logger logger() {
    return [this](const RequestLog& e) {
      std::lock_guard lock(mu);
      entries.push_back(e);
    };
  }
  std::vector<RequestLog> snapshot() {
    std::lock_guard lock(mu);
    return entries;
  }
};

ServerOptions quiet(LogSink* sink = nullptr) {
  ServerOptions o;
  o.logger = sink ? sink->logger() : nullptr;
  o.version = "9.9.9-test";
  return o;
}

httplib::Client client_for(const XrpcServer& server) {
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(10, 0);
  return c;
}

void check_error(const httplib::Result& r, int status, const std::string& name) {
  REQUIRE(r);
  CHECK(r->status == status);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  Value v = json::parse(r->body);
  CHECK(v.at("error").as_string() == name);
}

// Sends raw bytes and returns everything the server answers until it closes
// the connection (or 5 s pass).
std::string raw_exchange(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early; read what it said
    sent += static_cast<std::size_t>(n);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE("queries and procedures route by NSID and method") {
  XrpcServer server(quiet());
  server.query("com.example.echo", [](const ServerRequest& req) {
    Value::Array tags;
    for (auto& t : req.param_all("tag")) tags.push_back(t);
    return ServerResponse::json(Value::Map{
        {"nsid", req.nsid},
        {"q", req.param("q").value_or("")},
        {"tags", tags},
        {"limit", req.int_param("limit", 1, 100).value_or(50)},
        {"reverse", req.bool_param("reverse", false)},
    });
  });
  server.procedure("com.example.create", [](const ServerRequest& req) {
    Value input = req.json();
    return ServerResponse::json(Value::Map{{"got", input.at("name")}});
  });
  server.method("PUT", "com.example.uploadPart", [](const ServerRequest& req) {
    return ServerResponse::bytes(as_bytes(req.body), "application/octet-stream");
  });
  server.start();
  REQUIRE(server.port() > 0);
  CHECK(server.url() == "http://127.0.0.1:" + std::to_string(server.port()));
  CHECK(server.running());
  auto cli = client_for(server);

  auto r = cli.Get("/xrpc/com.example.echo?q=a%20b%26c%2Bd%C3%A9&tag=x&tag=y&limit=7&reverse=true");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  Value v = json::parse(r->body);
  CHECK(v.at("nsid").as_string() == "com.example.echo");
  CHECK(v.at("q").as_string() == "a b&c+d\xC3\xA9");
  CHECK(v.at("tags") == Value(Value::Array{"x", "y"}));
  CHECK(v.at("limit").as_integer() == 7);
  CHECK(v.at("reverse").as_bool() == true);

  // HEAD answers like GET, without a body.
  r = cli.Head("/xrpc/com.example.echo");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.empty());

  r = cli.Post("/xrpc/com.example.create", R"({"name":"alice"})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body).at("got").as_string() == "alice");

  // Binary body on a custom method, byte for byte.
  std::string blob;
  for (int i = 0; i < 70000; ++i) blob.push_back(static_cast<char>(i * 7));
  r = cli.Put("/xrpc/com.example.uploadPart", blob, "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == blob);
  CHECK(r->get_header_value("Content-Type") == "application/octet-stream");
}

TEST_CASE("XRPC protocol errors") {
  XrpcServer server(quiet());
  server.query("com.example.get", [](const ServerRequest&) { return ServerResponse::json(Value::Map{}); });
  server.procedure("com.example.post", [](const ServerRequest& req) {
    return ServerResponse::json(req.json());
  });
  server.query("com.example.params", [](const ServerRequest& req) {
    return ServerResponse::json(Value::Map{{"repo", req.required_param("repo")},
                                           {"limit", req.int_param("limit", 1, 100).value_or(0)},
                                           {"reverse", req.bool_param("reverse", false)}});
  });
  server.start();
  auto cli = client_for(server);

  // Wrong HTTP method on a known NSID.
  auto r = cli.Post("/xrpc/com.example.get", "", "application/json");
  check_error(r, 400, "InvalidRequest");
  CHECK(json::parse(r->body).at("message").as_string() == "Incorrect HTTP method (POST) expected GET");
  check_error(cli.Get("/xrpc/com.example.post"), 400, "InvalidRequest");
  check_error(cli.Delete("/xrpc/com.example.get"), 400, "InvalidRequest");

  // Unknown and invalid NSIDs.
  check_error(cli.Get("/xrpc/com.example.nothingHere"), 501, "MethodNotImplemented");
  check_error(cli.Post("/xrpc/com.example.nothingHere", "{}", "application/json"), 501,
              "MethodNotImplemented");
  check_error(cli.Get("/xrpc/not-an-nsid"), 400, "InvalidRequest");
  check_error(cli.Get("/xrpc/"), 400, "InvalidRequest");

  // Bodies.
  check_error(cli.Post("/xrpc/com.example.post", "{}", "text/plain"), 400, "InvalidRequest");
  check_error(cli.Post("/xrpc/com.example.post", "{nope", "application/json"), 400, "InvalidRequest");
  check_error(cli.Post("/xrpc/com.example.post", "[1]", "application/json"), 400, "InvalidRequest");
  check_error(cli.Post("/xrpc/com.example.post", "", "application/json"), 400, "InvalidRequest");
  r = cli.Post("/xrpc/com.example.post", R"({"a":1})", "application/json; charset=utf-8");
  REQUIRE(r);
  CHECK(r->status == 200);
  // A body on a GET is refused rather than buffered.
  httplib::Request get_with_body;
  get_with_body.method = "GET";
  get_with_body.path = "/xrpc/com.example.get";
  get_with_body.body = "surprise";
  get_with_body.set_header("Content-Type", "text/plain");
  check_error(cli.send(get_with_body), 400, "InvalidRequest");

  // Parameter helpers.
  check_error(cli.Get("/xrpc/com.example.params"), 400, "InvalidRequest");
  check_error(cli.Get("/xrpc/com.example.params?repo=x&limit=abc"), 400, "InvalidRequest");
  check_error(cli.Get("/xrpc/com.example.params?repo=x&limit=1000"), 400, "InvalidRequest");
  check_error(cli.Get("/xrpc/com.example.params?repo=x&limit=5x"), 400, "InvalidRequest");
  check_error(cli.Get("/xrpc/com.example.params?repo=x&reverse=yes"), 400, "InvalidRequest");
  r = cli.Get("/xrpc/com.example.params?repo=x&limit=100&reverse=false");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("handler exceptions map to XRPC errors") {
  LogSink sink;
  XrpcServer server(quiet(&sink));
  server.query("com.example.fail", [](const ServerRequest& req) -> ServerResponse {
    std::string kind = req.required_param("kind");
    if (kind == "invalid") throw invalid_request("no such record", "RecordNotFound");
    if (kind == "auth") throw auth_required("token needed");
    if (kind == "forbidden") throw forbidden("not yours");
    if (kind == "notfound") throw not_found("gone", "BlobNotFound");
    if (kind == "large") throw payload_too_large("too big");
    if (kind == "internal") throw internal_error("deliberately reported");
    if (kind == "ratelimit")
      throw XrpcError(429, "RateLimitExceeded", "slow down", {{"Retry-After", "30"}});
    if (kind == "jwt") throw ServiceAuthError(ServiceAuthFailure::kExpired, "expired at 5");
    if (kind == "weird") throw XrpcError(302, "Redirect", "not an error status");
    if (kind == "int") throw 42;
    throw std::runtime_error("secret: /var/lib/atcr/db.sqlite is corrupt");
  });
  server.start();
  auto cli = client_for(server);

  auto r = cli.Get("/xrpc/com.example.fail?kind=invalid");
  check_error(r, 400, "RecordNotFound");
  CHECK(json::parse(r->body).at("message").as_string() == "no such record");
  r = cli.Get("/xrpc/com.example.fail?kind=auth");
  check_error(r, 401, "AuthRequired");
  CHECK(r->get_header_value("WWW-Authenticate") == "Bearer");
  check_error(cli.Get("/xrpc/com.example.fail?kind=forbidden"), 403, "Forbidden");
  check_error(cli.Get("/xrpc/com.example.fail?kind=notfound"), 404, "BlobNotFound");
  check_error(cli.Get("/xrpc/com.example.fail?kind=large"), 413, "PayloadTooLarge");
  r = cli.Get("/xrpc/com.example.fail?kind=internal");
  check_error(r, 500, "InternalServerError");
  CHECK(json::parse(r->body).at("message").as_string() == "deliberately reported");
  r = cli.Get("/xrpc/com.example.fail?kind=ratelimit");
  check_error(r, 429, "RateLimitExceeded");
  CHECK(r->get_header_value("Retry-After") == "30");
  r = cli.Get("/xrpc/com.example.fail?kind=jwt");
  check_error(r, 401, "JwtExpired");
  CHECK(r->get_header_value("WWW-Authenticate") == "Bearer");

  // Anything else is a 500 whose detail stays in the log.
  r = cli.Get("/xrpc/com.example.fail?kind=other");
  check_error(r, 500, "InternalServerError");
  CHECK(r->body.find("secret") == std::string::npos);
  CHECK(json::parse(r->body).at("message").as_string() == "Internal Server Error");
  check_error(cli.Get("/xrpc/com.example.fail?kind=int"), 500, "InternalServerError");
  check_error(cli.Get("/xrpc/com.example.fail?kind=weird"), 500, "InternalServerError");

  server.stop();
  auto logs = sink.snapshot();
  REQUIRE(logs.size() == 11);
  // Each request came on its own connection, so the log lines may be in
  // any order: find them by what they say.
  auto logged = [&](std::string_view error) {
    std::vector<const RequestLog*> found;
    for (const RequestLog& l : logs)
      if (!l.internal_error.empty() && l.internal_error.find(error) != std::string::npos) found.push_back(&l);
    REQUIRE(found.size() == 1);
    return *found.front();
  };
  const RequestLog& secret = logged("db.sqlite is corrupt");
  CHECK(secret.status == 500);
  CHECK(logged("exception of unknown type").internal_error == "exception of unknown type");
  CHECK(logged("non-error status").status == 500);
  // The errors a handler reported itself (XrpcError) log no internal detail.
  CHECK(std::count_if(logs.begin(), logs.end(), [](const RequestLog& l) { return !l.internal_error.empty(); }) == 3);
}

TEST_CASE("health, logging and latency") {
  LogSink sink;
  XrpcServer server(quiet(&sink));
  server.query("com.example.slow", [](const ServerRequest&) {
    std::this_thread::sleep_for(20ms);
    return ServerResponse::empty();
  });
  server.start();
  auto cli = client_for(server);
  auto r = cli.Get("/xrpc/_health");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body) == Value(Value::Map{{"version", "9.9.9-test"}}));
  check_error(cli.Post("/xrpc/_health", "", "application/json"), 400, "InvalidRequest");

  r = cli.Get("/xrpc/com.example.slow?secret=hunter2");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.empty());
  server.stop();

  auto logs = sink.snapshot();
  REQUIRE(logs.size() == 3);
  CHECK(logs[0].method == "GET");
  CHECK(logs[0].path == "/xrpc/_health");
  CHECK(logs[0].status == 200);
  CHECK(logs[1].method == "POST");
  CHECK(logs[1].status == 400);
  CHECK(logs[2].nsid == "com.example.slow");
  CHECK(logs[2].path == "/xrpc/com.example.slow");  // no query string
  CHECK(logs[2].latency >= 20ms);
  CHECK(logs[2].remote_addr == "127.0.0.1");

  // The stderr logger formats a line without throwing.
  RequestLog entry;
  entry.method = "GET";
  entry.path = "/x";
  entry.status = 200;
  entry.latency = 1500us;
  entry.remote_addr = "127.0.0.1";
  stderr_logger()(entry);
}

// Runs `body` with stderr going to a file and returns what was written.
template <typename Body>
std::string captured_stderr(Body body) {
  std::fflush(stderr);
  char path[] = "/tmp/atcr-stderr-XXXXXX";
  int file = ::mkstemp(path);
  REQUIRE(file >= 0);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(file, STDERR_FILENO);
  body();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out;
  char buf[4096];
  ::lseek(file, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(file, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(file);
  ::unlink(path);
  return out;
}

TEST_CASE("log lines escape control characters a client chose (no forged lines, no NUL)") {
  CHECK(log::escape("plain /v2/a-b_c UTF-8 \xc3\xa9") == "plain /v2/a-b_c UTF-8 \xc3\xa9");
  CHECK(log::escape(std::string("a\r\nb\tc\0d\x1b[31m\x7f", 14)) == "a\\r\\nb\\tc\\x00d\\x1b[31m\\x7f");

  std::string out = captured_stderr([] {
    ServerOptions o = quiet();
    o.logger = stderr_logger();
    XrpcServer server(o);
    server.start();
    std::string response = raw_exchange(
        server.port(), "GET /v2/x%0D%0A2026-01-01T00:00:00Z%20info%20hold:%20forged%00end HTTP/1.1\r\n"
                       "Host: x\r\nConnection: close\r\n\r\n");
    CHECK(response.rfind("HTTP/1.1 404", 0) == 0);
    server.stop();
    log::warn("test", "a message with{}", std::string("\r\na line break and a \0 NUL", 26));
  });
  // One line per event: the request's and the warning's.
  CHECK(std::count(out.begin(), out.end(), '\n') == 2);
  CHECK(out.find('\0') == std::string::npos);
  CHECK(out.find("GET /v2/x\\r\\n2026-01-01T00:00:00Z info hold: forged\\x00end 404") != std::string::npos);
  CHECK(out.find("test: a message with\\r\\na line break and a \\x00 NUL\n") != std::string::npos);
}

TEST_CASE("request bodies over the limit get 413") {
  LogSink sink;
  ServerOptions o = quiet(&sink);
  o.max_body_bytes = 1024;
  XrpcServer server(o);
  std::atomic<int> calls{0};
  server.procedure("com.example.upload", [&](const ServerRequest& req) {
    ++calls;
    return ServerResponse::json(Value::Map{{"size", static_cast<std::int64_t>(req.body.size())}});
  });
  server.start();
  auto cli = client_for(server);

  auto r = cli.Post("/xrpc/com.example.upload", std::string(1024, 'a'), "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body).at("size").as_integer() == 1024);

  // Announced by Content-Length: refused before the body is read.
  std::string response = raw_exchange(
      server.port(),
      "POST /xrpc/com.example.upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 100000000\r\n\r\n");
  CHECK(response.starts_with("HTTP/1.1 413"));
  CHECK(response.find("\"error\":\"PayloadTooLarge\"") != std::string::npos);

  // Expect: 100-continue: refused before the client sends anything.
  response = raw_exchange(
      server.port(),
      "POST /xrpc/com.example.upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
  CHECK(response.starts_with("HTTP/1.1 413"));
  CHECK(response.find("PayloadTooLarge") != std::string::npos);

  // Chunked: cut off once the limit is crossed.
  std::string chunked =
      "POST /xrpc/com.example.upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) chunked += "200\r\n" + std::string(512, 'b') + "\r\n";
  chunked += "0\r\n\r\n";
  response = raw_exchange(server.port(), chunked);
  CHECK(response.starts_with("HTTP/1.1 413"));
  CHECK(response.find("PayloadTooLarge") != std::string::npos);

  // A chunked body within the limit is fine.
  std::string small_chunked =
      "POST /xrpc/com.example.upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
      "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
  response = raw_exchange(server.port(), small_chunked);
  CHECK(response.starts_with("HTTP/1.1 200"));
  CHECK(response.find("{\"size\":16}") != std::string::npos);
  CHECK(calls == 2);

  // Malformed requests still get an XRPC error body.
  response = raw_exchange(server.port(), "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(response.starts_with("HTTP/1.1 400"));
  CHECK(response.find("\"error\":\"InvalidRequest\"") != std::string::npos);
  response = raw_exchange(server.port(),
                          "POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                          "boundary=zz\r\nContent-Length: 4\r\n\r\n--zz");
  CHECK(response.starts_with("HTTP/1.1 400"));
}

TEST_CASE("plain routes next to XRPC") {
  XrpcServer server(quiet());
  server.route("GET", "/.well-known/did.json", [](const ServerRequest&) {
    return ServerResponse::json(Value::Map{{"id", "did:web:hold.example.com"}});
  });
  server.route("GET", "/v2/(.+)/blobs/(sha256:[0-9a-f]{4})", [](const ServerRequest& req) {
    return ServerResponse::text(req.path_params.at(0) + "|" + req.path_params.at(1))
        .header("Docker-Content-Digest", req.path_params.at(1));
  });
  server.route("DELETE", "/v2/(.+)/blobs/(sha256:[0-9a-f]{4})", [](const ServerRequest&) {
    return ServerResponse::empty(202);
  });
  server.route("POST", "/v2/(.+)/blobs/uploads/", [](const ServerRequest& req) {
    return ServerResponse::empty(202).header("Location", "/v2/" + req.path_params.at(0) +
                                                             "/blobs/uploads/1");
  });
  server.start();
  auto cli = client_for(server);

  auto r = cli.Get("/.well-known/did.json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body).at("id").as_string() == "did:web:hold.example.com");

  r = cli.Get("/v2/alice.example.com/app/blobs/sha256:ab12");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "alice.example.com/app|sha256:ab12");
  CHECK(r->get_header_value("Docker-Content-Digest") == "sha256:ab12");
  r = cli.Head("/v2/alice.example.com/app/blobs/sha256:ab12");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Docker-Content-Digest") == "sha256:ab12");
  r = cli.Delete("/v2/alice/app/blobs/sha256:ab12");
  REQUIRE(r);
  CHECK(r->status == 202);
  r = cli.Post("/v2/alice/app/blobs/uploads/", "", "application/octet-stream");
  REQUIRE(r);
  CHECK(r->status == 202);
  CHECK(r->get_header_value("Location") == "/v2/alice/app/blobs/uploads/1");

  r = cli.Put("/v2/alice/app/blobs/sha256:ab12", "", "application/octet-stream");
  check_error(r, 405, "MethodNotAllowed");
  CHECK(r->get_header_value("Allow") == "GET, DELETE, HEAD");
  check_error(cli.Get("/v2/alice/app/blobs/sha256:zz"), 404, "NotFound");
  check_error(cli.Get("/nothing"), 404, "NotFound");
  // Patterns match whole paths only.
  check_error(cli.Get("/.well-known/did.json.bak"), 404, "NotFound");
}

TEST_CASE("plain route patterns match as the regex says (the literal prefilter never refuses a match)") {
  XrpcServer server(quiet());
  auto echo = [](const ServerRequest& req) {
    std::string out = req.path;
    for (const auto& p : req.path_params) out += "|" + p;
    return ServerResponse::text(out);
  };
  for (const char* pattern :
       {"/v2/?", "/\\.well-known/did\\.json", "/v2/(.+)/manifests/([^/]+)", "/alt/(a|b)/c", "/either|/or",
        "/opt/ab?c", "/rep/a{2}b", "/br/[/]z", "/plus/a+b", "/cls/\\d+/x", "/esc/a\\/b", "/grp/(?:x)?y"})
    server.route("GET", pattern, echo);
  server.start();
  auto cli = client_for(server);
  auto body = [&](const std::string& path) {
    auto r = cli.Get(path);
    return r && r->status == 200 ? r->body : std::string("-");
  };
  CHECK(body("/v2") == "/v2");
  CHECK(body("/v2/") == "/v2/");
  CHECK(body("/v2x") == "-");
  CHECK(body("/.well-known/did.json") == "/.well-known/did.json");
  CHECK(body("/xwell-known/did.json") == "-");  // the dot is escaped
  // Greedy: the name runs to the last "/manifests/".
  CHECK(body("/v2/a/manifests/b/manifests/sha256:00") ==
        "/v2/a/manifests/b/manifests/sha256:00|a/manifests/b|sha256:00");
  CHECK(body("/v2/a/manifests/") == "-");
  CHECK(body("/alt/b/c") == "/alt/b/c|b");
  CHECK(body("/or") == "/or");
  CHECK(body("/opt/ac") == "/opt/ac");
  CHECK(body("/opt/abc") == "/opt/abc");
  CHECK(body("/rep/aab") == "/rep/aab");
  CHECK(body("/rep/ab") == "-");
  CHECK(body("/br//z") == "/br//z");
  CHECK(body("/plus/aaab") == "/plus/aaab");
  CHECK(body("/cls/123/x") == "/cls/123/x");
  CHECK(body("/esc/a/b") == "/esc/a/b");
  CHECK(body("/grp/y") == "/grp/y");
  CHECK(body("/grp/xy") == "/grp/xy");
  check_error(cli.Put("/v2/a/manifests/v1", "", "application/json"), 405, "MethodNotAllowed");
}

TEST_CASE("registration rules") {
  XrpcServer server(quiet());
  Handler h = [](const ServerRequest&) { return ServerResponse::empty(); };
  server.query("com.example.a", h);
  CHECK_THROWS_AS(server.query("com.example.a", h), std::logic_error);
  CHECK_THROWS_AS(server.procedure("com.example.a", h), std::logic_error);
  CHECK_THROWS_AS(server.query("not an nsid", h), ParseError);
  CHECK_THROWS_AS(server.method("BREW", "com.example.b", h), std::invalid_argument);
  CHECK_THROWS_AS(server.method("HEAD", "com.example.b", h), std::invalid_argument);
  CHECK_THROWS_AS(server.route("BREW", "/x", h), std::invalid_argument);
  CHECK_THROWS_AS(server.route("GET", "/x(", h), std::regex_error);
  CHECK(server.port() == 0);
  server.start();
  CHECK_THROWS_AS(server.query("com.example.c", h), std::logic_error);
  CHECK_THROWS_AS(server.route("GET", "/y", h), std::logic_error);
  CHECK_THROWS_AS(server.start(), std::logic_error);

  // The port is taken: binding it again fails loudly.
  ServerOptions same = quiet();
  same.port = server.port();
  XrpcServer second(same);
  CHECK_THROWS_AS(second.start(), Error);
  server.stop();
  server.stop();  // idempotent
  CHECK(!server.running());
}

TEST_CASE("requests are served concurrently") {
  ServerOptions o = quiet();
  o.threads = 8;
  XrpcServer server(o);
  std::atomic<int> inside{0}, max_inside{0};
  server.query("com.example.slow", [&](const ServerRequest&) {
    int now = ++inside;
    int seen = max_inside;
    while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(200ms);
    --inside;
    return ServerResponse::json(Value::Map{{"ok", true}});
  });
  server.start();

  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto cli = client_for(server);
      auto r = cli.Get("/xrpc/com.example.slow");
      if (r && r->status == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(ok == 8);
  // Overlap is the proof of concurrency. The bound on time is loose for
  // loaded machines; it catches connections stalling in a short listen
  // backlog (SYN retransmits take a second).
  CHECK(max_inside >= 4);
  CHECK(elapsed < 1000ms);
  MESSAGE("8 requests of 200 ms took " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                                       << " ms, at most " << max_inside.load() << " at once");
}

TEST_CASE("stop lets in-flight requests finish") {
  XrpcServer server(quiet());
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  server.query("com.example.slow", [&](const ServerRequest&) {
    {
      std::lock_guard lock(mu);
      entered = true;
    }
    cv.notify_all();
    std::this_thread::sleep_for(300ms);
    return ServerResponse::json(Value::Map{{"finished", true}});
  });
  server.start();
  int port = server.port();

  httplib::Result result{nullptr, httplib::Error::Unknown};
  std::thread request([&] {
    auto cli = client_for(server);
    result = cli.Get("/xrpc/com.example.slow");
  });
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 5s, [&] { return entered; }));
  }
  auto before_stop = std::chrono::steady_clock::now();
  server.stop();
  auto stop_took = std::chrono::steady_clock::now() - before_stop;
  request.join();

  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(json::parse(result->body).at("finished").as_bool());
  CHECK(stop_took >= 100ms);  // it waited for the handler
  CHECK(!server.running());

  // Nothing listens any more.
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1, 0);
  CHECK(!after.Get("/xrpc/_health"));
}

TEST_CASE("ServerRequest helpers") {
  ServerRequest req;
  req.headers = {{"authorization", "Bearer abc.def.ghi"}, {"content-type", "Application/JSON; charset=utf-8"}};
  CHECK(req.header("Authorization") == "Bearer abc.def.ghi");
  CHECK(req.header("x-missing").empty());
  CHECK(req.content_type() == "application/json");
  CHECK(req.bearer_token() == "abc.def.ghi");
  req.headers[0].second = "bearer   tok  ";
  CHECK(req.bearer_token() == "tok");
  req.headers[0].second = "Basic dXNlcjpwYXNz";
  try {
    (void)req.bearer_token();
    FAIL("accepted Basic");
  } catch (const XrpcError& e) {
    CHECK(e.status() == 401);
  }
  req.headers[0].second = "Bearer ";
  CHECK_THROWS_AS((void)req.bearer_token(), XrpcError);
  req.headers.erase(req.headers.begin());
  CHECK(req.bearer_token().empty());

  std::string body = R"({"a":{"$link":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}})";
  req.body = body;
  CHECK(req.json().at("a").is_link());

  ServerResponse e = ServerResponse::error(404, "RecordNotFound", "");
  CHECK(e.body == R"({"error":"RecordNotFound"})");
  CHECK(e.content_type == "application/json");
}

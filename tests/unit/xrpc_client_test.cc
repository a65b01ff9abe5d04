#include "atcr/xrpc/client.h"

#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "atcr/data/json.h"

using namespace atcr;
using namespace atcr::xrpc;
using namespace std::chrono_literals;

namespace {

// A bare cpp-httplib server standing in for a PDS, so the client is tested
// against a server that is not our own XrpcServer.
class TestService {
 public:
  TestService() {
    svr_.Get("/xrpc/com.example.echo", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      Value::Array params;
      // The raw target shows exactly how the client encoded the query.
      std::string target = req.target;
      for (const auto& [k, v] : req.params) params.push_back(Value::Array{k, v});
      Value::Map out{{"params", params},
                     {"target", target},
                     {"auth", req.get_header_value("Authorization")},
                     {"proxy", req.get_header_value("atproto-proxy")}};
      res.set_content(json::serialize(Value(out)), "application/json");
    });
    svr_.Post("/xrpc/com.example.echoBody", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      Value::Map out{{"contentType", req.get_header_value("Content-Type")},
                     {"size", static_cast<std::int64_t>(req.body.size())},
                     {"body", Value(to_bytes(req.body))},
                     {"auth", req.get_header_value("Authorization")},
                     {"hasBody", req.has_header("Content-Length") &&
                                     req.get_header_value("Content-Length") != "0"}};
      res.set_content(json::serialize(Value(out)), "application/json");
    });
    svr_.Get("/xrpc/com.example.fail", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      res.status = std::stoi(req.get_param_value("status"));
      std::string kind = req.get_param_value("kind");
      if (kind == "json") {
        res.set_content(R"({"error":"RecordNotFound","message":"Could not locate record"})",
                        "application/json");
      } else if (kind == "nomessage") {
        res.set_content(R"({"error":"ExpiredToken"})", "application/json");
      } else if (kind == "noerror") {
        res.set_content(R"({"message":"who knows"})", "application/json");
      } else if (kind == "html") {
        std::string page = "<html>\r\n<body>\t<h1>502 Bad Gateway</h1>\x01";
        page += std::string(500, 'x') + "</body></html>";
        res.set_content(page, "text/html");
      } else if (kind == "utf8") {
        // The 200-byte cut would fall inside a 2-byte sequence.
        res.set_content(std::string(199, 'a') + "\xC3\xA9" + std::string(50, 'b'), "text/plain");
      } else if (kind == "ratelimit") {
        res.set_header("Retry-After", "17");
        res.set_content(R"({"error":"RateLimitExceeded","message":"slow down"})", "application/json");
      }
    });
    svr_.Get("/xrpc/com.example.car", [this](const httplib::Request&, httplib::Response& res) {
      ++requests;
      std::string car;
      for (int i = 0; i < 256; ++i) car.push_back(static_cast<char>(i));
      res.set_content(car, "application/vnd.ipld.car");
    });
    svr_.Get("/xrpc/com.example.text", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello", "text/plain");
    });
    svr_.Get("/xrpc/com.example.empty", [](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
    });
    svr_.Get("/xrpc/com.example.slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(1500ms);
      res.set_content("{}", "application/json");
    });
    svr_.Put("/xrpc/com.example.put", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.body, req.get_header_value("Content-Type"));
    });
    svr_.Get("/xrpc/com.example.redirect", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://127.0.0.1:1/elsewhere");
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~TestService() {
    svr_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::atomic<int> requests{0};

 private:
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
};

XrpcError error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const XrpcError& e) {
    return e;
  }
  FAIL("no XrpcError thrown");
  return XrpcError(0, "", "");
}

}  // namespace

TEST_CASE("Params encode in order, repeat arrays and skip absent optionals") {
  Params p;
  p.add("repo", "did:plc:abc")
      .add("limit", 50)
      .add("reverse", true)
      .add("cursor", std::optional<std::string>())
      .add("rkey", std::optional<std::string>("self"))
      .add("collection", std::vector<std::string>{"io.atcr.manifest", "io.atcr.tag"})
      .add("q", "a b&c=d+e/é?");
  CHECK(p.encode() ==
        "repo=did%3Aplc%3Aabc&limit=50&reverse=true&rkey=self&collection=io.atcr.manifest&"
        "collection=io.atcr.tag&q=a%20b%26c%3Dd%2Be%2F%C3%A9%3F");
  CHECK(Params().encode().empty());
  CHECK(Params({{"a", "1"}, {"a", "2"}}).encode() == "a=1&a=2");
  CHECK(Params().add("n", std::int64_t{-3}).add("f", false).encode() == "n=-3&f=false");
}

TEST_CASE("service URLs must be origins") {
  CHECK(XrpcClient("https://pds.example.com/").service_url() == "https://pds.example.com");
  CHECK(XrpcClient("http://127.0.0.1:2583").service_url() == "http://127.0.0.1:2583");
  for (const char* bad : {"pds.example.com", "ftp://pds.example.com", "https://", "https://pds/x",
                          "https://pds?x=1", "https://user@pds"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(XrpcClient{bad}, ParseError);
  }
  XrpcClient c("https://pds.example.com");
  CHECK(c.url("com.atproto.repo.getRecord", Params().add("repo", "did:plc:x")) ==
        "https://pds.example.com/xrpc/com.atproto.repo.getRecord?repo=did%3Aplc%3Ax");
  CHECK_THROWS_AS(c.url("getRecord"), ParseError);
  CHECK_THROWS_AS(c.url("com.atproto.repo.getRecord/../x"), ParseError);
}

TEST_CASE("queries: params, JSON, auth and extra headers") {
  TestService svc;
  XrpcClient client(svc.url());
  Value out = client.query("com.example.echo",
                           Params().add("repo", "did:plc:abc").add("tag", "a b").add("tag", "ü&="),
                           {.bearer = "tok123", .headers = {{"atproto-proxy", "did:web:x#svc"}}});
  CHECK(out.at("target").as_string() ==
        "/xrpc/com.example.echo?repo=did%3Aplc%3Aabc&tag=a%20b&tag=%C3%BC%26%3D");
  Value::Array params = out.at("params").as_array();
  REQUIRE(params.size() == 3);
  CHECK(params[0] == Value(Value::Array{"repo", "did:plc:abc"}));
  CHECK(params[1] == Value(Value::Array{"tag", "a b"}));
  CHECK(params[2] == Value(Value::Array{"tag", "\xC3\xBC&="}));
  CHECK(out.at("auth").as_string() == "Bearer tok123");
  CHECK(out.at("proxy").as_string() == "did:web:x#svc");

  // No token, no Authorization header.
  CHECK(client.query("com.example.echo").at("auth").as_string().empty());

  // The auth provider is asked per call with the NSID; an explicit bearer wins.
  std::vector<std::string> asked;
  client.set_auth([&](std::string_view nsid) {
    asked.emplace_back(nsid);
    return "svc-token-for-" + std::string(nsid);
  });
  CHECK(client.query("com.example.echo").at("auth").as_string() ==
        "Bearer svc-token-for-com.example.echo");
  CHECK(client.query("com.example.echo", {}, {.bearer = "explicit"}).at("auth").as_string() ==
        "Bearer explicit");
  CHECK(asked == std::vector<std::string>{"com.example.echo"});
  client.set_auth([](std::string_view) { return std::string(); });
  CHECK(client.query("com.example.echo").at("auth").as_string().empty());
}

TEST_CASE("procedures: JSON and binary bodies") {
  TestService svc;
  XrpcClient client(svc.url());
  Value input = Value::Map{{"repo", "did:plc:abc"}, {"record", Value::Map{{"$type", "io.atcr.tag"}}}};
  Value out = client.procedure("com.example.echoBody", input, {}, {.bearer = "t"});
  CHECK(out.at("contentType").as_string() == "application/json");
  CHECK(json::parse(to_string(out.at("body").as_bytes())) == input);
  CHECK(out.at("auth").as_string() == "Bearer t");

  Bytes blob;
  for (int i = 0; i < 100000; ++i) blob.push_back(static_cast<std::uint8_t>(i * 31));
  out = client.procedure("com.example.echoBody", blob, "application/vnd.oci.image.manifest.v1+json");
  CHECK(out.at("contentType").as_string() == "application/vnd.oci.image.manifest.v1+json");
  CHECK(out.at("size").as_integer() == 100000);
  CHECK(out.at("body").as_bytes() == blob);

  // A null input sends no body at all.
  out = client.procedure("com.example.echoBody", Value());
  CHECK(out.at("size").as_integer() == 0);
  CHECK(out.at("contentType").as_string().empty());

  CHECK_THROWS_AS(client.call("POST", "com.example.echoBody", {}, blob, ""), ParseError);
}

TEST_CASE("raw responses, other methods, empty and non-JSON bodies") {
  TestService svc;
  XrpcClient client(svc.url());
  XrpcResponse car = client.query_raw("com.example.car");
  CHECK(car.status == 200);
  CHECK(car.content_type() == "application/vnd.ipld.car");
  CHECK(car.header("Content-Type") == "application/vnd.ipld.car");
  REQUIRE(car.body.size() == 256);
  CHECK(car.body[255] == 255);

  CHECK(client.query("com.example.empty").is_null());
  CHECK_THROWS_AS(client.query("com.example.text"), ParseError);
  CHECK(to_string(client.query_raw("com.example.text").body) == "hello");

  XrpcResponse head = client.call("HEAD", "com.example.car", {}, {}, {});
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  XrpcResponse put = client.call("PUT", "com.example.put", {}, as_bytes("part-1"), "application/octet-stream");
  CHECK(to_string(put.body) == "part-1");
}

TEST_CASE("error responses become XrpcError") {
  TestService svc;
  XrpcClient client(svc.url());
  auto fail = [&](int status, const char* kind) {
    return error_of([&] {
      client.query("com.example.fail", Params().add("status", status).add("kind", kind));
    });
  };

  XrpcError e = fail(400, "json");
  CHECK(e.status() == 400);
  CHECK(e.error() == "RecordNotFound");
  CHECK(e.message() == "Could not locate record");
  std::string what = e.what();
  CHECK(what.find("GET " + svc.url() + "/xrpc/com.example.fail") != std::string::npos);
  CHECK(what.find("400 RecordNotFound: Could not locate record") != std::string::npos);
  CHECK(what.find("status=") == std::string::npos);  // no query string in messages

  e = fail(401, "nomessage");
  CHECK(e.error() == "ExpiredToken");
  CHECK(e.message().empty());

  // JSON without an error name: the status decides.
  e = fail(403, "noerror");
  CHECK(e.error() == "Forbidden");

  // An HTML page from a proxy: a bounded, printable excerpt.
  e = fail(502, "html");
  CHECK(e.status() == 502);
  CHECK(e.error() == "UpstreamFailure");
  CHECK(e.message().find("text/html") != std::string::npos);
  CHECK(e.message().find("<h1>502 Bad Gateway</h1>") != std::string::npos);
  CHECK(e.message().find_first_of("\r\n\t\x01") == std::string::npos);
  CHECK(e.message().ends_with("..."));
  CHECK(e.message().size() < 300);

  e = fail(500, "utf8");
  CHECK(e.error() == "InternalServerError");
  CHECK(e.message().find(std::string(199, 'a') + "...") != std::string::npos);  // é not split

  e = fail(503, "empty");
  CHECK(e.error() == "NotEnoughResources");
  CHECK(e.message() == "empty error response");
  CHECK(fail(418, "empty").error() == "Unknown");

  e = fail(429, "ratelimit");
  CHECK(e.error() == "RateLimitExceeded");
  bool found = false;
  for (const auto& [k, v] : e.headers())
    if (k == "retry-after") found = v == "17";
  CHECK(found);

  // A redirect is not followed by default and is not success.
  e = error_of([&] { client.query("com.example.redirect"); });
  CHECK(e.status() == 302);

  // Unknown route on a plain server: a 404 whatever the body.
  CHECK(error_of([&] { client.query("com.example.nothing"); }).status() == 404);
}

TEST_CASE("transport failures, timeouts and invalid NSIDs") {
  TestService svc;
  XrpcClient client(svc.url());
  int before = svc.requests;
  CHECK_THROWS_AS(client.query("not-an-nsid"), ParseError);
  CHECK_THROWS_AS(client.procedure("com.example", Value::Map{}), ParseError);
  CHECK(svc.requests == before);  // nothing was sent

  net::HttpOptions quick;
  quick.timeout = 200ms;
  CHECK_THROWS_AS(client.query("com.example.slow", {}, {.http = quick}), net::HttpError);

  // A client with its own HttpClient options.
  auto http = std::make_shared<net::HttpClient>(quick);
  XrpcClient impatient(svc.url(), http);
  CHECK(&impatient.http() == http.get());
  CHECK_THROWS_AS(impatient.query("com.example.slow"), net::HttpError);

  // Nothing listens on port 1.
  XrpcClient nowhere("http://127.0.0.1:1");
  CHECK_THROWS_AS(nowhere.query("com.example.echo"), net::HttpError);
}

TEST_CASE("one client, many threads") {
  TestService svc;
  XrpcClient client(svc.url());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        Value out = client.query("com.example.echo", Params().add("n", t * 100 + i));
        if (out.at("params").as_array().at(0) ==
            Value(Value::Array{"n", std::to_string(t * 100 + i)}))
          ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 40);
}

// The AppView's HoldClient against a hostile hold: a real HTTP server of
// the test's own (the attacker) answers getPartUploadUrl with URLs into
// this host's network and headers of its choosing; another server plays
// the internal service the attacker is after and counts what reaches it.
#include "appview/hold_client.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <atomic>
#include <mutex>

#include "atcr/oci/errors.h"
#include "atcr/xrpc/server.h"

using namespace atcr;
using namespace atcr::appview;

namespace {

xrpc::ServerOptions quiet() {
  xrpc::ServerOptions o;
  o.logger = nullptr;
  return o;
}

// The internal service: counts requests, remembers the last one's headers,
// and answers 500 with a secret in the body.
struct Internal {
  xrpc::XrpcServer server{quiet()};
  std::atomic<int> hits{0};
  std::mutex mu;
  net::Headers last_headers;
  int status = 500;
  Internal() {
    server.route("PUT", "/internal/(.*)", [this](const xrpc::ServerRequest& req) {
      ++hits;
      std::lock_guard lock(mu);
      last_headers = req.headers;
      if (status != 200) return xrpc::ServerResponse::text("SECRET internal answer", "text/plain", status);
      return xrpc::ServerResponse::empty(200).header("ETag", "\"e1\"");
    });
    server.start();
  }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(server.port()); }
};

// The hostile hold: hands out `url` with an Authorization and an X-aws-*
// header for every part.
struct HostileHold {
  xrpc::XrpcServer server{quiet()};
  std::string url;
  HostileHold() {
    server.procedure("io.atcr.hold.getPartUploadUrl", [this](const xrpc::ServerRequest&) {
      return xrpc::ServerResponse::json(Value(Value::Map{
          {"url", Value(url)},
          {"method", Value("PUT")},
          {"headers", Value(Value::Map{{"Authorization", Value("AWS4 internal-admin")},
                                       {"X-aws-ec2-metadata-token", Value("t")},
                                       {"Content-Type", Value("application/octet-stream")}})},
      }));
    });
    server.start();
  }
  HoldRef ref() const { return {"did:web:hostile.example", "http://127.0.0.1:" + std::to_string(server.port())}; }
};

std::shared_ptr<const PartDestinations> destinations(std::vector<std::string> trusted = {}) {
  net::HttpOptions o;
  o.addresses = net::AddressPolicy::kPublic;
  o.connect_timeout = std::chrono::seconds(2);
  auto d = std::make_shared<PartDestinations>();
  d->http = std::make_shared<const net::HttpClient>(o);
  d->trusted_origins = std::move(trusted);
  return d;
}

std::string push_part(const HoldClient& hold) {
  UploadTarget target = hold.part_target("user-token", "upload-1", 1);
  return hold.put_part(target, "upload-part-token", as_bytes(std::string_view("client bytes")));
}

sockaddr_in v4(const char* text) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, text, &a.sin_addr);
  return a;
}
sockaddr_in6 v6(const char* text) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, text, &a.sin6_addr);
  return a;
}

}  // namespace

TEST_CASE("address policy: public addresses only, loopback in development") {
  using net::AddressPolicy;
  for (const char* bad : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                          "0.0.0.0", "224.0.0.1", "255.255.255.255"}) {
    sockaddr_in a = v4(bad);
    CHECK_MESSAGE(!net::address_allowed(&a, AddressPolicy::kPublic), bad);
  }
  for (const char* bad : {"::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
                          "64:ff9b::a9fe:a9fe"}) {
    sockaddr_in6 a = v6(bad);
    CHECK_MESSAGE(!net::address_allowed(&a, AddressPolicy::kPublic), bad);
  }
  sockaddr_in pub = v4("93.184.216.34");
  sockaddr_in6 pub6 = v6("2606:4700::1111");
  CHECK(net::address_allowed(&pub, AddressPolicy::kPublic));
  CHECK(net::address_allowed(&pub6, AddressPolicy::kPublic));
  sockaddr_in loop = v4("127.0.0.1");
  sockaddr_in priv = v4("10.0.0.1");
  CHECK(net::address_allowed(&loop, AddressPolicy::kPublicOrLoopback));
  CHECK(!net::address_allowed(&priv, AddressPolicy::kPublicOrLoopback));
  CHECK(net::address_allowed(&priv, AddressPolicy::kAny));
}

TEST_CASE("a hostile hold cannot point the AppView's part PUTs at this host's network") {
  Internal internal;
  HostileHold hostile;
  auto http = std::make_shared<const net::HttpClient>();
  HoldClient hold(hostile.ref(), http, destinations());

  for (std::string url : std::vector<std::string>{internal.origin() + "/internal/admin",                                       // plain http
                          "https://127.0.0.1:" + std::to_string(internal.server.port()) + "/internal/x",  // loopback
                          "https://localhost:" + std::to_string(internal.server.port()) + "/internal/x",  // by name
                          "https://169.254.169.254/internal/latest/meta-data",                            // metadata
                          "http://user@" + hostile.ref().url.substr(7) + "/internal/x",                   // userinfo
                          "ftp://127.0.0.1/internal/x"}) {
    INFO(url);
    hostile.url = url;
    try {
      push_part(hold);
      FAIL("the part PUT was sent");
    } catch (const oci::RegistryError& e) {
      CHECK(e.http_status() == 502);
      CHECK(std::string(e.what()).find("will not use") != std::string::npos);
    }
  }
  CHECK(internal.hits == 0);
  // Without destinations, only the hold's own origin is used.
  HoldClient bare(hostile.ref(), http);
  hostile.url = "https://example.com/x";
  CHECK_THROWS_AS(push_part(bare), oci::RegistryError);
}

TEST_CASE("an operator-listed storage origin is used, with allow-listed headers and no echoed body") {
  Internal internal;
  HostileHold hostile;
  HoldClient hold(hostile.ref(), std::make_shared<const net::HttpClient>(), destinations({internal.origin()}));
  hostile.url = internal.origin() + "/internal/bucket/key?X-Amz-Signature=abc";
  try {
    push_part(hold);
    FAIL("a 500 was taken for success");
  } catch (const xrpc::XrpcError& e) {
    CHECK(e.status() == 502);
    CHECK(std::string(e.what()).find("SECRET") == std::string::npos);
    CHECK(e.message().find("SECRET") == std::string::npos);
  }
  CHECK(internal.hits == 1);
  // A full store (507) stays a 507, still without the body.
  internal.status = 507;
  try {
    push_part(hold);
    FAIL("a 507 was taken for success");
  } catch (const xrpc::XrpcError& e) {
    CHECK(e.status() == 507);
    CHECK(e.error() == "InsufficientStorage");
    CHECK(e.message().find("SECRET") == std::string::npos);
  }
  internal.status = 500;
  {
    std::lock_guard lock(internal.mu);
    bool saw_content_type = false;
    for (const auto& [name, value] : internal.last_headers) {
      CHECK(name != "authorization");
      CHECK(name != "x-aws-ec2-metadata-token");
      saw_content_type = saw_content_type || name == "content-type";
    }
    CHECK(saw_content_type);
  }
  internal.status = 200;
  CHECK(push_part(hold) == "\"e1\"");
}

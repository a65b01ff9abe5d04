#include "atcr/identity/handle.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "atcr/error.h"
#include "atcr/identity/resolver.h"
#include "atcr/net/dns.h"
#include "loopback_server.h"

using namespace atcr;
using namespace atcr::identity;
using namespace std::chrono_literals;

namespace {

const std::string kAlice = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kBob = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";

// TXT records by name; a name mapped to "FAIL" makes the lookup fail.
struct FakeDns {
  std::map<std::string, std::vector<std::string>> records;
  std::vector<std::string> asked;

  HandleOptions options() {
    HandleOptions o;
    o.allow_test_handles = true;
    o.lookup_txt = [this](std::string_view name) {
      asked.emplace_back(name);
      auto it = records.find(std::string(name));
      if (it == records.end()) return std::vector<std::string>{};
      if (it->second == std::vector<std::string>{"FAIL"}) throw net::DnsError(fmt::format("{}: SERVFAIL", name));
      return it->second;
    };
    return o;
  }
};

// Serves /.well-known/atproto-did for several made-up hosts, told apart by
// the Host header, and a com.atproto.identity.resolveHandle endpoint.
class HandleHosts {
 public:
  HandleHosts() {
    http_.server.Get("/.well-known/atproto-did", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      std::string host = req.get_header_value("Host");
      if (auto colon = host.find(':'); colon != std::string::npos) host.resize(colon);
      if (host == "alice.test") {
        res.set_content("  " + kAlice + "\r\n", "text/plain");
      } else if (host == "bob.test") {
        res.set_content(kBob, "text/plain");
      } else if (host == "junk.test") {
        res.set_content("<html>hello</html>", "text/html");
      } else if (host == "big.test") {
        res.set_content(kAlice + std::string(4000, ' '), "text/plain");
      } else if (host == "redirect.test") {
        res.set_redirect("/elsewhere");
      } else if (host == "loop.test") {
        res.set_redirect("/.well-known/atproto-did");
      } else if (host == "slow.test") {
        http_.nap(3000ms);
        res.set_content(kAlice, "text/plain");
      } else {
        res.status = 404;
      }
    });
    http_.server.Get("/elsewhere", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kBob, "text/plain");
    });
    http_.server.Get("/xrpc/com.atproto.identity.resolveHandle", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_param_value("handle") == "service.test") {
        res.set_content(R"({"did":")" + kBob + "\"}", "application/json");
      } else {
        res.status = 400;
        res.set_content(R"({"error":"InvalidRequest","message":"Unable to resolve handle"})", "application/json");
      }
    });
    http_.start();
    net::HttpOptions options;
    options.timeout = 500ms;
    for (const char* host : {"alice.test", "bob.test", "junk.test", "big.test", "redirect.test", "loop.test",
                             "slow.test", "none.test", "service.test"})
      options.connect_to.push_back(fmt::format("{}:80:127.0.0.1:{}", host, http_.port()));
    // Production handles are fetched over https; this plain-http server
    // cannot complete that handshake.
    options.connect_to.push_back(fmt::format("alice.example.com:443:127.0.0.1:{}", http_.port()));
    client = std::make_unique<net::HttpClient>(options);
  }

  std::string url() const { return http_.url(); }

  std::unique_ptr<net::HttpClient> client;
  std::atomic<int> requests{0};

 private:
  test::LoopbackServer http_;
};

}  // namespace

TEST_CASE("handle policy: syntax, case and TLDs") {
  HandleOptions dev;
  dev.allow_test_handles = true;
  CHECK(normalize_resolvable_handle("Alice.Example.COM") == "alice.example.com");
  CHECK_THROWS_AS(normalize_resolvable_handle("not a handle"), ParseError);
  CHECK_THROWS_AS(normalize_resolvable_handle("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), ParseError);
  CHECK_THROWS_AS(normalize_resolvable_handle("localhost"), ParseError);
  for (const char* h : {"alice.local", "alice.onion", "handle.invalid", "a.example", "x.localhost", "b.arpa",
                        "c.internal", "d.alt"}) {
    CAPTURE(h);
    CHECK_THROWS_AS(normalize_resolvable_handle(h), ResolutionError);
    CHECK_THROWS_AS(normalize_resolvable_handle(h, dev), ResolutionError);
  }
  CHECK_THROWS_AS(normalize_resolvable_handle("alice.test"), ResolutionError);
  CHECK(normalize_resolvable_handle("Alice.TEST", dev) == "alice.test");
}

TEST_CASE("DNS TXT resolution") {
  FakeDns dns;
  HandleOptions o = dns.options();
  dns.records["_atproto.alice.example.com"] = {"v=spf1 -all", "did=not-a-did", "did=" + kAlice, "did=" + kAlice};
  dns.records["_atproto.two.example.com"] = {"did=" + kAlice, "did=" + kBob};
  dns.records["_atproto.other.example.com"] = {"hello", "DID=" + kAlice, " did=" + kAlice};
  dns.records["_atproto.broken.example.com"] = {"FAIL"};

  CHECK(resolve_handle_dns("Alice.Example.com", o) == kAlice);
  CHECK(dns.asked.back() == "_atproto.alice.example.com");
  CHECK_THROWS_AS(resolve_handle_dns("two.example.com", o), ResolutionError);
  CHECK_FALSE(resolve_handle_dns("other.example.com", o));
  CHECK_FALSE(resolve_handle_dns("nobody.example.com", o));
  CHECK_THROWS_AS(resolve_handle_dns("broken.example.com", o), net::DnsError);
  int asked = static_cast<int>(dns.asked.size());
  CHECK_THROWS_AS(resolve_handle_dns("alice.onion", o), ResolutionError);
  CHECK(static_cast<int>(dns.asked.size()) == asked);  // refused before any lookup
}

TEST_CASE("HTTPS well-known resolution") {
  HandleHosts hosts;
  HandleOptions o;
  o.allow_test_handles = true;
  const net::HttpClient& http = *hosts.client;

  CHECK(resolve_handle_https(http, "alice.test", o) == kAlice);  // whitespace trimmed
  CHECK(resolve_handle_https(http, "BOB.test", o) == kBob);
  CHECK(resolve_handle_https(http, "redirect.test", o) == kBob);  // a redirect is followed
  CHECK_FALSE(resolve_handle_https(http, "none.test", o));       // 404
  CHECK_FALSE(resolve_handle_https(http, "junk.test", o));       // not a DID
  CHECK_THROWS_AS(resolve_handle_https(http, "big.test", o), net::HttpError);   // over the 2 KiB cap
  CHECK_THROWS_AS(resolve_handle_https(http, "loop.test", o), net::HttpError);  // too many redirects
  auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(resolve_handle_https(http, "slow.test", o), net::HttpError);
  CHECK(std::chrono::steady_clock::now() - start < 2500ms);

  // Without the development option .test is refused before any request.
  int before = hosts.requests;
  CHECK_THROWS_AS(resolve_handle_https(http, "alice.test"), ResolutionError);
  CHECK(hosts.requests == before);

  // Other handles go over https only: no plain request reaches the server.
  CHECK_THROWS_AS(resolve_handle_https(http, "alice.example.com"), net::HttpError);
  CHECK(hosts.requests == before);
}

TEST_CASE("resolve_handle: DNS first, then HTTPS, then the resolver service") {
  HandleHosts hosts;
  FakeDns dns;
  HandleOptions o = dns.options();
  const net::HttpClient& http = *hosts.client;

  SUBCASE("DNS wins when both answer and disagree") {
    dns.records["_atproto.alice.test"] = {"did=" + kBob};
    CHECK(resolve_handle(http, "alice.test", o) == kBob);
    CHECK(hosts.requests == 0);  // HTTPS was not needed
  }
  SUBCASE("HTTPS when DNS has nothing") {
    CHECK(resolve_handle(http, "alice.test", o) == kAlice);
    CHECK(dns.asked == std::vector<std::string>{"_atproto.alice.test"});
  }
  SUBCASE("HTTPS when DNS fails") {
    dns.records["_atproto.alice.test"] = {"FAIL"};
    CHECK(resolve_handle(http, "alice.test", o) == kAlice);
  }
  SUBCASE("neither: a ResolutionError saying what each method saw") {
    try {
      resolve_handle(http, "junk.test", o);
      FAIL("expected a ResolutionError");
    } catch (const ResolutionError& e) {
      std::string what = e.what();
      CHECK(what.find("DNS: no did= TXT record") != std::string::npos);
      CHECK(what.find("HTTPS: no DID") != std::string::npos);
    }
    CHECK_THROWS_AS(resolve_handle(http, "loop.test", o), ResolutionError);
    CHECK_THROWS_AS(resolve_handle(http, "none.test", o), ResolutionError);
  }
  SUBCASE("a failed DNS lookup and no DID elsewhere is the resolver's trouble") {
    dns.records["_atproto.none.test"] = {"FAIL"};
    CHECK_THROWS_AS(resolve_handle(http, "none.test", o), net::DnsError);
  }
  SUBCASE("ambiguous DNS fails outright") {
    dns.records["_atproto.alice.test"] = {"did=" + kAlice, "did=" + kBob};
    CHECK_THROWS_AS(resolve_handle(http, "alice.test", o), ResolutionError);
  }
  SUBCASE("the resolver service as the last resort") {
    o.resolver_service = hosts.url() + "/";
    CHECK(resolve_handle(http, "service.test", o) == kBob);
    CHECK(resolve_handle(http, "alice.test", o) == kAlice);  // the service knows no alice: HTTPS answers
    CHECK_THROWS_AS(resolve_handle(http, "none.test", o), ResolutionError);
    o.resolver_service = "http://127.0.0.1:1";  // nothing listens there
    CHECK_THROWS_AS(resolve_handle(http, "none.test", o), net::HttpError);
  }
  SUBCASE("a .test handle asks the service first: no public DNS answers under .test") {
    dns.records["_atproto.service.test"] = {"did=" + kAlice};
    o.resolver_service = hosts.url();
    CHECK(resolve_handle(http, "service.test", o) == kBob);
  }
  SUBCASE("bad input") {
    CHECK_THROWS_AS(resolve_handle(http, "no spaces allowed", o), ParseError);
    CHECK_THROWS_AS(resolve_handle(http, "alice.local", o), ResolutionError);
  }
}

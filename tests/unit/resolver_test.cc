#include "atcr/identity/directory_resolver.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "atcr/error.h"
#include "atcr/identity/did_web.h"
#include "atcr/net/dns.h"
#include "loopback_server.h"

using namespace atcr;
using namespace atcr::identity;
using namespace std::chrono_literals;

namespace {

std::string plc_did(char c) { return "did:plc:" + std::string(24, c); }

DidDocument document(const std::string& did, const std::string& handle) {
  DidDocument doc;
  doc.id = did;
  if (!handle.empty()) doc.also_known_as = {"at://" + handle};
  doc.verification_methods.push_back({"atproto", PrivateKey::generate(KeyType::kSecp256k1).public_key()});
  doc.services.push_back({"atproto_pds", "AtprotoPersonalDataServer", "https://pds.example.com"});
  return doc;
}

// One loopback server playing a PLC directory, a did:web host (as
// localhost:<port>) and the hosts of .test handles (told apart by Host).
class World {
 public:
  World() {
    http_.server.Get(R"(/(did:plc:[a-z2-7]+))", [this](const httplib::Request& req, httplib::Response& res) {
      ++plc_requests;
      http_.nap(delay());
      std::lock_guard lock(mu_);
      std::string did = req.matches[1];
      if (auto it = plc_.find(did); it != plc_.end()) return res.set_content(it->second, "application/did+ld+json");
      if (did == plc_did('f')) {
        res.status = 503;
        return res.set_content(R"({"message":"try later"})", "application/json");
      }
      res.status = 404;
      res.set_content(R"({"message":"DID not registered: )" + did + "\"}", "application/json");
    });
    http_.server.Get("/.well-known/did.json", [this](const httplib::Request&, httplib::Response& res) {
      ++web_requests;
      std::lock_guard lock(mu_);
      res.set_content(web_doc_, "application/json");
    });
    http_.server.Get("/.well-known/atproto-did", [this](const httplib::Request& req, httplib::Response& res) {
      ++handle_requests;
      std::string host = req.get_header_value("Host");
      if (auto colon = host.find(':'); colon != std::string::npos) host.resize(colon);
      std::lock_guard lock(mu_);
      if (auto it = handles_.find(host); it != handles_.end()) return res.set_content(it->second, "text/plain");
      res.status = 404;
    });
    http_.start();
    web_did = fmt::format("did:web:localhost%3A{}", http_.port());
  }

  ResolverOptions options() {
    ResolverOptions o;
    o.plc_directory = http_.url();
    o.did_web.allow_http_localhost = true;
    o.handles.allow_test_handles = true;
    o.handles.lookup_txt = [](std::string_view) { return std::vector<std::string>{}; };
    o.http.timeout = 2000ms;
    for (const char* host : {"alice.test", "bob.test", "mallory.test", "none.test", "web.test"})
      o.http.connect_to.push_back(fmt::format("{}:80:127.0.0.1:{}", host, http_.port()));
    o.clock = [this] { return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms.load())); };
    return o;
  }

  void put_plc(const DidDocument& doc) {
    std::lock_guard lock(mu_);
    plc_[doc.id] = doc.to_json();
  }
  void put_web(const std::string& json) {
    std::lock_guard lock(mu_);
    web_doc_ = json;
  }
  void put_handle(const std::string& host, const std::string& did) {
    std::lock_guard lock(mu_);
    handles_[host] = did;
  }
  void set_delay(std::chrono::milliseconds d) { delay_ms_ = d.count(); }
  void advance(std::chrono::milliseconds d) { now_ms += d.count(); }

  std::string web_did;
  std::atomic<int> plc_requests{0};
  std::atomic<int> web_requests{0};
  std::atomic<int> handle_requests{0};
  std::atomic<std::int64_t> now_ms{1'000'000};

 private:
  std::chrono::milliseconds delay() const { return std::chrono::milliseconds(delay_ms_.load()); }

  test::LoopbackServer http_;
  std::mutex mu_;
  std::map<std::string, std::string> plc_;
  std::map<std::string, std::string> handles_;
  std::string web_doc_;
  std::atomic<std::int64_t> delay_ms_{0};
};

}  // namespace

TEST_CASE("did:web URLs") {
  CHECK(did_web_url("did:web:example.com") == "https://example.com/.well-known/did.json");
  CHECK(did_web_url("did:web:Example.COM") == "https://example.com/.well-known/did.json");
  DidWebOptions dev;
  dev.allow_http_localhost = true;
  // Loopback did:web only in development: a token's iss must not make a
  // production service fetch from its own loopback.
  CHECK_THROWS_AS(did_web_url("did:web:localhost%3A8080"), ParseError);
  CHECK_THROWS_AS(did_web_url("did:web:127.0.0.1%3A8080"), ParseError);
  CHECK_THROWS_AS(did_web_url("did:web:localhost"), ParseError);
  CHECK(did_web_url("did:web:localhost%3A8080", dev) == "http://localhost:8080/.well-known/did.json");
  CHECK(did_web_url("did:web:localhost", dev) == "http://localhost/.well-known/did.json");
  CHECK(did_web_url("did:web:example.com", dev) == "https://example.com/.well-known/did.json");  // only localhost
  CHECK(did_web_url("did:web:127.0.0.1%3A8080", dev) == "http://127.0.0.1:8080/.well-known/did.json");
  for (const char* bad : {"did:web:example.com:user:alice", "did:web:example.com%3A8080", "did:web:localhost%3A0",
                          "did:web:localhost%3A99999", "did:web:localhost%3Axyz", "did:web:localhost%2F",
                          "did:web:alice.local", "did:web:127.0.0.1", "did:web:", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
                          "did:web:exa mple.com"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(did_web_url(bad, dev), ParseError);
  }
}

TEST_CASE("resolving DIDs, with positive caching") {
  World world;
  DirectoryResolver resolver(world.options());
  DidDocument alice = document(plc_did('a'), "alice.test");
  world.put_plc(alice);

  CHECK(resolver.resolve_did(alice.id) == alice);
  CHECK(world.plc_requests == 1);
  CHECK(resolver.resolve_did(alice.id) == alice);
  CHECK(world.plc_requests == 1);  // cached

  SUBCASE("until the TTL passes") {
    world.advance(9min);
    resolver.resolve_did(alice.id);
    CHECK(world.plc_requests == 1);
    world.advance(61s);
    resolver.resolve_did(alice.id);
    CHECK(world.plc_requests == 2);
  }
  SUBCASE("fresh bypasses the cache and refreshes it") {
    DidDocument rotated = document(alice.id, "alice.test");
    world.put_plc(rotated);
    CHECK(resolver.resolve_did(alice.id) == alice);  // still the cached one
    CHECK(resolver.resolve_did(alice.id, true) == rotated);
    CHECK(world.plc_requests == 2);
    CHECK(resolver.resolve_did(alice.id) == rotated);
    CHECK(world.plc_requests == 2);
  }
  SUBCASE("invalidate forgets") {
    resolver.invalidate(alice.id);
    resolver.resolve_did(alice.id);
    CHECK(world.plc_requests == 2);
  }
}

TEST_CASE("negative caching: definite failures for a minute, network trouble not at all") {
  World world;
  DirectoryResolver resolver(world.options());

  CHECK_THROWS_AS(resolver.resolve_did(plc_did('z')), ResolutionError);
  CHECK_THROWS_AS(resolver.resolve_did(plc_did('z')), ResolutionError);
  CHECK(world.plc_requests == 1);
  world.advance(59s);
  CHECK_THROWS_AS(resolver.resolve_did(plc_did('z')), ResolutionError);
  CHECK(world.plc_requests == 1);
  world.advance(2s);
  world.put_plc(document(plc_did('z'), ""));
  CHECK(resolver.resolve_did(plc_did('z')).id == plc_did('z'));  // registered meanwhile
  CHECK(world.plc_requests == 2);

  // A 503 from the directory is its trouble: reported, not remembered.
  CHECK_THROWS_AS(resolver.resolve_did(plc_did('f')), PlcError);
  CHECK_THROWS_AS(resolver.resolve_did(plc_did('f')), PlcError);
  CHECK(world.plc_requests == 4);

  // Nothing listening: did:web:localhost on port 80.
  CHECK_THROWS_AS(resolver.resolve_did("did:web:localhost"), net::HttpError);

  // Malformed input fails before any request.
  CHECK_THROWS_AS(resolver.resolve_did("not a did"), ParseError);
  CHECK_THROWS_AS(resolver.resolve_did("did:key:zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"), ResolutionError);
  CHECK_THROWS_AS(resolver.resolve_did("did:web:example.com:path"), ParseError);
  CHECK(world.plc_requests == 4);
}

TEST_CASE("unreachable_ttl remembers network trouble for a while") {
  World world;
  ResolverOptions o = world.options();
  o.unreachable_ttl = 30s;
  DirectoryResolver resolver(o);
  CHECK_THROWS_AS(resolver.resolve_did(plc_did('f')), PlcError);
  CHECK_THROWS_AS(resolver.resolve_did(plc_did('f')), PlcError);  // remembered
  CHECK(world.plc_requests == 1);
  world.advance(31s);
  CHECK_THROWS_AS(resolver.resolve_did(plc_did('f')), PlcError);
  CHECK(world.plc_requests == 2);
}

TEST_CASE("did:web over loopback") {
  World world;
  DirectoryResolver resolver(world.options());
  DidDocument doc = document(world.web_did, "web.test");
  world.put_web(doc.to_json());
  CHECK(resolver.resolve_did(world.web_did) == doc);

  SUBCASE("the document must be the DID's") {
    world.put_web(document("did:web:example.com", "").to_json());
    CHECK_THROWS_AS(resolver.resolve_did(world.web_did, true), ResolutionError);
  }
  SUBCASE("a body that is not a document") {
    world.put_web("<html>hello</html>");
    CHECK_THROWS_AS(resolver.resolve_did(world.web_did, true), ParseError);
    CHECK_THROWS_AS(resolver.resolve_did(world.web_did), ParseError);  // cached as a definite failure
    CHECK(world.web_requests == 2);
  }
  SUBCASE("a document over 64 KiB") {
    DidDocument big = doc;
    big.also_known_as.push_back("https://" + std::string(70000, 'x'));
    world.put_web(big.to_json());
    CHECK_THROWS_AS(resolver.resolve_did(world.web_did, true), net::HttpError);
  }
  SUBCASE("a loopback did:web needs the development option") {
    ResolverOptions strict = world.options();
    strict.did_web.allow_http_localhost = false;
    DirectoryResolver production(strict);
    int before = world.web_requests;
    CHECK_THROWS_AS(production.resolve_did(world.web_did), ParseError);  // refused without a request
    CHECK(world.web_requests == before);
  }
}

TEST_CASE("bidirectional verification") {
  World world;
  DirectoryResolver resolver(world.options());
  DidDocument alice = document(plc_did('a'), "alice.test");
  DidDocument bob = document(plc_did('b'), "bob.test");
  DidDocument impostor = document(plc_did('c'), "alice.test");  // claims alice's handle
  DidDocument lost = document(plc_did('d'), "none.test");       // handle resolves nowhere
  for (const DidDocument& d : {alice, bob, impostor, lost}) world.put_plc(d);
  world.put_handle("alice.test", alice.id);
  world.put_handle("bob.test", "\n" + bob.id + "\n");
  world.put_handle("mallory.test", alice.id);  // a handle alice's document does not claim

  Identity a = resolver.resolve("Alice.Test");
  CHECK(a.did == alice.id);
  CHECK(a.handle == "alice.test");
  CHECK(a.document == alice);
  CHECK(resolver.resolve(alice.id).handle == "alice.test");
  CHECK(resolver.resolve(bob.id).handle == "bob.test");
  CHECK(resolver.resolve_handle("BOB.test") == bob.id);

  // A document's claim alone is not enough.
  Identity c = resolver.resolve(impostor.id);
  CHECK(c.did == impostor.id);
  CHECK_FALSE(c.handle);
  CHECK_FALSE(resolver.resolve(lost.id).handle);
  // And a handle must be claimed back by its DID's document.
  CHECK_THROWS_AS(resolver.resolve("mallory.test"), ResolutionError);
  CHECK_THROWS_AS(resolver.resolve("none.test"), ResolutionError);
  CHECK_THROWS_AS(resolver.resolve("alice.local"), ResolutionError);
  CHECK_THROWS_AS(resolver.resolve("not a handle"), ParseError);

  // Handles are cached too.
  int before = world.handle_requests;
  resolver.resolve("alice.test");
  CHECK(world.handle_requests == before);
  resolver.invalidate("ALICE.test");
  resolver.resolve("alice.test");
  CHECK(world.handle_requests == before + 1);
}

TEST_CASE("the cache is bounded") {
  World world;
  ResolverOptions o = world.options();
  o.max_entries = 2;
  DirectoryResolver resolver(o);
  for (char c : {'a', 'b', 'c'}) world.put_plc(document(plc_did(c), ""));
  resolver.resolve_did(plc_did('a'));
  resolver.resolve_did(plc_did('b'));
  resolver.resolve_did(plc_did('a'));  // a is now the most recently used
  resolver.resolve_did(plc_did('c'));  // evicts b
  CHECK(world.plc_requests == 3);
  resolver.resolve_did(plc_did('a'));
  CHECK(world.plc_requests == 3);
  resolver.resolve_did(plc_did('b'));
  CHECK(world.plc_requests == 4);

  ResolverOptions none = world.options();
  none.max_entries = 0;
  DirectoryResolver uncached(none);
  uncached.resolve_did(plc_did('a'));
  uncached.resolve_did(plc_did('a'));
  CHECK(world.plc_requests == 6);
}

TEST_CASE("concurrent lookups of one DID share a request") {
  World world;
  DirectoryResolver resolver(world.options());
  DidDocument alice = document(plc_did('a'), "alice.test");
  world.put_plc(alice);
  world.set_delay(300ms);

  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      if (resolver.resolve_did(alice.id) == alice) ++ok;
    });
  for (std::thread& t : threads) t.join();
  CHECK(ok == 8);
  CHECK(world.plc_requests == 1);

  // Failures are shared the same way.
  threads.clear();
  std::atomic<int> failed{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      try {
        resolver.resolve_did(plc_did('z'));
      } catch (const ResolutionError&) {
        ++failed;
      }
    });
  for (std::thread& t : threads) t.join();
  CHECK(failed == 8);
  CHECK(world.plc_requests == 2);
}

TEST_CASE("8 threads resolving a mix of identities") {
  World world;
  DirectoryResolver resolver(world.options());
  const std::string letters = "abcdefgh";
  std::map<std::string, DidDocument> docs;
  for (char c : letters) {
    if (c == 'f') continue;  // the directory's 503 DID
    DidDocument d = document(plc_did(c), c == 'a' ? "alice.test" : "");
    docs.emplace(d.id, d);
    world.put_plc(d);
  }
  world.put_handle("alice.test", plc_did('a'));

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        char c = letters[static_cast<std::size_t>(t + i) % letters.size()];
        std::string did = plc_did(c);
        try {
          if (i % 7 == 0) world.advance(30s);  // entries expire while others read them
          if (c == 'a' && i % 2 == 0) {
            Identity id = resolver.resolve("alice.test", i % 5 == 0);
            if (id.did != did || id.handle != "alice.test") ++wrong;
          } else {
            DidDocument doc = resolver.resolve_did(did, i % 5 == 0);
            if (c == 'f' || doc != docs.at(did)) ++wrong;
          }
        } catch (const PlcError&) {
          if (c != 'f') ++wrong;
        } catch (const Error& e) {
          MESSAGE(e.what());
          ++wrong;
        }
      }
    });
  for (std::thread& t : threads) t.join();
  CHECK(wrong == 0);
}

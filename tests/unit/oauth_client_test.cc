// atcr::oauth::Client and Session against a test-side authorization server
// and PDS (one small real HTTP server, like the reference PDS that is both):
// the mechanics the reference PDS cannot be made to show on demand (nonce
// retries on both servers, single-flight refresh, a revoked grant) and the
// attacks it never mounts (a code replayed, a wrong state or iss, a `sub`
// that is not the account, an authorization server speaking for another's
// accounts, metadata naming another issuer). The happy path against the
// real PDS is tests/e2e/oauth_test.sh.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/oauth/client.h"
#include "atcr/oauth/jose.h"
#include "atcr/oauth/session.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/service_auth.h"

using namespace atcr;
using namespace atcr::oauth;
using namespace std::chrono_literals;

namespace {

const std::string kDid = "did:plc:alice7fhzbvaiqzgqg2fd6a";
const std::string kOtherDid = "did:plc:mallory3fhzbvaiqzgqg2fd6";

std::string field(const std::vector<std::pair<std::string, std::string>>& form, std::string_view name) {
  for (const auto& [k, v] : form)
    if (k == name) return v;
  return {};
}

// An authorization server and PDS on one origin, honest unless told not to be.
class FakeServer {
 public:
  // What it gets wrong on purpose.
  std::string metadata_issuer;  // "" = its own origin
  std::string sub = kDid;       // the token response's sub
  std::string names_server;     // the AS its resource metadata names ("" = itself)
  bool revoked = false;         // refresh_token grants refused
  std::atomic<int> refreshes{0};
  std::atomic<int> as_nonce_refusals{0};
  std::atomic<int> pds_nonce_refusals{0};

  FakeServer() {
    xrpc::ServerOptions o;
    o.logger = nullptr;
    server_ = std::make_unique<xrpc::XrpcServer>(o);
    server_->route("GET", "/\\.well-known/oauth-protected-resource", [this](const xrpc::ServerRequest&) {
      return xrpc::ServerResponse::json(Value(Value::Map{
          {"resource", Value(base)},
          {"authorization_servers", Value(Value::Array{Value(names_server.empty() ? base : names_server)})}}));
    });
    server_->route("GET", "/\\.well-known/oauth-authorization-server", [this](const xrpc::ServerRequest&) {
      auto list = [](std::initializer_list<const char*> items) {
        Value::Array a;
        for (const char* i : items) a.push_back(Value(i));
        return Value(std::move(a));
      };
      return xrpc::ServerResponse::json(Value(Value::Map{
          {"issuer", Value(metadata_issuer.empty() ? base : metadata_issuer)},
          {"pushed_authorization_request_endpoint", Value(base + "/oauth/par")},
          {"authorization_endpoint", Value(base + "/oauth/authorize")},
          {"token_endpoint", Value(base + "/oauth/token")},
          {"code_challenge_methods_supported", list({"S256"})},
          {"dpop_signing_alg_values_supported", list({"ES256"})},
          {"token_endpoint_auth_methods_supported", list({"none", "private_key_jwt"})},
      }));
    });
    server_->route("POST", "/oauth/par", [this](const xrpc::ServerRequest& req) { return par(req); });
    server_->route("POST", "/oauth/token", [this](const xrpc::ServerRequest& req) { return token(req); });
    server_->query("com.atproto.server.getSession", [this](const xrpc::ServerRequest& req) { return session(req); });
    server_->start();
    base = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  std::string base;

  // The code the user would bring back for a PAR request_uri.
  std::string code_for(const std::string& authorization_url) {
    std::lock_guard lock(mu_);
    for (auto& [code, r] : requests_)
      if (authorization_url.find(net::url_encode(r.request_uri)) != std::string::npos) return code;
    return {};
  }
  // The current access token stops working (as at its expiry).
  void expire_access() {
    std::lock_guard lock(mu_);
    access_ = "expired";
  }

 private:
  struct Request {
    std::string request_uri, challenge, state, redirect_uri;
    PublicKey dpop;
    bool used = false;
  };

  static xrpc::ServerResponse oauth_error(int status, std::string_view error, std::string_view description) {
    return xrpc::ServerResponse::json(
        Value(Value::Map{{"error", Value(error)}, {"error_description", Value(description)}}), status);
  }

  // The AS's DPoP check: a proof for this request with the current nonce.
  std::optional<PublicKey> check_as_proof(const xrpc::ServerRequest& req, xrpc::ServerResponse& refusal) {
    try {
      return verify_dpop_proof(req.header("dpop"), {.htm = "POST", .url = base + req.path, .nonce = kAsNonce}).key;
    } catch (const VerifyError& e) {
      bool nonce = std::string(e.what()).find("nonce") != std::string::npos;
      if (nonce) ++as_nonce_refusals;
      refusal = oauth_error(400, nonce ? "use_dpop_nonce" : "invalid_dpop_proof", e.what());
      refusal.header("DPoP-Nonce", kAsNonce);
      return std::nullopt;
    }
  }

  xrpc::ServerResponse par(const xrpc::ServerRequest& req) {
    xrpc::ServerResponse refusal;
    auto key = check_as_proof(req, refusal);
    if (!key) return refusal;
    auto form = req.form();
    if (field(form, "code_challenge_method") != "S256") return oauth_error(400, "invalid_request", "S256 only");
    std::lock_guard lock(mu_);
    std::string uri = "urn:ietf:params:oauth:request_uri:req-" + std::to_string(requests_.size());
    requests_.emplace("code-" + std::to_string(requests_.size()),
                      Request{uri, field(form, "code_challenge"), field(form, "state"), field(form, "redirect_uri"),
                              *key});
    auto r = xrpc::ServerResponse::json(Value(Value::Map{{"request_uri", Value(uri)}, {"expires_in", Value(60)}}), 201);
    r.header("DPoP-Nonce", kAsNonce);
    return r;
  }

  xrpc::ServerResponse issue(std::lock_guard<std::mutex>&) {
    ++generation_;
    access_ = "at-" + std::to_string(generation_);
    refresh_ = "rt-" + std::to_string(generation_);
    return xrpc::ServerResponse::json(Value(Value::Map{
        {"access_token", Value(access_)}, {"refresh_token", Value(refresh_)}, {"token_type", Value("DPoP")},
        {"scope", Value("atproto transition:generic")}, {"sub", Value(sub)}, {"expires_in", Value(3600)}}));
  }

  xrpc::ServerResponse token(const xrpc::ServerRequest& req) {
    xrpc::ServerResponse refusal;
    auto key = check_as_proof(req, refusal);
    if (!key) return refusal;
    auto form = req.form();
    std::string grant = field(form, "grant_type");
    if (grant == "refresh_token") {
      std::this_thread::sleep_for(50ms);  // a window for concurrent refreshers to pile up
      std::lock_guard lock(mu_);
      ++refreshes;
      if (revoked) return oauth_error(400, "invalid_grant", "the grant was revoked");
      if (field(form, "refresh_token") != refresh_) return oauth_error(400, "invalid_grant", "refresh token replayed");
      return issue(lock);
    }
    std::lock_guard lock(mu_);
    auto it = requests_.find(field(form, "code"));
    if (it == requests_.end()) return oauth_error(400, "invalid_grant", "unknown code");
    if (it->second.used) return oauth_error(400, "invalid_grant", "code replayed");
    it->second.used = true;
    if (pkce_challenge(field(form, "code_verifier")) != it->second.challenge)
      return oauth_error(400, "invalid_grant", "PKCE verifier mismatch");
    if (!(*key == it->second.dpop)) return oauth_error(400, "invalid_dpop_proof", "another DPoP key");
    return issue(lock);
  }

  xrpc::ServerResponse session(const xrpc::ServerRequest& req) {
    std::string auth = req.header("authorization");
    std::string access = auth.rfind("DPoP ", 0) == 0 ? auth.substr(5) : "";
    try {
      verify_dpop_proof(req.header("dpop"), {.htm = "GET", .url = base + req.path, .nonce = kPdsNonce,
                                            .access_token = access});
    } catch (const VerifyError& e) {
      bool nonce = std::string(e.what()).find("nonce") != std::string::npos;
      if (nonce) ++pds_nonce_refusals;
      auto r = xrpc::ServerResponse::error(401, nonce ? "use_dpop_nonce" : "invalid_dpop_proof", e.what());
      r.header("WWW-Authenticate", nonce ? "DPoP error=\"use_dpop_nonce\"" : "DPoP error=\"invalid_dpop_proof\"");
      r.header("DPoP-Nonce", kPdsNonce);
      return r;
    }
    std::lock_guard lock(mu_);
    if (access != access_) {
      auto r = xrpc::ServerResponse::error(401, "invalid_token", "expired");
      r.header("WWW-Authenticate", "DPoP error=\"invalid_token\"");
      return r;
    }
    return xrpc::ServerResponse::json(Value(Value::Map{{"did", Value(kDid)}, {"handle", Value("alice.test")}}));
  }

  static constexpr const char* kAsNonce = "as-nonce-1";
  static constexpr const char* kPdsNonce = "pds-nonce-1";
  std::unique_ptr<xrpc::XrpcServer> server_;
  std::mutex mu_;
  std::map<std::string, Request> requests_;  // code -> request
  int generation_ = 0;
  std::string access_, refresh_;
};

// DIDs whose documents name a PDS (handles: "alice.test" -> kDid).
class PdsResolver : public identity::Resolver {
 public:
  std::map<std::string, std::string> pds;  // did -> PDS URL
  identity::DidDocument resolve_did(std::string_view did, bool) override {
    auto it = pds.find(std::string(did));
    if (it == pds.end()) throw identity::ResolutionError("unknown DID " + std::string(did));
    identity::DidDocument doc;
    doc.id = std::string(did);
    doc.services.push_back({"atproto_pds", "AtprotoPersonalDataServer", it->second});
    return doc;
  }
  std::string resolve_handle(std::string_view handle, bool) override {
    if (handle == "alice.test") return kDid;
    throw identity::ResolutionError("unknown handle");
  }
  identity::Identity resolve(std::string_view input, bool fresh) override {
    std::string did = input.rfind("did:", 0) == 0 ? std::string(input) : resolve_handle(input, fresh);
    return identity::Identity{did, did == kDid ? std::optional<std::string>("alice.test") : std::nullopt,
                              resolve_did(did, fresh)};
  }
};

struct Fixture {
  FakeServer as;
  PdsResolver resolver;
  Client client{{.base_url = "http://127.0.0.1:5000", .allow_http = true}, resolver, nullptr};
  Fixture() {
    resolver.pds[kDid] = as.base;
    resolver.pds[kOtherDid] = as.base;
  }
  CallbackParams callback_for(const PendingAuthorization& p) {
    return {as.code_for(p.authorization_url), p.state, p.discovery.server.issuer, "", ""};
  }
  TokenSet sign_in(PendingAuthorization& p) { return client.finish(p, callback_for(p)); }
};

}  // namespace

TEST_CASE("sign-in: discovery, PAR and the code exchange, with the AS's nonce") {
  Fixture f;
  PendingAuthorization p = f.client.start("alice.test");
  CHECK(p.discovery.did == kDid);
  CHECK(p.discovery.server.issuer == f.as.base);
  CHECK(p.authorization_url.rfind(f.as.base + "/oauth/authorize?client_id=", 0) == 0);
  CHECK(f.as.as_nonce_refusals == 1);  // the first PAR had no nonce; retried once
  TokenSet t = f.sign_in(p);
  CHECK(t.did == kDid);
  CHECK(t.handle == "alice.test");
  CHECK(t.pds_url == f.as.base);
  CHECK(t.access_token == "at-1");
  CHECK(t.expires_at > xrpc::unix_now() + 3000);
  CHECK(f.as.as_nonce_refusals == 1);  // the token request reused the nonce

  SUBCASE("resource calls carry DPoP with ath, and learn the PDS's nonce") {
    auto session = std::make_shared<Session>(f.client, t, p.dpop_key);
    xrpc::PdsSession pds = session->pds_session();
    CHECK(pds.did() == kDid);
    CHECK(pds.query("com.atproto.server.getSession").find("did")->as_string() == kDid);
    CHECK(f.as.pds_nonce_refusals == 1);
    pds.query("com.atproto.server.getSession");
    CHECK(f.as.pds_nonce_refusals == 1);
  }
  SUBCASE("a replayed code is refused by the AS and surfaced as invalid_grant") {
    try {
      f.client.finish(p, f.callback_for(p));
      FAIL("the replayed code was accepted");
    } catch (const OAuthError& e) {
      CHECK(e.error() == "invalid_grant");
      CHECK(e.status() == 400);
    }
  }
}

TEST_CASE("callbacks that are not this request's are refused before the AS is asked") {
  Fixture f;
  PendingAuthorization p = f.client.start("alice.test");
  CallbackParams cb = f.callback_for(p);
  auto refused = [&](CallbackParams c, std::string_view error) {
    try {
      f.client.finish(p, c);
      FAIL("accepted");
    } catch (const OAuthError& e) {
      CHECK(e.error() == error);
    }
  };
  CallbackParams wrong_state = cb;
  wrong_state.state = "not-" + cb.state;
  refused(wrong_state, "invalid_state");
  CallbackParams wrong_iss = cb;
  wrong_iss.iss = "https://evil.example";
  refused(wrong_iss, "issuer_mismatch");
  CallbackParams denied{"", cb.state, cb.iss, "access_denied", "no"};
  refused(denied, "access_denied");
  CHECK_NOTHROW(f.client.finish(p, cb));  // the code was never spent
}

TEST_CASE("a grant for another account than the one resolved is refused") {
  Fixture f;
  f.as.sub = kOtherDid;
  PendingAuthorization p = f.client.start("alice.test");
  try {
    f.sign_in(p);
    FAIL("accepted");
  } catch (const OAuthError& e) {
    CHECK(e.error() == "subject_mismatch");
  }
}

TEST_CASE("an authorization server may only speak for accounts whose PDS names it") {
  Fixture f;
  FakeServer other;  // the account's real PDS and AS
  f.resolver.pds[kOtherDid] = other.base;
  f.as.sub = kOtherDid;
  // The user typed a server URL, so any account may come back, but only
  // one whose own PDS names this AS.
  PendingAuthorization p = f.client.start(f.as.base);
  CHECK(p.discovery.did.empty());
  try {
    f.sign_in(p);
    FAIL("accepted");
  } catch (const OAuthError& e) {
    CHECK(e.error() == "issuer_mismatch");
  }
  f.as.sub = kDid;  // an account it does serve
  PendingAuthorization q = f.client.start(f.as.base);
  CHECK(f.sign_in(q).did == kDid);
}

TEST_CASE("metadata naming another issuer is refused") {
  Fixture f;
  f.as.metadata_issuer = "https://as.example";
  try {
    f.client.start("alice.test");
    FAIL("accepted");
  } catch (const OAuthError& e) {
    CHECK(e.error() == "issuer_mismatch");
  }
}

TEST_CASE("expired access tokens are refreshed once for all concurrent calls") {
  Fixture f;
  PendingAuthorization p = f.client.start("alice.test");
  auto session = std::make_shared<Session>(f.client, f.sign_in(p), p.dpop_key);
  std::vector<TokenSet> saved;
  std::mutex saved_mu;
  session->on_refresh([&](const TokenSet& t) {
    std::lock_guard lock(saved_mu);
    saved.push_back(t);
  });
  xrpc::PdsSession pds = session->pds_session();
  pds.query("com.atproto.server.getSession");
  f.as.expire_access();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      if (pds.query("com.atproto.server.getSession").is_map()) ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 8);
  CHECK(f.as.refreshes == 1);
  REQUIRE(saved.size() == 1);
  CHECK(saved[0].access_token == "at-2");
  CHECK(session->tokens().refresh_token == "rt-2");
}

TEST_CASE("a revoked grant ends the session cleanly") {
  Fixture f;
  PendingAuthorization p = f.client.start("alice.test");
  auto session = std::make_shared<Session>(f.client, f.sign_in(p), p.dpop_key);
  std::atomic<int> ends{0};
  session->on_end([&](const std::string&) { ++ends; });
  xrpc::PdsSession pds = session->pds_session();
  f.as.revoked = true;
  f.as.expire_access();
  CHECK_THROWS_AS(pds.query("com.atproto.server.getSession"), SessionEnded);
  CHECK(session->ended());
  CHECK_THROWS_AS(pds.query("com.atproto.server.getSession"), SessionEnded);
  CHECK(ends == 1);
  CHECK(f.as.refreshes == 1);  // an ended session asks no more
}

// atcr::oauth::Client and Session against a test-side authorization server
// and PDS (tests/support/fake_oauth_server.h):
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
#include "fake_oauth_server.h"

using namespace atcr;
using namespace atcr::oauth;
using namespace std::chrono_literals;

namespace {

using test::FakeOAuthServer;
using test::kDid;
using test::kOtherDid;
using test::PdsResolver;

struct Fixture {
  FakeOAuthServer as;
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
  FakeOAuthServer other;  // the account's real PDS and AS
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

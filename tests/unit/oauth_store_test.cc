// The AppView's OAuth state (appview/web/oauth_store.h) against the
// test-side authorization server + PDS: sign-ins in flight are single-use,
// sessions live in SQLite (a restart resumes them), refreshed tokens are
// saved, a revoked grant drops the session and says so once, and logout
// revokes the grant at the authorization server.
#include "appview/web/oauth_store.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "atcr/xrpc/service_auth.h"
#include "fake_oauth_server.h"
#include "test_database.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::appview::web;

namespace {

struct Fixture {
  test::FakeOAuthServer as;
  test::PdsResolver resolver;
  test::TempDir dir{"atcr-oauth-store"};
  std::string db = test::database_url(dir.path());  // SQLite, or PostgreSQL in the integration suite
  Fixture() { resolver.pds[test::kDid] = as.base; }
  std::unique_ptr<OAuthStore> open() {
    return std::make_unique<OAuthStore>(
        db,
        std::make_unique<oauth::Client>(
            oauth::ClientOptions{.base_url = "http://127.0.0.1:5000", .allow_http = true}, resolver, nullptr),
        nullptr);
  }
  // A whole sign-in through `store`: start, the user's approval, callback.
  std::shared_ptr<xrpc::PdsSession> sign_in(OAuthStore& store) {
    oauth::PendingAuthorization p = store.client().start("alice.test");
    std::string state = p.state, url = p.authorization_url;
    store.put_pending({std::move(p), "/device"});
    auto pending = store.take_pending(state);
    REQUIRE(pending);
    CHECK(pending->return_to == "/device");
    CHECK(!store.take_pending(state));  // single-use
    oauth::TokenSet t = store.client().finish(
        pending->authorization, {as.code_for(url), state, pending->authorization.discovery.server.issuer, "", ""});
    return store.adopt(t, pending->authorization.dpop_key);
  }
};

}  // namespace

TEST_CASE("OAuth sessions are kept in SQLite and resumed after a restart") {
  Fixture f;
  {
    auto store = f.open();
    CHECK(!store->get(test::kDid));
    auto pds = f.sign_in(*store);
    CHECK(pds->query("com.atproto.server.getSession").find("did")->as_string() == test::kDid);
    CHECK(store->get(test::kDid) == pds);
    f.as.expire_access();  // refreshed on the next call, and saved
    pds->query("com.atproto.server.getSession");
    CHECK(f.as.refreshes == 1);
  }
  auto restarted = f.open();
  auto resumed = restarted->get(test::kDid);
  REQUIRE(resumed);
  CHECK(resumed->did() == test::kDid);
  // The saved tokens are the refreshed ones: no second refresh needed.
  CHECK(resumed->query("com.atproto.server.getSession").is_map());
  CHECK(f.as.refreshes == 1);
  restarted->drop(test::kDid);
  CHECK(!restarted->get(test::kDid));
  CHECK(!f.open()->get(test::kDid));
}

TEST_CASE("a revoked grant drops the session and tells the AppView once") {
  Fixture f;
  auto store = f.open();
  std::vector<std::string> ended;
  store->on_end([&](const std::string& did) { ended.push_back(did); });
  auto pds = f.sign_in(*store);
  f.as.revoked = true;
  f.as.expire_access();
  CHECK_THROWS_AS(pds->query("com.atproto.server.getSession"), oauth::SessionEnded);
  CHECK(ended == std::vector<std::string>{test::kDid});
  CHECK(!store->get(test::kDid));
  CHECK(!f.open()->get(test::kDid));  // gone from the database too
}

TEST_CASE("unknown and expired sign-ins are nothing") {
  Fixture f;
  auto store = f.open();
  CHECK(!store->take_pending("never-issued"));
  oauth::PendingAuthorization p = store->client().start("alice.test");
  p.created_at -= 3600;  // started an hour ago
  std::string state = p.state;
  store->put_pending({std::move(p), "/"});
  CHECK(!store->take_pending(state));
}

TEST_CASE("alive(): a session about to expire is refreshed first; a grant revoked there is not alive") {
  Fixture f;
  auto store = f.open();
  CHECK(!store->alive(test::kDid));
  f.sign_in(*store);
  CHECK(store->alive(test::kDid));
  CHECK(f.as.refreshes == 0);  // fresh tokens: no refresh

  // Its access token expired: alive() refreshes and still finds it standing.
  {
    db::open(f.db)->exec("UPDATE oauth_sessions SET expires_at = 0");
  }
  auto restarted = f.open();
  CHECK(restarted->alive(test::kDid));
  CHECK(f.as.refreshes == 1);

  // Revoked at the authorization server (the user's PDS settings): found
  // out at the next expiry.
  f.as.revoked = true;
  {
    db::open(f.db)->exec("UPDATE oauth_sessions SET expires_at = 0");
  }
  auto again = f.open();
  CHECK(!again->alive(test::kDid));
  CHECK(!again->get(test::kDid));
}

TEST_CASE("revoke() (logout): the grant is revoked at the authorization server, the session gone here") {
  Fixture f;
  auto store = f.open();
  CHECK(!store->revoke(test::kDid));  // nobody signed in
  auto pds = f.sign_in(*store);
  CHECK(store->revoke(test::kDid));
  CHECK(f.as.revocations == 1);
  CHECK(!store->alive(test::kDid));
  CHECK(!store->get(test::kDid));
  CHECK(!f.open()->get(test::kDid));
  // What the session had no longer works at the PDS.
  CHECK_THROWS(pds->query("com.atproto.server.getSession"));
}

TEST_CASE("a new sign-in revokes the grant it replaces") {
  Fixture f;
  auto store = f.open();
  f.sign_in(*store);
  CHECK(f.as.revocations == 0);
  auto second = f.sign_in(*store);
  CHECK(f.as.revocations == 1);
  CHECK(!f.as.revoked);  // the new grant stands
  CHECK(store->alive(test::kDid));
  CHECK(second->query("com.atproto.server.getSession").is_map());
}

TEST_CASE("instances sharing a database: one's refresh does not end the other's session") {
  Fixture f;
  auto a = f.open(), b = f.open();  // two AppView instances on one database
  std::vector<std::string> ended;
  b->on_end([&](const std::string& did) { ended.push_back(did); });
  auto on_a = f.sign_in(*a);
  CHECK(on_a->query("com.atproto.server.getSession").is_map());
  auto on_b = b->get(test::kDid);  // b resumes what a saved
  REQUIRE(on_b);
  CHECK(on_b->query("com.atproto.server.getSession").is_map());
  f.as.expire_access();
  REQUIRE(on_a->query("com.atproto.server.getSession").is_map());  // a refreshes: the token rotates
  REQUIRE(f.as.refreshes == 1);
  // b still holds the spent refresh token: its refresh is refused, but the
  // grant stands (a saved its successor), so nothing ends.
  f.as.expire_access();
  CHECK_THROWS(on_b->query("com.atproto.server.getSession"));
  CHECK(ended.empty());
  auto again = b->get(test::kDid);  // resumed from the database: a's tokens
  REQUIRE(again);
  CHECK(again != on_b);
  // (A session resumed with an expired access token meets the PDS's DPoP
  // nonce and the refresh on one call: the client answers one of them per
  // call, so the first may fail; see the restart case above, which avoids it.)
  try {
    again->query("com.atproto.server.getSession");
  } catch (const Error&) {
  }
  CHECK(again->query("com.atproto.server.getSession").is_map());
  CHECK(ended.empty());
}

TEST_CASE("instances sharing a database: a sign-in started on one completes on the other, once") {
  Fixture f;
  auto a = f.open(), b = f.open();
  oauth::PendingAuthorization p = a->client().start("alice.test");
  std::string state = p.state, url = p.authorization_url;
  Bytes dpop_secret = p.dpop_key.secret();
  a->put_pending({p, "/settings"});
  auto pending = b->take_pending(state);  // the callback reaches b
  REQUIRE(pending);
  CHECK(pending->return_to == "/settings");
  CHECK(pending->authorization.code_verifier == p.code_verifier);
  CHECK(pending->authorization.discovery.server.token_endpoint == p.discovery.server.token_endpoint);
  CHECK(pending->authorization.dpop_key.secret() == dpop_secret);
  // A replay, on either instance, finds nothing.
  CHECK(!a->take_pending(state));
  CHECK(!b->take_pending(state));
  oauth::TokenSet t = b->client().finish(
      pending->authorization, {f.as.code_for(url), state, pending->authorization.discovery.server.issuer, "", ""});
  auto pds = b->adopt(t, pending->authorization.dpop_key);
  CHECK(pds->query("com.atproto.server.getSession").find("did")->as_string() == test::kDid);
  CHECK(a->get(test::kDid));
}

TEST_CASE("a sign-in in flight is kept by a hash of its state and taken by one of racing callbacks") {
  Fixture f;
  auto store = f.open();
  oauth::PendingAuthorization p = store->client().start("alice.test");
  std::string state = p.state;
  store->put_pending({p, "/"});
  auto database = db::open(f.db);
  CHECK(database->exec("SELECT state_hash FROM oauth_pending").front().text(0) != state);
  CHECK(database->exec("SELECT COUNT(*) FROM oauth_pending WHERE state_hash = ?", {state}).front().integer(0) == 0);
  std::vector<std::unique_ptr<OAuthStore>> instances;
  for (int i = 0; i < 4; ++i) instances.push_back(f.open());
  std::atomic<int> taken{0};
  {
    std::vector<std::jthread> callbacks;
    for (auto& instance : instances)
      callbacks.emplace_back([&taken, &state, &instance] {
        if (instance->take_pending(state)) ++taken;
      });
  }
  CHECK(taken == 1);
  CHECK(database->exec("SELECT COUNT(*) FROM oauth_pending").front().integer(0) == 0);
}

TEST_CASE("expired sign-ins are pruned when another starts") {
  Fixture f;
  auto store = f.open();
  oauth::PendingAuthorization old = store->client().start("alice.test");
  old.created_at -= 3600;
  store->put_pending({old, "/"});
  oauth::PendingAuthorization fresh = store->client().start("alice.test");
  store->put_pending({fresh, "/"});
  CHECK(db::open(f.db)->exec("SELECT COUNT(*) FROM oauth_pending").front().integer(0) == 1);
  CHECK(store->take_pending(fresh.state));
}

TEST_CASE("at most 10000 sign-ins in flight: the oldest go first") {
  Fixture f;
  auto store = f.open();
  auto database = db::open(f.db);
  database->exec(
      "INSERT INTO oauth_pending (state_hash, did, handle, pds_url, issuer, par_endpoint, authorization_endpoint, "
      "token_endpoint, revocation_endpoint, code_verifier, dpop_key, return_to, created_at, expires_at) "
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
      "SELECT 'h' || i, '', '', '', '', '', '', '', '', '', '', '/', ?, ? FROM n",
      {xrpc::unix_now() - 60, xrpc::unix_now() + 540});
  oauth::PendingAuthorization p = store->client().start("alice.test");
  store->put_pending({p, "/"});
  CHECK(database->exec("SELECT COUNT(*) FROM oauth_pending").front().integer(0) == 10000);
  CHECK(store->take_pending(p.state));  // the newest stays
}

// Service auth against the reference implementations:
//   * tokens the real PDS issues (com.atproto.server.getServiceAuth) verify
//     with libatcr's ServiceAuthVerifier, resolving the issuer through the
//     real PLC directory; altered copies are refused for the right reason;
//   * tokens libatcr mints pass @atproto/xrpc-server's verifyJwt
//     (verify-jwt.mjs, run as a subprocess), and bad ones fail it;
//   * a hold-like XrpcServer of ours, with a did:web, accepts the PDS's
//     tokens over HTTP.
// Run through with-pds.sh (it sets ATCR_NODE, NODE_PATH, ATCR_VERIFY_JWT).
#include <doctest/doctest.h>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/identity/plc.h"
#include "atcr/identity/plc_client.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/service_auth.h"
#include "pds_fixture.h"

using namespace atcr;
using namespace atcr::test;
using xrpc::ServiceAuthError;
using xrpc::ServiceAuthFailure;
using xrpc::ServiceAuthOptions;
using xrpc::ServiceAuthVerifier;

namespace {

// Our service's DID: a did:web on localhost with a port, as a dev hold has.
const std::string kServiceDid = "did:web:localhost%3A1234";
const std::string kLxm = "io.atcr.hold.getQuota";

std::string get_service_auth(const xrpc::XrpcClient& pds, const Account& a, const std::string& aud,
                             const std::string& lxm, std::optional<std::int64_t> exp = std::nullopt) {
  xrpc::CallOptions auth;
  auth.bearer = a.access_jwt;
  xrpc::Params p;
  p.add("aud", aud);
  if (!lxm.empty()) p.add("lxm", lxm);
  if (exp) p.add("exp", *exp);
  Value out = pds.query("com.atproto.server.getServiceAuth", p, auth);
  return out.at("token").as_string();
}

std::vector<std::string> split_jwt(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  REQUIRE(parts.size() == 3);
  return parts;
}

Value jwt_payload(const std::string& token) {
  auto parts = split_jwt(token);
  return json::parse(to_string(base64::decode_url(parts[1])));
}

// The token with its payload replaced (the signature kept).
std::string with_payload(const std::string& token, const Value& payload) {
  auto parts = split_jwt(token);
  return parts[0] + "." + base64::encode_url(to_bytes(json::serialize(payload))) + "." + parts[2];
}

struct Refusal {
  ServiceAuthFailure reason = ServiceAuthFailure::kMalformed;
  std::string detail;  // "<reason> (<XRPC error>: <message>)"
};

Refusal refusal_of(const ServiceAuthVerifier& v, const std::string& token, std::string_view lxm) {
  try {
    auto claims = v.verify(token, lxm);
    FAIL("token accepted but should not be (iss " << claims.iss << "): " << token);
  } catch (const ServiceAuthError& e) {
    CHECK(e.status() == 401);
    return {e.reason(), std::string(xrpc::to_string(e.reason())) + " (" + e.error() + ": " + e.message() + ")"};
  }
  return {};  // not reached: FAIL throws
}

}  // namespace

// The verifier refuses the token for exactly this reason.
#define CHECK_REFUSED(verifier, token, lxm, expected)                                         \
  do {                                                                                         \
    auto refusal_ = refusal_of(verifier, token, lxm);                                          \
    CHECK_MESSAGE(refusal_.reason == (expected), "expected " << xrpc::to_string(expected)     \
                                                            << ", refused as " << refusal_.detail); \
  } while (0)

namespace {

// ------------------------------------------------------------ verify-jwt.mjs
struct RefCase {
  std::string token;
  std::optional<std::string> aud;
  std::optional<std::string> lxm;
  std::string did_key;
};
struct RefResult {
  bool ok = false;
  std::string error;
  Value payload;
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs the reference verifier over the cases.
std::vector<RefResult> reference_verify(const std::vector<RefCase>& cases) {
  Value::Array arr;
  for (const auto& c : cases) {
    Value::Map m{{"token", Value(c.token)}, {"key", Value(c.did_key)}};
    m["aud"] = c.aud ? Value(*c.aud) : Value(nullptr);
    m["lxm"] = c.lxm ? Value(*c.lxm) : Value(nullptr);
    arr.emplace_back(std::move(m));
  }
  char path[] = "/tmp/atcr-verify-jwt-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    std::ofstream out(path);
    out << json::serialize(Value(std::move(arr)));
  }
  // Bounded: the script answers in about a second; `timeout` guards a hang.
  std::string cmd = "timeout 120 " + shell_quote(pds_env("ATCR_NODE")) + " " +
                    shell_quote(pds_env("ATCR_VERIFY_JWT")) + " " + shell_quote(path);
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string output;
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) output.append(buf.data(), n);
  int status = pclose(p);
  unlink(path);
  REQUIRE_MESSAGE(status == 0, "verify-jwt.mjs failed (status " << status << "), output: " << output);
  Value results = json::parse(output);
  REQUIRE(results.as_array().size() == cases.size());
  std::vector<RefResult> out;
  for (const auto& r : results.as_array()) {
    RefResult rr;
    rr.ok = r.at("ok").as_bool();
    if (!rr.ok) rr.error = r.at("error").as_string();
    if (auto* pl = r.find("payload")) rr.payload = *pl;
    out.push_back(std::move(rr));
  }
  return out;
}

// A did:plc of our own, registered with the reference directory.
struct OwnDid {
  PrivateKey rotation = PrivateKey::generate(KeyType::kSecp256k1);
  PrivateKey signing;
  std::string did;
  identity::PlcOperation last;

  explicit OwnDid(const identity::PlcClient& plc, KeyType type = KeyType::kSecp256k1)
      : signing(PrivateKey::generate(type)), last(make_genesis()) {
    did = last.did();
    plc.submit(did, last);
  }
  identity::PlcOperation make_genesis() {
    auto state = identity::PlcState::atproto({rotation.public_key().did_key()}, signing.public_key(),
                                             unique_handle(), "https://pds.example.com");
    auto op = identity::PlcOperation::genesis(state);
    op.sign(rotation);
    return op;
  }
  void rotate_signing_key(const identity::PlcClient& plc, KeyType type) {
    signing = PrivateKey::generate(type);
    auto state = *last.state();
    state.verification_methods["atproto"] = signing.public_key().did_key();
    auto op = identity::PlcOperation::update(state, last);
    op.sign(rotation);
    plc.submit(did, op);
    last = op;
  }
};

}  // namespace

TEST_CASE("getServiceAuth tokens from the reference PDS verify with ServiceAuthVerifier") {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  static const Account alice = create_account(pds);
  static const Account bob = create_account(pds);
  identity::DirectoryResolver resolver(loopback_resolver_options());
  ServiceAuthVerifier verifier(resolver, kServiceDid);

  const std::string token = get_service_auth(pds, alice, kServiceDid, kLxm);
  INFO("token payload: " << json::serialize(jwt_payload(token)));

  SUBCASE("a good token") {
    auto claims = verifier.verify(token, kLxm);
    CHECK(claims.iss == alice.did);
    CHECK(claims.aud == kServiceDid);
    CHECK(claims.lxm == kLxm);
    CHECK(claims.alg == KeyType::kSecp256k1);
    CHECK(claims.exp > xrpc::unix_now());
    CHECK(claims.exp <= xrpc::unix_now() + 120);
    // Reused until it expires (replay protection is off by default).
    CHECK(verifier.verify(token, kLxm).iss == alice.did);
    // An empty expected lxm skips the check.
    CHECK(verifier.verify(token, "").lxm == kLxm);
    // Another account's token.
    auto bob_token = get_service_auth(pds, bob, kServiceDid, kLxm);
    CHECK(verifier.verify(bob_token, kLxm).iss == bob.did);
  }

  SUBCASE("an aud with a service fragment") {
    const std::string aud = kServiceDid + "#atcr_hold";
    auto t = get_service_auth(pds, alice, aud, kLxm);
    ServiceAuthOptions o;
    o.service_ids = {"atcr_hold"};
    ServiceAuthVerifier hold(resolver, kServiceDid, o);
    CHECK(hold.verify(t, kLxm).aud == aud);
    ServiceAuthOptions other;
    other.service_ids = {"atproto_labeler"};
    ServiceAuthVerifier labeler(resolver, kServiceDid, other);
    CHECK_REFUSED(labeler, t, kLxm, ServiceAuthFailure::kBadAudience);
  }

  SUBCASE("a token for another service") {
    ServiceAuthVerifier elsewhere(resolver, "did:web:localhost%3A4321");
    CHECK_REFUSED(elsewhere, token, kLxm, ServiceAuthFailure::kBadAudience);
    auto t = get_service_auth(pds, alice, "did:web:other.example.com", kLxm);
    CHECK_REFUSED(verifier, t, kLxm, ServiceAuthFailure::kBadAudience);
  }

  SUBCASE("a token for another method") {
    CHECK_REFUSED(verifier, token, "io.atcr.hold.deleteEverything", ServiceAuthFailure::kBadLexiconMethod);
  }

  SUBCASE("a token without lxm") {
    // The PDS issues lxm-less tokens for at most 60 s.
    auto t = get_service_auth(pds, alice, kServiceDid, "");
    CHECK(jwt_payload(t).find("lxm") == nullptr);
    CHECK_REFUSED(verifier, t, kLxm, ServiceAuthFailure::kBadLexiconMethod);
    ServiceAuthOptions o;
    o.require_lxm = false;
    ServiceAuthVerifier lenient(resolver, kServiceDid, o);
    CHECK(lenient.verify(t, kLxm).lxm.empty());
  }

  SUBCASE("a tampered payload (the PDS's signature no longer covers it)") {
    Value payload = jwt_payload(token);
    payload.as_map()["lxm"] = Value("io.atcr.hold.deleteEverything");
    CHECK_REFUSED(verifier, with_payload(token, payload), "io.atcr.hold.deleteEverything", ServiceAuthFailure::kBadSignature);
    // Claiming to be bob with alice's signature.
    payload = jwt_payload(token);
    payload.as_map()["iss"] = Value(bob.did);
    CHECK_REFUSED(verifier, with_payload(token, payload), kLxm, ServiceAuthFailure::kBadSignature);
    // Extending the expiry.
    payload = jwt_payload(token);
    payload.as_map()["exp"] = Value(payload.at("exp").as_integer() + 600);
    CHECK_REFUSED(verifier, with_payload(token, payload), kLxm, ServiceAuthFailure::kBadSignature);
  }

  SUBCASE("a tampered signature") {
    auto parts = split_jwt(token);
    Bytes sig = base64::decode_url(parts[2]);
    REQUIRE(sig.size() == 64);
    sig[10] ^= 0x01;
    auto bad = parts[0] + "." + parts[1] + "." + base64::encode_url(sig);
    CHECK_REFUSED(verifier, bad, kLxm, ServiceAuthFailure::kBadSignature);
    // Truncated.
    CHECK_REFUSED(verifier, parts[0] + "." + parts[1] + "." + parts[2].substr(0, 40), kLxm, ServiceAuthFailure::kMalformed);
  }

  SUBCASE("the issuer's key is someone else's") {
    // A token claiming alice, signed with a key of ours.
    auto key = PrivateKey::generate(KeyType::kSecp256k1);
    auto forged = xrpc::mint_service_auth({.iss = alice.did, .aud = kServiceDid, .lxm = kLxm}, key);
    CHECK_REFUSED(verifier, forged, kLxm, ServiceAuthFailure::kBadSignature);
    // An issuer the directory does not know.
    auto stranger = xrpc::mint_service_auth(
        {.iss = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", .aud = kServiceDid, .lxm = kLxm}, key);
    CHECK_REFUSED(verifier, stranger, kLxm, ServiceAuthFailure::kUnknownIssuer);
  }

  SUBCASE("an expired token") {
    // Verified an hour later: expired.
    ServiceAuthOptions later;
    later.now = [] { return xrpc::unix_now() + 3600; };
    ServiceAuthVerifier future(resolver, kServiceDid, later);
    CHECK_REFUSED(future, token, kLxm, ServiceAuthFailure::kExpired);
    // The PDS refuses to issue a token that has already expired.
    try {
      get_service_auth(pds, alice, kServiceDid, kLxm, xrpc::unix_now() - 60);
      FAIL("the PDS issued a token expiring in the past");
    } catch (const xrpc::XrpcError& e) {
      CHECK(e.status() == 400);
      CHECK(e.error() == "BadExpiration");
    }
    // A real expiry: a token for 2 s, checked without clock skew after it.
    auto short_lived = get_service_auth(pds, alice, kServiceDid, kLxm, xrpc::unix_now() + 2);
    ServiceAuthOptions strict;
    strict.clock_skew = std::chrono::seconds(0);
    ServiceAuthVerifier strict_verifier(resolver, kServiceDid, strict);
    CHECK(strict_verifier.verify(short_lived, kLxm).iss == alice.did);
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    CHECK_REFUSED(strict_verifier, short_lived, kLxm, ServiceAuthFailure::kExpired);
  }

  SUBCASE("replay protection refuses a second use") {
    ServiceAuthOptions o;
    o.replay_protection = true;
    ServiceAuthVerifier once(resolver, kServiceDid, o);
    auto t = get_service_auth(pds, alice, kServiceDid, kLxm);
    REQUIRE(jwt_payload(t).find("jti") != nullptr);
    CHECK(once.verify(t, kLxm).iss == alice.did);
    CHECK_REFUSED(once, t, kLxm, ServiceAuthFailure::kReplayed);
  }
}

TEST_CASE("ServiceAuthVerifier picks up a signing key rotated at the reference directory") {
  auto http = test_http();
  identity::PlcClient plc(http, plc_url());
  OwnDid me(plc);
  identity::DirectoryResolver resolver(loopback_resolver_options());
  ServiceAuthVerifier verifier(resolver, kServiceDid);

  auto t1 = xrpc::mint_service_auth({.iss = me.did, .aud = kServiceDid, .lxm = kLxm}, me.signing);
  CHECK(verifier.verify(t1, kLxm).iss == me.did);  // caches the document

  me.rotate_signing_key(plc, KeyType::kP256);
  auto t2 = xrpc::mint_service_auth({.iss = me.did, .aud = kServiceDid, .lxm = kLxm}, me.signing);
  // The cached document has the old key: the verifier must re-resolve.
  auto claims = verifier.verify(t2, kLxm);
  CHECK(claims.iss == me.did);
  CHECK(claims.alg == KeyType::kP256);
  // The old key no longer counts (an ES256K token now meets a P-256 key).
  auto refusal = refusal_of(verifier, t1, kLxm);
  CHECK_MESSAGE((refusal.reason == ServiceAuthFailure::kKeyTypeMismatch ||
                 refusal.reason == ServiceAuthFailure::kBadSignature),
                "refused as " << refusal.detail);
}

TEST_CASE("tokens minted by libatcr pass the reference verifier (@atproto/xrpc-server verifyJwt)") {
  const std::string iss = "did:plc:" + random_token(24);
  auto k256 = PrivateKey::generate(KeyType::kSecp256k1);
  auto p256 = PrivateKey::generate(KeyType::kP256);
  const std::string k256_key = k256.public_key().did_key();
  const std::string p256_key = p256.public_key().did_key();
  const std::int64_t now = xrpc::unix_now();

  auto mint = [&](const PrivateKey& key, std::string aud, std::string lxm, std::int64_t iat,
                  std::chrono::seconds lifetime = std::chrono::seconds(60)) {
    return xrpc::mint_service_auth(
        {.iss = iss, .aud = std::move(aud), .lxm = std::move(lxm), .lifetime = lifetime, .now = iat}, key);
  };
  const std::string good_k = mint(k256, kServiceDid, kLxm, now);
  const std::string good_p = mint(p256, kServiceDid + "#atcr_hold", kLxm, now);
  const std::string no_lxm = mint(k256, kServiceDid, "", now);
  const std::string expired = mint(k256, kServiceDid, kLxm, now - 3600);
  auto tampered_payload = jwt_payload(good_k);
  tampered_payload.as_map()["aud"] = Value("did:web:evil.example.com");
  const std::string tampered = with_payload(good_k, tampered_payload);

  std::vector<RefCase> cases = {
      {good_k, kServiceDid, kLxm, k256_key},                        // 0 ok
      {good_p, kServiceDid + "#atcr_hold", kLxm, p256_key},         // 1 ok (ES256)
      {no_lxm, kServiceDid, std::nullopt, k256_key},                // 2 ok, lxm not checked
      {good_k, std::nullopt, std::nullopt, k256_key},               // 3 ok, nothing but sig checked
      {good_k, "did:web:localhost%3A4321", kLxm, k256_key},         // 4 wrong aud
      {good_k, kServiceDid, "io.atcr.hold.other", k256_key},        // 5 wrong lxm
      {no_lxm, kServiceDid, kLxm, k256_key},                        // 6 missing lxm
      {expired, kServiceDid, kLxm, k256_key},                       // 7 expired
      {tampered, "did:web:evil.example.com", kLxm, k256_key},       // 8 tampered
      {good_k, kServiceDid, kLxm, p256_key},                        // 9 wrong key
  };
  auto r = reference_verify(cases);
  for (std::size_t i = 0; i < r.size(); ++i) {
    INFO("case " << i << ": " << (r[i].ok ? "accepted" : r[i].error));
  }
  CHECK(r[0].ok);
  CHECK(r[1].ok);
  CHECK(r[2].ok);
  CHECK(r[3].ok);
  if (r[0].ok) {
    CHECK(r[0].payload.at("iss").as_string() == iss);
    CHECK(r[0].payload.at("aud").as_string() == kServiceDid);
    CHECK(r[0].payload.at("lxm").as_string() == kLxm);
    CHECK(r[0].payload.at("exp").as_integer() == now + 60);
  }
  CHECK_FALSE(r[4].ok);
  CHECK(r[4].error == "BadJwtAudience");
  CHECK_FALSE(r[5].ok);
  CHECK(r[5].error == "BadJwtLexiconMethod");
  CHECK_FALSE(r[6].ok);
  CHECK(r[6].error == "BadJwtLexiconMethod");
  CHECK_FALSE(r[7].ok);
  CHECK(r[7].error == "JwtExpired");
  CHECK_FALSE(r[8].ok);
  CHECK(r[8].error == "BadJwtSignature");
  CHECK_FALSE(r[9].ok);
  CHECK(r[9].error == "BadJwtSignature");

  // And the same verdicts from ours, for the cases a verifier decides alone
  // (a static resolver standing in for the directory).
  struct StaticResolver : identity::Resolver {
    std::string did;
    PublicKey key;
    StaticResolver(std::string d, PublicKey k) : did(std::move(d)), key(std::move(k)) {}
    identity::DidDocument resolve_did(std::string_view d, bool) override {
      if (d != did) throw identity::ResolutionError("unknown " + std::string(d));
      identity::DidDocument doc;
      doc.id = did;
      doc.verification_methods.push_back({"atproto", key});
      return doc;
    }
    std::string resolve_handle(std::string_view h, bool) override {
      throw identity::ResolutionError("no handles here: " + std::string(h));
    }
    identity::Identity resolve(std::string_view x, bool fresh) override {
      return {std::string(x), std::nullopt, resolve_did(x, fresh)};
    }
  } static_resolver(iss, k256.public_key());
  ServiceAuthVerifier ours(static_resolver, kServiceDid);
  CHECK(ours.verify(good_k, kLxm).iss == iss);
  CHECK_REFUSED(ours, expired, kLxm, ServiceAuthFailure::kExpired);
  CHECK_REFUSED(ours, good_k, "io.atcr.hold.other", ServiceAuthFailure::kBadLexiconMethod);
  CHECK_REFUSED(ours, tampered, kLxm, ServiceAuthFailure::kBadAudience);
  ServiceAuthVerifier other_service(static_resolver, "did:web:localhost%3A4321");
  CHECK_REFUSED(other_service, good_k, kLxm, ServiceAuthFailure::kBadAudience);
}

TEST_CASE("the reference verifier also accepts the PDS's tokens (sanity check of verify-jwt.mjs)") {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  Account a = create_account(pds);
  identity::DirectoryResolver resolver(loopback_resolver_options());
  auto key = resolver.resolve_did(a.did).signing_key();
  REQUIRE(key.has_value());
  auto token = get_service_auth(pds, a, kServiceDid, kLxm);
  auto r = reference_verify({{token, kServiceDid, kLxm, key->did_key()},
                             {token, "did:web:localhost%3A4321", kLxm, key->did_key()}});
  CHECK(r[0].ok);
  CHECK_FALSE(r[1].ok);
  CHECK(r[1].error == "BadJwtAudience");
}

TEST_CASE("a service of ours (XrpcServer, did:web) accepts calls carrying the PDS's tokens, also proxied by the PDS") {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  Account a = create_account(pds);
  identity::DirectoryResolver resolver(loopback_resolver_options());

  // Bind first to learn the port, which is part of the service's DID.
  xrpc::ServerOptions so;
  so.logger = nullptr;
  xrpc::XrpcServer server(so);
  std::unique_ptr<ServiceAuthVerifier> verifier;
  std::string service_did;
  server.route("GET", "/\\.well-known/did\\.json", [&](const xrpc::ServerRequest&) {
    identity::DidDocument doc;
    doc.id = service_did;
    doc.services.push_back({"atcr_hold", "AtcrHoldService", "http://localhost:" + std::to_string(server.port())});
    return xrpc::ServerResponse::json_text(doc.to_json());
  });
  server.query(kLxm, [&](const xrpc::ServerRequest& req) {
    auto claims = verifier->verify(req.bearer_token(), kLxm);
    return xrpc::ServerResponse::json(Value(Value::Map{{"caller", Value(claims.iss)}}));
  });
  server.start();
  service_did = "did:web:localhost%3A" + std::to_string(server.port());
  ServiceAuthOptions o;
  o.service_ids = {"atcr_hold"};
  verifier = std::make_unique<ServiceAuthVerifier>(resolver, service_did, o);

  // Our did:web resolves (plain http is allowed for localhost in dev).
  auto doc = resolver.resolve_did(service_did);
  REQUIRE(doc.service("atcr_hold").has_value());
  CHECK(doc.service("atcr_hold")->endpoint == "http://localhost:" + std::to_string(server.port()));

  xrpc::XrpcClient hold(server.url(), http);
  auto token = get_service_auth(pds, a, service_did + "#atcr_hold", kLxm);
  xrpc::CallOptions with_token;
  with_token.bearer = token;
  Value out = hold.query(kLxm, {}, with_token);
  CHECK(out.at("caller").as_string() == a.did);

  // The wrong audience is a 401 with the reference's error name.
  xrpc::CallOptions wrong;
  wrong.bearer = get_service_auth(pds, a, "did:web:localhost%3A1", kLxm);
  try {
    hold.query(kLxm, {}, wrong);
    FAIL("a token for another service was accepted");
  } catch (const xrpc::XrpcError& e) {
    CHECK(e.status() == 401);
    CHECK(e.error() == "BadJwtAudience");
  }
  // No token at all.
  CHECK_THROWS_AS(hold.query(kLxm), xrpc::XrpcError);

  // Through the PDS: with "atproto-proxy", the reference PDS resolves our
  // did:web itself, mints a token for the call (aud = the bare service DID,
  // lxm = the method) and forwards the request to our endpoint.
  xrpc::CallOptions proxied;
  proxied.bearer = a.access_jwt;
  proxied.headers = {{"atproto-proxy", service_did + "#atcr_hold"}};
  Value via_pds = pds.query(kLxm, {}, proxied);
  CHECK(via_pds.at("caller").as_string() == a.did);
  server.stop();
}

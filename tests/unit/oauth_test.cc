// atcr::oauth's JOSE pieces (JWKs, PKCE, DPoP proofs, client assertions) and
// the client's metadata, held to the RFCs with our own verifier. The same
// output is checked with the `jose` npm package in tests/interop (jose).
#include "atcr/oauth/jose.h"

#include <doctest/doctest.h>

#include <set>

#include "atcr/encoding/base64.h"
#include "atcr/oauth/client.h"
#include "atcr/xrpc/jwt.h"
#include "atcr/xrpc/service_auth.h"
#include "memory_resolver.h"

using namespace atcr;
using namespace atcr::oauth;

namespace {

const Value& at(const Value& v, std::string_view key) {
  const Value* f = v.find(key);
  REQUIRE_MESSAGE(f != nullptr, "missing " << key);
  return *f;
}

std::string str(const Value& v, std::string_view key) { return at(v, key).as_string(); }

}  // namespace

TEST_CASE("public JWKs round-trip P-256 keys and refuse the rest") {
  PrivateKey key = PrivateKey::generate(KeyType::kP256);
  Value jwk = public_jwk(key.public_key());
  CHECK(str(jwk, "kty") == "EC");
  CHECK(str(jwk, "crv") == "P-256");
  CHECK(base64::decode_url(str(jwk, "x")).size() == 32);
  CHECK(jwk.find("kid") == nullptr);
  CHECK(public_key_from_jwk(jwk) == key.public_key());

  Value named = public_jwk(key.public_key(), "k1");
  CHECK(str(named, "kid") == "k1");
  CHECK(str(named, "alg") == "ES256");
  CHECK(str(named, "use") == "sig");

  CHECK_THROWS_AS(public_jwk(PrivateKey::generate(KeyType::kSecp256k1).public_key()), ParseError);
  Value::Map with_d = jwk.as_map();
  with_d["d"] = Value("AAAA");
  CHECK_THROWS_AS(public_key_from_jwk(Value(with_d)), ParseError);
  Value::Map other_curve = jwk.as_map();
  other_curve["crv"] = Value("secp256k1");
  CHECK_THROWS_AS(public_key_from_jwk(Value(other_curve)), ParseError);
}

TEST_CASE("PKCE S256 matches RFC 7636 appendix B") {
  CHECK(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") ==
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  Pkce a = make_pkce();
  Pkce b = make_pkce();
  CHECK(a.verifier.size() == 43);  // RFC 7636: 43-128 characters
  CHECK(a.challenge == pkce_challenge(a.verifier));
  CHECK(a.verifier != b.verifier);
}

TEST_CASE("DPoP proofs have the RFC 9449 shape and verify") {
  PrivateKey key = PrivateKey::generate(KeyType::kP256);
  std::int64_t now = xrpc::unix_now();
  std::string proof = make_dpop_proof(key, {.htm = "POST",
                                            .url = "https://pds.example/xrpc/com.atproto.repo.putRecord?x=1#f",
                                            .nonce = "n1",
                                            .access_token = "at-123"});
  auto d = xrpc::jwt::decode(proof);
  CHECK(str(d.header, "typ") == "dpop+jwt");
  CHECK(str(d.header, "alg") == "ES256");
  CHECK(public_key_from_jwk(at(d.header, "jwk")) == key.public_key());
  CHECK(at(d.header, "jwk").find("d") == nullptr);
  CHECK(str(d.payload, "htm") == "POST");
  CHECK(str(d.payload, "htu") == "https://pds.example/xrpc/com.atproto.repo.putRecord");
  CHECK(str(d.payload, "nonce") == "n1");
  CHECK(str(d.payload, "ath") == dpop_ath("at-123"));
  CHECK(dpop_ath("at-123").size() == 43);
  CHECK(at(d.payload, "iat").as_integer() >= now - 1);
  CHECK(!str(d.payload, "jti").empty());

  DpopCheck ok{.htm = "POST", .url = "https://pds.example/xrpc/com.atproto.repo.putRecord", .nonce = "n1",
               .access_token = "at-123"};
  CHECK(verify_dpop_proof(proof, ok).key == key.public_key());

  SUBCASE("a proof for another method, URL, nonce or token is refused") {
    DpopCheck c = ok;
    c.htm = "GET";
    CHECK_THROWS_AS(verify_dpop_proof(proof, c), VerifyError);
    c = ok;
    c.url = "https://pds.example/xrpc/com.atproto.repo.createRecord";
    CHECK_THROWS_AS(verify_dpop_proof(proof, c), VerifyError);
    c = ok;
    c.nonce = "n2";
    CHECK_THROWS_AS(verify_dpop_proof(proof, c), VerifyError);
    c = ok;
    c.access_token = "at-456";
    CHECK_THROWS_AS(verify_dpop_proof(proof, c), VerifyError);
  }
  SUBCASE("an old proof is refused") {
    std::string old = make_dpop_proof(key, {.htm = "POST", .url = ok.url, .nonce = "n1",
                                            .access_token = "at-123", .iat = now - 600});
    CHECK_THROWS_AS(verify_dpop_proof(old, ok), VerifyError);
  }
  SUBCASE("a tampered proof is refused") {
    auto dot = proof.rfind('.');
    std::string forged = proof.substr(0, dot + 1) + (proof[dot + 1] == 'A' ? 'B' : 'A') + proof.substr(dot + 2);
    CHECK_THROWS_AS(verify_dpop_proof(forged, ok), VerifyError);
    // Signed by another key than the one in its header.
    auto other = xrpc::jwt::sign(d.header.as_map(), d.payload.as_map(), PrivateKey::generate(KeyType::kP256));
    CHECK_THROWS_AS(verify_dpop_proof(other, ok), VerifyError);
  }
  SUBCASE("every proof has its own jti") {
    std::set<std::string> jtis;
    for (int i = 0; i < 50; ++i)
      jtis.insert(str(xrpc::jwt::decode(make_dpop_proof(key, {.htm = "GET", .url = ok.url})).payload, "jti"));
    CHECK(jtis.size() == 50);
  }
}

TEST_CASE("client assertions are private_key_jwt JWTs (RFC 7523)") {
  PrivateKey key = PrivateKey::generate(KeyType::kP256);
  std::string a = make_client_assertion(key, "kid1", "https://reg.example/client-metadata.json",
                                        "https://as.example", 1000);
  auto d = xrpc::jwt::verify(a, key.public_key());
  CHECK(str(d.header, "alg") == "ES256");
  CHECK(str(d.header, "kid") == "kid1");
  CHECK(str(d.payload, "iss") == "https://reg.example/client-metadata.json");
  CHECK(str(d.payload, "sub") == "https://reg.example/client-metadata.json");
  CHECK(str(d.payload, "aud") == "https://as.example");
  CHECK(at(d.payload, "iat").as_integer() == 1000);
  CHECK(at(d.payload, "exp").as_integer() == 1060);
  CHECK(!str(d.payload, "jti").empty());
  CHECK_THROWS_AS(xrpc::jwt::verify(a, PrivateKey::generate(KeyType::kP256).public_key()), VerifyError);
}

TEST_CASE("client kinds follow the base URL") {
  test::MemoryResolver resolver;
  SUBCASE("loopback: a public native client on localhost, redirecting to 127.0.0.1") {
    Client c({.base_url = "http://localhost:5000/"}, resolver, nullptr);
    CHECK(!c.confidential());
    CHECK(c.redirect_uri() == "http://127.0.0.1:5000/auth/oauth/callback");
    CHECK(c.client_id() ==
          "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fauth%2Foauth%2Fcallback"
          "&scope=atproto%20transition%3Ageneric");
    Value m = c.metadata();
    CHECK(str(m, "token_endpoint_auth_method") == "none");
    CHECK(str(m, "application_type") == "native");
    CHECK(at(m, "dpop_bound_access_tokens").as_bool());
    CHECK(at(c.jwks(), "keys").as_array().empty());
  }
  SUBCASE("https: a confidential web client publishing its key") {
    PrivateKey key = PrivateKey::generate(KeyType::kP256);
    Client c({.base_url = "https://registry.example", .scope = "atproto transition:generic",
              .client_key = key},
             resolver, nullptr);
    CHECK(c.confidential());
    CHECK(c.client_id() == "https://registry.example/client-metadata.json");
    CHECK(c.redirect_uri() == "https://registry.example/auth/oauth/callback");
    Value m = c.metadata();
    CHECK(str(m, "client_id") == c.client_id());
    CHECK(str(m, "token_endpoint_auth_method") == "private_key_jwt");
    CHECK(str(m, "token_endpoint_auth_signing_alg") == "ES256");
    CHECK(str(m, "application_type") == "web");
    CHECK(str(m, "scope") == "atproto transition:generic");
    CHECK(at(m, "redirect_uris").as_array()[0].as_string() == c.redirect_uri());
    const auto& keys = at(at(m, "jwks"), "keys").as_array();
    REQUIRE(keys.size() == 1);
    CHECK(public_key_from_jwk(keys[0]) == key.public_key());
    CHECK(!str(keys[0], "kid").empty());
  }
  SUBCASE("anything else is refused") {
    CHECK_THROWS_AS(Client({.base_url = "http://registry.example"}, resolver, nullptr), ParseError);
    CHECK_THROWS_AS(Client({.base_url = "https://registry.example"}, resolver, nullptr), ParseError);
    CHECK_THROWS_AS(Client({.base_url = "http://127.0.0.1:5000", .scope = "transition:generic"}, resolver, nullptr),
                    ParseError);
  }
  CHECK(is_loopback_url("http://127.0.0.1:5000"));
  CHECK(is_loopback_url("http://[::1]"));
  CHECK(!is_loopback_url("https://127.0.0.1"));
  CHECK(!is_loopback_url("http://localhost.example.com"));
  CHECK(url_origin("https://a.example:8443/x?y") == "https://a.example:8443");
}

TEST_CASE("a typed PDS URL on this host or network is never fetched") {
  test::MemoryResolver resolver;
  Client c({.base_url = "https://registry.example", .client_key = PrivateKey::generate(KeyType::kP256)}, resolver,
           nullptr);
  for (const char* url : {"https://127.0.0.1", "https://localhost:8443", "https://10.0.0.1/", "https://[::1]",
                          "https://metadata", "http://pds.example.com", "https://"}) {
    CAPTURE(url);
    CHECK_THROWS_AS(c.discover(url), OAuthError);
  }
}

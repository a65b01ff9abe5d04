// The JOSE pieces of ATProto OAuth as a client uses them: public JWKs of
// P-256 keys, PKCE S256 (RFC 7636), DPoP proofs (RFC 9449) and private_key_jwt
// client assertions (RFC 7523), all ES256. Signing and splitting JWTs is
// xrpc::jwt's; this file only decides what goes into them.
//
// verify_dpop_proof() is the check an authorization or resource server
// makes; the AppView does not need it to sign in, it exists so tests can
// hold our proofs to the RFC's rules with our own verifier.
//
// All functions are thread-safe. Errors: ParseError for malformed input,
// VerifyError for a well-formed proof that fails a check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/crypto/keys.h"
#include "atcr/data/value.h"

namespace atcr::oauth {

// {"kty": "EC", "crv": "P-256", "x": ..., "y": ...} (+ "kid", "alg": "ES256",
// "use": "sig" when `kid` is given, as in a client's published jwks).
// ParseError for a key that is not P-256.
Value public_jwk(const PublicKey& key, std::string_view kid = {});
// The inverse, for EC P-256 JWKs only; a JWK holding "d" (a private key) is
// refused. Throws ParseError.
PublicKey public_key_from_jwk(const Value& jwk);

// `bytes` random bytes, base64url without padding (state, jti, verifiers).
std::string random_token(std::size_t bytes = 32);

struct Pkce {
  std::string verifier;   // 43 characters of base64url (32 random bytes)
  std::string challenge;  // base64url(SHA-256(verifier))
};
Pkce make_pkce();
std::string pkce_challenge(std::string_view verifier);

// The DPoP `htu` of a URL: the URL without its query and fragment.
std::string dpop_htu(std::string_view url);
// base64url(SHA-256(access token)): the `ath` claim.
std::string dpop_ath(std::string_view access_token);

struct DpopProofParams {
  std::string htm;           // "POST"
  std::string url;           // the request URL (its query is dropped)
  std::string nonce{};       // the server's latest DPoP-Nonce, if any
  std::string access_token{};  // resource requests: adds ath
  std::optional<std::int64_t> iat{};  // default: now
};
// A proof JWT: header {typ: "dpop+jwt", alg: ES256, jwk}, claims {jti, htm,
// htu, iat[, nonce][, ath]}. The key must be P-256.
std::string make_dpop_proof(const PrivateKey& key, const DpopProofParams& params);

struct DpopCheck {
  std::string htm;
  std::string url;
  std::string nonce{};         // required when non-empty
  std::string access_token{};  // ath required when non-empty
  std::int64_t max_age = 60;   // seconds an iat may lie in the past (or future)
  std::optional<std::int64_t> now{};
};
struct DpopProof {
  PublicKey key;
  std::string jti;
  std::int64_t iat = 0;
};
// Verifies a proof's type, algorithm, embedded key, signature and claims
// against the request. Throws VerifyError naming the failed check.
DpopProof verify_dpop_proof(std::string_view proof, const DpopCheck& check);

// The private_key_jwt client assertion: header {alg: ES256, kid}, claims
// {iss = sub = client_id, aud = the authorization server's issuer, jti, iat,
// exp = iat + 60}.
std::string make_client_assertion(const PrivateKey& client_key, std::string_view kid,
                                  std::string_view client_id, std::string_view audience,
                                  std::optional<std::int64_t> iat = std::nullopt);

}  // namespace atcr::oauth

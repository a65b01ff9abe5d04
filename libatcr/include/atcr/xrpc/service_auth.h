// Inter-service authentication: short-lived JWTs signed with an account's
// #atproto key (atproto "service auth").
//
// A token is base64url(header) "." base64url(payload) "." base64url(sig):
//   header  {"alg": "ES256K" | "ES256", "typ": "JWT"}
//   payload {"iss": <account DID>, "aud": <service DID[#service_id]>,
//            "exp": <unix s>, "iat": <unix s>, "lxm": <NSID>, "jti": <nonce>}
//   sig     64-byte r||s ECDSA-SHA256 over the first two parts' ASCII.
//
// A user's PDS mints these (com.atproto.server.getServiceAuth) so the
// AppView can call a hold on the user's behalf; the hold verifies them here.
//
// Signatures: tokens minted here are always low-S (PrivateKey::sign). The
// verifier accepts high-S by default (ServiceAuthOptions::lenient_signatures)
// because the TypeScript reference does (allowMalleableSig) and a PDS on
// another implementation may emit them. Malleability is harmless here: a
// token is short-lived, not content-addressed, and replay protection keys on
// (iss, jti), not on the signature bytes. DER is never accepted.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/identity/resolver.h"
#include "atcr/xrpc/error.h"

namespace atcr::xrpc {

namespace detail {
class ReplayCache;  // src/xrpc/replay_cache.h
}

// Seconds since the Unix epoch; replaceable for tests.
using UnixClock = std::function<std::int64_t()>;
std::int64_t unix_now();

struct ServiceAuthParams {
  std::string iss;  // the account DID
  std::string aud;  // the service: "did:web:hold.example#atcr_hold" or a bare DID
  std::string lxm;  // the NSID to be called; empty = no lxm claim
  std::chrono::seconds lifetime{60};
  std::optional<std::int64_t> now{};  // iat; default unix_now()
};

// Mints a compact JWT signed by `key` (alg follows the key's curve). Throws
// ParseError for an invalid iss, aud or lxm or a non-positive lifetime.
std::string mint_service_auth(const ServiceAuthParams& params, const PrivateKey& key);

// Why a token was refused. Each maps to an XRPC error name (see
// ServiceAuthError), so a handler may let the error propagate to answer 401.
enum class ServiceAuthFailure {
  kMalformed,             // not 3 parts, bad base64url/JSON, wrong claim types, crit header, bad sig length
  kUnsupportedAlgorithm,  // alg missing, "none", HS*, RS*, ... (only ES256/ES256K)
  kBadType,               // typ other than "JWT" (e.g. at+jwt, refresh+jwt, dpop+jwt)
  kBadKeyId,              // kid names a key we do not accept
  kMissingClaim,          // iss, aud or exp absent (or jti, with replay protection)
  kBadIssuer,             // iss is not a DID
  kExpired,               // exp passed (beyond the clock skew)
  kNotYetValid,           // iat or nbf in the future (beyond the clock skew)
  kLifetimeTooLong,       // exp - iat over the limit, or exp before iat
  kBadAudience,           // aud is not this service
  kBadLexiconMethod,      // lxm differs from the endpoint, or is missing
  kUnknownIssuer,         // iss does not resolve to a DID document
  kNoSigningKey,          // the document has no usable key for the token
  kKeyTypeMismatch,       // alg does not match the key's curve
  kBadSignature,          // the signature does not verify (also after a fresh resolve)
  kReplayed,              // this (iss, jti) was seen before
};

// "malformed", "expired", ... for logs and tests.
std::string_view to_string(ServiceAuthFailure reason);

// 401 with the reference's error names: BadJwt, BadJwtType, JwtExpired,
// BadJwtAudience, BadJwtLexiconMethod, BadJwtSignature.
class ServiceAuthError : public XrpcError {
 public:
  ServiceAuthError(ServiceAuthFailure reason, std::string message);
  ServiceAuthFailure reason() const noexcept { return reason_; }

 private:
  ServiceAuthFailure reason_;
};

struct ServiceAuthClaims {
  std::string iss;  // the issuer DID, any "#fragment" removed
  std::string aud;  // as in the token
  std::string lxm;  // empty if the token has none
  std::int64_t exp = 0;
  std::optional<std::int64_t> iat;  // older PDSes omit it
  std::string jti;                  // empty if the token has none
  KeyType alg = KeyType::kSecp256k1;
};

struct ServiceAuthOptions {
  // Tolerance for clocks that disagree, applied to exp, iat and nbf.
  std::chrono::seconds clock_skew{30};
  // Upper bound on exp - iat (exp - now when iat is absent). A PDS issues at
  // most an hour (getServiceAuth), usually 60 s.
  std::chrono::seconds max_lifetime{3600};
  // Accept high-S signatures (see the top of this file).
  bool lenient_signatures = true;
  // Accept aud equal to the bare service DID (legacy form).
  bool allow_bare_audience = true;
  // Accepted "#service_id" fragments on aud, without '#'. Empty: any fragment.
  std::vector<std::string> service_ids;
  // Verification-method fragments a token's `kid` may name.
  std::vector<std::string> key_ids{"atproto"};
  // When verify() is given an expected lxm, a token without lxm is refused.
  // ATCR's Go hold checks lxm only "if present" and clients call
  // getServiceAuth without lxm, so a hold may need to set this false. A
  // present but different lxm is always refused.
  bool require_lxm = true;
  // Refuse a second use of the same (iss, jti). Off by default: the ATCR
  // AppView caches a service token and reuses it for several calls to a hold
  // until it expires, which one-time tokens would break. Turn it on for
  // endpoints that must not be replayed. Tokens then need a jti.
  bool replay_protection = false;
  // At most this many jtis are remembered; beyond it the ones expiring
  // soonest are forgotten first (they are the first to stop mattering).
  std::size_t replay_cache_size = 100000;
  UnixClock now;  // default unix_now()
};

class ServiceAuthVerifier {
 public:
  // `service_did` is this service's DID; a "#fragment" on it is added to
  // options.service_ids. The resolver must outlive the verifier. Throws
  // ParseError if the DID is invalid.
  ServiceAuthVerifier(identity::Resolver& resolver, std::string_view service_did,
                      ServiceAuthOptions options = {});
  ~ServiceAuthVerifier();
  ServiceAuthVerifier(const ServiceAuthVerifier&) = delete;
  ServiceAuthVerifier& operator=(const ServiceAuthVerifier&) = delete;

  const std::string& service_did() const { return service_did_; }

  // Checks everything that needs no network first, then resolves the
  // issuer's DID document and verifies the signature with its key; if that
  // fails, resolves again with fresh = true (the key may have rotated) and
  // retries once. An empty `expected_lxm` skips the lxm check.
  //
  // Throws ServiceAuthError. Any failure to resolve the issuer (no such
  // DID, a document that does not parse, network trouble: net::HttpError)
  // is kUnknownIssuer: a token that cannot be checked now is refused (a
  // 401 for its sender), never an error of the verifying service.
  // Safe to call from many threads if the resolver is.
  ServiceAuthClaims verify(std::string_view token, std::string_view expected_lxm) const;

 private:
  identity::Resolver& resolver_;
  std::string service_did_;
  ServiceAuthOptions options_;
  std::unique_ptr<detail::ReplayCache> replay_;
};

}  // namespace atcr::xrpc

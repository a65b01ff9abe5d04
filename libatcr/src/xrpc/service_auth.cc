// Minting service-auth tokens, and the error type the verifier throws
// (the verifier itself is in service_auth_verifier.cc).
#include "atcr/xrpc/service_auth.h"

#include <fmt/core.h>

#include <chrono>
#include <utility>

#include "atcr/crypto/random.h"
#include "atcr/data/syntax.h"
#include "atcr/data/value.h"
#include "atcr/encoding/hex.h"
#include "atcr/xrpc/jwt.h"

namespace atcr::xrpc {

namespace {

std::string_view xrpc_name(ServiceAuthFailure reason) {
  switch (reason) {
    case ServiceAuthFailure::kBadType: return "BadJwtType";
    case ServiceAuthFailure::kExpired: return "JwtExpired";
    case ServiceAuthFailure::kBadAudience: return "BadJwtAudience";
    case ServiceAuthFailure::kBadLexiconMethod: return "BadJwtLexiconMethod";
    case ServiceAuthFailure::kNoSigningKey:
    case ServiceAuthFailure::kKeyTypeMismatch:
    case ServiceAuthFailure::kBadSignature: return "BadJwtSignature";
    default: return "BadJwt";
  }
}

}  // namespace

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view to_string(ServiceAuthFailure reason) {
  switch (reason) {
    case ServiceAuthFailure::kMalformed: return "malformed";
    case ServiceAuthFailure::kUnsupportedAlgorithm: return "unsupported-algorithm";
    case ServiceAuthFailure::kBadType: return "bad-type";
    case ServiceAuthFailure::kBadKeyId: return "bad-key-id";
    case ServiceAuthFailure::kMissingClaim: return "missing-claim";
    case ServiceAuthFailure::kBadIssuer: return "bad-issuer";
    case ServiceAuthFailure::kExpired: return "expired";
    case ServiceAuthFailure::kNotYetValid: return "not-yet-valid";
    case ServiceAuthFailure::kLifetimeTooLong: return "lifetime-too-long";
    case ServiceAuthFailure::kBadAudience: return "bad-audience";
    case ServiceAuthFailure::kBadLexiconMethod: return "bad-lexicon-method";
    case ServiceAuthFailure::kUnknownIssuer: return "unknown-issuer";
    case ServiceAuthFailure::kNoSigningKey: return "no-signing-key";
    case ServiceAuthFailure::kKeyTypeMismatch: return "key-type-mismatch";
    case ServiceAuthFailure::kBadSignature: return "bad-signature";
    case ServiceAuthFailure::kReplayed: return "replayed";
  }
  return "unknown";
}

ServiceAuthError::ServiceAuthError(ServiceAuthFailure reason, std::string message)
    : XrpcError(401, std::string(xrpc_name(reason)), std::move(message),
                {{"WWW-Authenticate", "Bearer"}}, "service auth"),
      reason_(reason) {}

std::string mint_service_auth(const ServiceAuthParams& params, const PrivateKey& key) {
  syntax::validate_did(params.iss);
  std::string_view aud = params.aud;
  if (auto hash = aud.find('#'); hash != std::string_view::npos) {
    if (hash + 1 == aud.size())
      throw ParseError(fmt::format("service auth: aud \"{}\" has an empty fragment", aud));
    aud = aud.substr(0, hash);
  }
  syntax::validate_did(aud);
  if (!params.lxm.empty()) syntax::validate_nsid(params.lxm);
  if (params.lifetime.count() <= 0)
    throw ParseError(fmt::format("service auth: lifetime must be positive, got {}s",
                                 params.lifetime.count()));

  std::int64_t iat = params.now.value_or(unix_now());
  Value::Map header{{"typ", "JWT"}};
  Value::Map payload{
      {"iss", params.iss},
      {"aud", params.aud},
      {"iat", iat},
      {"exp", iat + params.lifetime.count()},
      // 128 random bits, as the reference does: unique per token without
      // any coordination between minters.
      {"jti", hex::encode(random_bytes(16))},
  };
  if (!params.lxm.empty()) payload.emplace("lxm", params.lxm);

  return jwt::sign(std::move(header), payload, key);
}

}  // namespace atcr::xrpc

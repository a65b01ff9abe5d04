// ServiceAuthVerifier: every check a service-auth token must pass, local
// ones first so that garbage never reaches the resolver (and the network).
#include <fmt/core.h>

#include <algorithm>
#include <utility>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/data/value.h"
#include "atcr/encoding/base64.h"
#include "atcr/xrpc/service_auth.h"
#include "xrpc/replay_cache.h"
#include "util/text.h"

namespace atcr::xrpc {

namespace {

using Failure = ServiceAuthFailure;

// Far larger than any real token (~600 bytes), small enough that decoding
// hostile input costs nothing.
constexpr std::size_t kMaxTokenLength = 8192;
constexpr std::size_t kMaxJtiLength = 256;
// Claims are seconds since the epoch; anything outside [0, year 9999] is
// nonsense, and bounding them keeps the time arithmetic below overflow-free.
constexpr std::int64_t kMaxTime = 253402300799;

[[noreturn]] void fail(Failure reason, std::string message) {
  throw ServiceAuthError(reason, std::move(message));
}

Value decode_segment(std::string_view segment, std::string_view what) {
  try {
    Value value = json::parse(atcr::to_string(base64::decode_url(segment)));
    if (!value.is_map()) fail(Failure::kMalformed, fmt::format("{} is not a JSON object", what));
    return value;
  } catch (const ParseError& e) {
    fail(Failure::kMalformed, fmt::format("{}: {}", what, e.what()));
  }
}

const std::string* string_claim(const Value& map, std::string_view name, std::string_view where) {
  const Value* v = map.find(name);
  if (v == nullptr) return nullptr;
  if (!v->is_string())
    fail(Failure::kMalformed, fmt::format("{} \"{}\" is {}, not a string", where, name,
                                          kind_name(v->kind())));
  return &v->as_string();
}

std::optional<std::int64_t> time_claim(const Value& payload, std::string_view name) {
  const Value* v = payload.find(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_integer())
    fail(Failure::kMalformed,
         fmt::format("claim \"{}\" is {}, not an integer", name, kind_name(v->kind())));
  std::int64_t t = v->as_integer();
  if (t < 0 || t > kMaxTime)
    fail(Failure::kMalformed, fmt::format("claim \"{}\" = {} is out of range", name, t));
  return t;
}

std::string_view before_hash(std::string_view s) { return s.substr(0, s.find('#')); }

// The fragment after '#', or nullopt when there is no '#'.
std::optional<std::string_view> fragment(std::string_view s) {
  auto hash = s.find('#');
  if (hash == std::string_view::npos) return std::nullopt;
  return s.substr(hash + 1);
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// The result of checking the signature against one DID document.
enum class KeyCheck { kValid, kNoKey, kWrongCurve, kBadSignature };

struct Token {
  KeyType alg;
  std::string key_id;  // verification-method fragment
  std::string_view signing_input;
  Bytes signature;
};

}  // namespace

ServiceAuthVerifier::ServiceAuthVerifier(identity::Resolver& resolver,
                                         std::string_view service_did,
                                         ServiceAuthOptions options)
    : resolver_(resolver),
      service_did_(before_hash(service_did)),
      options_(std::move(options)),
      replay_(std::make_unique<detail::ReplayCache>(options_.replay_cache_size)) {
  syntax::validate_did(service_did_);
  if (auto frag = fragment(service_did)) {
    if (frag->empty())
      throw ParseError(fmt::format("service auth: service DID \"{}\" has an empty fragment",
                                   service_did));
    if (!contains(options_.service_ids, *frag)) options_.service_ids.emplace_back(*frag);
  }
  if (!options_.now) options_.now = unix_now;
}

ServiceAuthVerifier::~ServiceAuthVerifier() = default;

ServiceAuthClaims ServiceAuthVerifier::verify(std::string_view token,
                                              std::string_view expected_lxm) const {
  if (token.empty()) fail(Failure::kMalformed, "empty token");
  if (token.size() > kMaxTokenLength)
    fail(Failure::kMalformed, fmt::format("token of {} bytes is over the {}-byte limit",
                                          token.size(), kMaxTokenLength));
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    fail(Failure::kMalformed, "a JWT has exactly three dot-separated parts");

  Token t;
  t.signing_input = token.substr(0, dot2);

  // Header: only ES256/ES256K, and a plain JWT.
  Value header = decode_segment(token.substr(0, dot1), "header");
  const Value* alg = header.find("alg");
  if (alg == nullptr) fail(Failure::kUnsupportedAlgorithm, "header has no \"alg\"");
  if (!alg->is_string()) fail(Failure::kUnsupportedAlgorithm, "header \"alg\" is not a string");
  try {
    t.alg = key_type_from_jwt_alg(alg->as_string());
  } catch (const ParseError&) {
    fail(Failure::kUnsupportedAlgorithm,
         fmt::format("alg \"{}\" is not ES256 or ES256K", alg->as_string()));
  }
  if (const std::string* typ = string_claim(header, "typ", "header"); typ && !util::iequals_ascii(*typ, "JWT"))
    // Notably at+jwt, refresh+jwt and dpop+jwt: access, refresh and DPoP
    // tokens signed by the same key must not pass as service tokens.
    fail(Failure::kBadType, fmt::format("typ \"{}\" is not JWT", *typ));
  // RFC 7515 4.1.11: an extension we do not understand must be refused.
  if (header.find("crit") != nullptr) fail(Failure::kMalformed, "header has \"crit\"");
  t.key_id = "atproto";
  std::string_view kid_did;
  if (const std::string* kid = string_claim(header, "kid", "header")) {
    auto frag = fragment(*kid);
    if (!frag || frag->empty() || !contains(options_.key_ids, *frag))
      fail(Failure::kBadKeyId, fmt::format("kid \"{}\" names no accepted key", *kid));
    t.key_id = std::string(*frag);
    kid_did = before_hash(*kid);
  }

  // Payload: claim types first, then their values.
  Value payload = decode_segment(token.substr(dot1 + 1, dot2 - dot1 - 1), "payload");
  const std::string* iss = string_claim(payload, "iss", "claim");
  const std::string* aud = string_claim(payload, "aud", "claim");
  std::optional<std::int64_t> exp = time_claim(payload, "exp");
  std::optional<std::int64_t> iat = time_claim(payload, "iat");
  std::optional<std::int64_t> nbf = time_claim(payload, "nbf");
  const std::string* lxm = string_claim(payload, "lxm", "claim");
  const std::string* jti = string_claim(payload, "jti", "claim");
  if (!iss) fail(Failure::kMissingClaim, "no \"iss\" claim");
  if (!aud) fail(Failure::kMissingClaim, "no \"aud\" claim");
  if (!exp) fail(Failure::kMissingClaim, "no \"exp\" claim");
  if (jti && jti->size() > kMaxJtiLength)
    fail(Failure::kMalformed, fmt::format("jti of {} bytes is too long", jti->size()));
  if (options_.replay_protection && (!jti || jti->empty()))
    fail(Failure::kMissingClaim, "no \"jti\" claim (required for replay protection)");

  try {
    t.signature = base64::decode_url(token.substr(dot2 + 1));
  } catch (const ParseError& e) {
    fail(Failure::kMalformed, fmt::format("signature: {}", e.what()));
  }
  if (t.signature.size() != 64)
    fail(Failure::kMalformed,
         fmt::format("signature has {} bytes, not 64 (r||s)", t.signature.size()));

  ServiceAuthClaims claims;
  claims.alg = t.alg;
  claims.aud = *aud;
  claims.exp = *exp;
  claims.iat = iat;
  if (lxm) claims.lxm = *lxm;
  if (jti) claims.jti = *jti;
  // A "#fragment" on iss (e.g. "#atproto_labeler") names a service of the
  // account; the signing account is the DID before it.
  claims.iss = std::string(before_hash(*iss));
  if (!syntax::is_valid_did(claims.iss))
    fail(Failure::kBadIssuer, fmt::format("iss \"{}\" is not a DID", *iss));
  if (!kid_did.empty() && kid_did != claims.iss)
    fail(Failure::kBadKeyId, fmt::format("kid names a key of another DID than iss \"{}\"",
                                         claims.iss));

  // Time.
  const std::int64_t now = options_.now();
  const std::int64_t skew = options_.clock_skew.count();
  if (now - skew > *exp)
    fail(Failure::kExpired, fmt::format("expired at {}, now {}", *exp, now));
  if (iat && *iat > now + skew)
    fail(Failure::kNotYetValid, fmt::format("issued at {}, in the future (now {})", *iat, now));
  if (nbf && *nbf > now + skew)
    fail(Failure::kNotYetValid, fmt::format("not valid before {} (now {})", *nbf, now));
  if (iat && *exp < *iat)
    fail(Failure::kLifetimeTooLong, fmt::format("exp {} precedes iat {}", *exp, *iat));
  std::int64_t lifetime = *exp - iat.value_or(now);
  if (lifetime > options_.max_lifetime.count())
    fail(Failure::kLifetimeTooLong, fmt::format("lifetime {}s exceeds the {}s limit", lifetime,
                                                options_.max_lifetime.count()));

  // Audience: our DID, bare or with an accepted service fragment.
  if (before_hash(claims.aud) != service_did_)
    fail(Failure::kBadAudience,
         fmt::format("aud \"{}\" is not this service ({})", claims.aud, service_did_));
  if (auto frag = fragment(claims.aud)) {
    if (frag->empty() || (!options_.service_ids.empty() && !contains(options_.service_ids, *frag)))
      fail(Failure::kBadAudience,
           fmt::format("aud \"{}\" names a service id this service does not accept", claims.aud));
  } else if (!options_.allow_bare_audience) {
    fail(Failure::kBadAudience,
         fmt::format("aud \"{}\" lacks a #service_id fragment", claims.aud));
  }

  // Endpoint.
  if (!expected_lxm.empty()) {
    if (!lxm && options_.require_lxm)
      fail(Failure::kBadLexiconMethod, fmt::format("no \"lxm\" claim; expected {}", expected_lxm));
    if (lxm && *lxm != expected_lxm)
      fail(Failure::kBadLexiconMethod,
           fmt::format("lxm \"{}\" does not match {}", *lxm, expected_lxm));
  }

  // Signature, against the issuer's current key; on failure once more with
  // a freshly resolved document, in case the key was just rotated.
  auto resolve = [&](bool fresh) {
    identity::DidDocument doc;
    try {
      doc = resolver_.resolve_did(claims.iss, fresh);
    } catch (const identity::ResolutionError& e) {
      fail(Failure::kUnknownIssuer, fmt::format("issuer {}: {}", claims.iss, e.what()));
    } catch (const ParseError& e) {
      // A document that does not parse is the issuer's fault, not a
      // transient failure of ours.
      fail(Failure::kUnknownIssuer, fmt::format("issuer {}: {}", claims.iss, e.what()));
    } catch (const Error& e) {
      // Unreachable now (HTTP, DNS, the PLC directory): still a token we
      // cannot verify, so 401, never a 500 for whoever named the issuer.
      fail(Failure::kUnknownIssuer, fmt::format("issuer {} cannot be resolved now: {}", claims.iss, e.what()));
    }
    if (doc.id != claims.iss)
      fail(Failure::kUnknownIssuer,
           fmt::format("resolving {} returned the document of {}", claims.iss, doc.id));
    return doc;
  };
  auto check = [&](const std::optional<PublicKey>& key) {
    if (!key) return KeyCheck::kNoKey;
    if (key->type() != t.alg) return KeyCheck::kWrongCurve;
    BytesView message = as_bytes(t.signing_input);
    bool ok = options_.lenient_signatures ? key->verify_lenient(message, t.signature)
                                          : key->verify(message, t.signature);
    return ok ? KeyCheck::kValid : KeyCheck::kBadSignature;
  };

  std::optional<PublicKey> key = resolve(false).key(t.key_id);
  KeyCheck result = check(key);
  if (result != KeyCheck::kValid) {
    std::optional<PublicKey> fresh_key = resolve(true).key(t.key_id);
    // The same key again would fail the same way; skip the second verify.
    if (fresh_key != key) result = check(fresh_key);
  }
  switch (result) {
    case KeyCheck::kValid: break;
    case KeyCheck::kNoKey:
      fail(Failure::kNoSigningKey,
           fmt::format("DID document of {} has no #{} key", claims.iss, t.key_id));
    case KeyCheck::kWrongCurve:
      fail(Failure::kKeyTypeMismatch,
           fmt::format("token alg {} does not match the #{} key of {}", jwt_alg(t.alg), t.key_id,
                       claims.iss));
    case KeyCheck::kBadSignature:
      fail(Failure::kBadSignature,
           fmt::format("signature does not verify with the #{} key of {}", t.key_id, claims.iss));
  }

  // Only a token that verified may take a place in the replay cache, so
  // forged tokens cannot flush it.
  if (options_.replay_protection &&
      !replay_->insert(claims.iss + " " + claims.jti, claims.exp + skew, now))
    fail(Failure::kReplayed, fmt::format("jti \"{}\" of {} was already used", claims.jti,
                                         claims.iss));
  return claims;
}

}  // namespace atcr::xrpc

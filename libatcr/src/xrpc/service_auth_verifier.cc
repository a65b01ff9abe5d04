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

// A token's parts: header.payload.signature, and what the signature signs.
struct Segments {
  std::string_view header, payload, signature, signing_input;
};

Segments split_token(std::string_view token) {
  if (token.empty()) fail(Failure::kMalformed, "empty token");
  if (token.size() > kMaxTokenLength)
    fail(Failure::kMalformed, fmt::format("token of {} bytes is over the {}-byte limit",
                                          token.size(), kMaxTokenLength));
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    fail(Failure::kMalformed, "a JWT has exactly three dot-separated parts");
  return {token.substr(0, dot1), token.substr(dot1 + 1, dot2 - dot1 - 1), token.substr(dot2 + 1),
          token.substr(0, dot2)};
}

// What the header says: the algorithm, the verification method's fragment,
// and the DID `kid` names ("" without a kid).
struct Header {
  KeyType alg{};
  std::string key_id = "atproto";
  std::string kid_did;
};

KeyType header_alg(const Value& header) {
  const Value* alg = header.find("alg");
  if (alg == nullptr) fail(Failure::kUnsupportedAlgorithm, "header has no \"alg\"");
  if (!alg->is_string()) fail(Failure::kUnsupportedAlgorithm, "header \"alg\" is not a string");
  try {
    return key_type_from_jwt_alg(alg->as_string());
  } catch (const ParseError&) {
    fail(Failure::kUnsupportedAlgorithm,
         fmt::format("alg \"{}\" is not ES256 or ES256K", alg->as_string()));
  }
}

// Only ES256/ES256K, and a plain JWT.
Header read_header(std::string_view segment, const ServiceAuthOptions& options) {
  Value header = decode_segment(segment, "header");
  Header h;
  h.alg = header_alg(header);
  if (const std::string* typ = string_claim(header, "typ", "header"); typ && !util::iequals_ascii(*typ, "JWT"))
    // Notably at+jwt, refresh+jwt and dpop+jwt: access, refresh and DPoP
    // tokens signed by the same key must not pass as service tokens.
    fail(Failure::kBadType, fmt::format("typ \"{}\" is not JWT", *typ));
  // RFC 7515 4.1.11: an extension we do not understand must be refused.
  if (header.find("crit") != nullptr) fail(Failure::kMalformed, "header has \"crit\"");
  if (const std::string* kid = string_claim(header, "kid", "header")) {
    auto frag = fragment(*kid);
    if (!frag || frag->empty() || !contains(options.key_ids, *frag))
      fail(Failure::kBadKeyId, fmt::format("kid \"{}\" names no accepted key", *kid));
    h.key_id = std::string(*frag);
    h.kid_did = std::string(before_hash(*kid));
  }
  return h;
}

// The payload's claims, each checked for its type and the required ones
// for presence; `iss` as written (claims.iss has its fragment removed).
struct Payload {
  ServiceAuthClaims claims;
  std::string iss;
  std::optional<std::int64_t> nbf;
  bool has_lxm = false;
};

Payload read_payload(std::string_view segment, const ServiceAuthOptions& options) {
  Value payload = decode_segment(segment, "payload");
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
  if (options.replay_protection && (!jti || jti->empty()))
    fail(Failure::kMissingClaim, "no \"jti\" claim (required for replay protection)");
  Payload p{{}, *iss, nbf, lxm != nullptr};
  p.claims.aud = *aud;
  p.claims.exp = *exp;
  p.claims.iat = iat;
  if (lxm) p.claims.lxm = *lxm;
  if (jti) p.claims.jti = *jti;
  // A "#fragment" on iss (e.g. "#atproto_labeler") names a service of the
  // account; the signing account is the DID before it.
  p.claims.iss = std::string(before_hash(*iss));
  return p;
}

Bytes decode_signature(std::string_view segment) {
  Bytes signature;
  try {
    signature = base64::decode_url(segment);
  } catch (const ParseError& e) {
    fail(Failure::kMalformed, fmt::format("signature: {}", e.what()));
  }
  if (signature.size() != 64)
    fail(Failure::kMalformed,
         fmt::format("signature has {} bytes, not 64 (r||s)", signature.size()));
  return signature;
}

void check_issuer(const Payload& p, const Header& h) {
  if (!syntax::is_valid_did(p.claims.iss))
    fail(Failure::kBadIssuer, fmt::format("iss \"{}\" is not a DID", p.iss));
  if (!h.kid_did.empty() && h.kid_did != p.claims.iss)
    fail(Failure::kBadKeyId, fmt::format("kid names a key of another DID than iss \"{}\"",
                                         p.claims.iss));
}

void check_times(const Payload& p, std::int64_t now, const ServiceAuthOptions& options) {
  const std::int64_t skew = options.clock_skew.count();
  const std::int64_t exp = p.claims.exp;
  const std::optional<std::int64_t>& iat = p.claims.iat;
  if (now - skew > exp)
    fail(Failure::kExpired, fmt::format("expired at {}, now {}", exp, now));
  if (iat && *iat > now + skew)
    fail(Failure::kNotYetValid, fmt::format("issued at {}, in the future (now {})", *iat, now));
  if (p.nbf && *p.nbf > now + skew)
    fail(Failure::kNotYetValid, fmt::format("not valid before {} (now {})", *p.nbf, now));
  if (iat && exp < *iat)
    fail(Failure::kLifetimeTooLong, fmt::format("exp {} precedes iat {}", exp, *iat));
  std::int64_t lifetime = exp - iat.value_or(now);
  if (lifetime > options.max_lifetime.count())
    fail(Failure::kLifetimeTooLong, fmt::format("lifetime {}s exceeds the {}s limit", lifetime,
                                                options.max_lifetime.count()));
}

// Our DID, bare or with an accepted service fragment.
void check_audience(const std::string& aud, std::string_view service_did, const ServiceAuthOptions& options) {
  if (before_hash(aud) != service_did)
    fail(Failure::kBadAudience,
         fmt::format("aud \"{}\" is not this service ({})", aud, service_did));
  if (auto frag = fragment(aud)) {
    if (frag->empty() || (!options.service_ids.empty() && !contains(options.service_ids, *frag)))
      fail(Failure::kBadAudience,
           fmt::format("aud \"{}\" names a service id this service does not accept", aud));
  } else if (!options.allow_bare_audience) {
    fail(Failure::kBadAudience,
         fmt::format("aud \"{}\" lacks a #service_id fragment", aud));
  }
}

// The endpoint the token is bound to (none expected: any).
void check_lxm(const Payload& p, std::string_view expected_lxm, const ServiceAuthOptions& options) {
  if (expected_lxm.empty()) return;
  if (!p.has_lxm && options.require_lxm)
    fail(Failure::kBadLexiconMethod, fmt::format("no \"lxm\" claim; expected {}", expected_lxm));
  if (p.has_lxm && p.claims.lxm != expected_lxm)
    fail(Failure::kBadLexiconMethod,
         fmt::format("lxm \"{}\" does not match {}", p.claims.lxm, expected_lxm));
}

// The issuer's DID document; any failure to get it is kUnknownIssuer.
identity::DidDocument resolve_issuer(identity::Resolver& resolver, const std::string& iss, bool fresh) {
  identity::DidDocument doc;
  try {
    doc = resolver.resolve_did(iss, fresh);
  } catch (const identity::ResolutionError& e) {
    fail(Failure::kUnknownIssuer, fmt::format("issuer {}: {}", iss, e.what()));
  } catch (const ParseError& e) {
    // A document that does not parse is the issuer's fault, not a
    // transient failure of ours.
    fail(Failure::kUnknownIssuer, fmt::format("issuer {}: {}", iss, e.what()));
  } catch (const Error& e) {
    // Unreachable now (HTTP, DNS, the PLC directory): still a token we
    // cannot verify, so 401, never a 500 for whoever named the issuer.
    fail(Failure::kUnknownIssuer, fmt::format("issuer {} cannot be resolved now: {}", iss, e.what()));
  }
  if (doc.id != iss)
    fail(Failure::kUnknownIssuer,
         fmt::format("resolving {} returned the document of {}", iss, doc.id));
  return doc;
}

// The result of checking the signature against one DID document.
enum class KeyCheck { kValid, kNoKey, kWrongCurve, kBadSignature };

// What the signature is checked with, and against.
struct Signed {
  const Header& header;
  std::string_view signing_input;
  const Bytes& signature;
  bool lenient;

  KeyCheck check(const std::optional<PublicKey>& key) const {
    if (!key) return KeyCheck::kNoKey;
    if (key->type() != header.alg) return KeyCheck::kWrongCurve;
    BytesView message = as_bytes(signing_input);
    bool ok = lenient ? key->verify_lenient(message, signature) : key->verify(message, signature);
    return ok ? KeyCheck::kValid : KeyCheck::kBadSignature;
  }
};

// Against the issuer's current key; on failure once more with a freshly
// resolved document, in case the key was just rotated.
void check_signature(identity::Resolver& resolver, const std::string& iss, const Signed& token) {
  const std::string& key_id = token.header.key_id;
  std::optional<PublicKey> key = resolve_issuer(resolver, iss, false).key(key_id);
  KeyCheck result = token.check(key);
  if (result != KeyCheck::kValid) {
    std::optional<PublicKey> fresh_key = resolve_issuer(resolver, iss, true).key(key_id);
    // The same key again would fail the same way; skip the second verify.
    if (fresh_key != key) result = token.check(fresh_key);
  }
  switch (result) {
    case KeyCheck::kValid: break;
    case KeyCheck::kNoKey:
      fail(Failure::kNoSigningKey,
           fmt::format("DID document of {} has no #{} key", iss, key_id));
    case KeyCheck::kWrongCurve:
      fail(Failure::kKeyTypeMismatch,
           fmt::format("token alg {} does not match the #{} key of {}", jwt_alg(token.header.alg), key_id, iss));
    case KeyCheck::kBadSignature:
      fail(Failure::kBadSignature,
           fmt::format("signature does not verify with the #{} key of {}", key_id, iss));
  }
}

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
  // Local checks first, in order: the token's form, the header, the
  // payload's claims, the signature's encoding.
  Segments segments = split_token(token);
  Header header = read_header(segments.header, options_);
  Payload payload = read_payload(segments.payload, options_);
  Bytes signature = decode_signature(segments.signature);
  check_issuer(payload, header);
  const std::int64_t now = options_.now();
  check_times(payload, now, options_);
  check_audience(payload.claims.aud, service_did_, options_);
  check_lxm(payload, expected_lxm, options_);
  // Then the network: the issuer's key.
  check_signature(resolver_, payload.claims.iss,
                  Signed{header, segments.signing_input, signature, options_.lenient_signatures});

  // Only a token that verified may take a place in the replay cache, so
  // forged tokens cannot flush it.
  const ServiceAuthClaims& claims = payload.claims;
  if (options_.replay_protection &&
      !replay_->insert(claims.iss + " " + claims.jti, claims.exp + options_.clock_skew.count(), now))
    fail(Failure::kReplayed, fmt::format("jti \"{}\" of {} was already used", claims.jti,
                                         claims.iss));
  ServiceAuthClaims result = std::move(payload.claims);
  result.alg = header.alg;
  return result;
}

}  // namespace atcr::xrpc

#include "atcr/xrpc/service_auth.h"

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"

using namespace atcr;
using namespace atcr::xrpc;
using Failure = ServiceAuthFailure;

namespace {

constexpr std::int64_t kNow = 1'750'000'000;
const std::string kAlice = "did:plc:alice7fhzbvaiqzgqg2fd6a";
const std::string kHold = "did:web:hold.example.com";

// Serves DID documents from memory. A "fresh" resolve may see a different
// document than a cached one, to simulate a key rotation not yet cached.
class FakeResolver : public identity::Resolver {
 public:
  void set(const std::string& did, const std::optional<PublicKey>& cached,
           const std::optional<PublicKey>& fresh) {
    cached_[did] = doc(did, cached);
    fresh_[did] = doc(did, fresh);
  }
  void set(const std::string& did, const PublicKey& key) { set(did, key, key); }

  identity::DidDocument resolve_did(std::string_view did, bool fresh) override {
    (fresh ? fresh_calls : cached_calls)++;
    auto& docs = fresh ? fresh_ : cached_;
    auto it = docs.find(std::string(did));
    if (it == docs.end()) throw identity::ResolutionError("no such DID " + std::string(did));
    return it->second;
  }
  std::string resolve_handle(std::string_view, bool) override {
    throw identity::ResolutionError("not supported");
  }
  identity::Identity resolve(std::string_view, bool) override {
    throw identity::ResolutionError("not supported");
  }

  std::atomic<int> cached_calls{0};
  std::atomic<int> fresh_calls{0};

 private:
  static identity::DidDocument doc(const std::string& did, const std::optional<PublicKey>& key) {
    identity::DidDocument d;
    d.id = did;
    if (key) d.verification_methods.push_back({"atproto", *key});
    return d;
  }
  std::map<std::string, identity::DidDocument> cached_, fresh_;
};

struct Fixture {
  PrivateKey k256 = PrivateKey::generate(KeyType::kSecp256k1);
  PrivateKey p256 = PrivateKey::generate(KeyType::kP256);
  FakeResolver resolver;
  std::int64_t now = kNow;

  Fixture() { resolver.set(kAlice, k256.public_key()); }

  ServiceAuthOptions options() {
    ServiceAuthOptions o;
    o.now = [this] { return now; };
    return o;
  }

  std::string mint(const std::string& lxm = "io.atcr.hold.initiateUpload",
                   std::chrono::seconds lifetime = std::chrono::seconds(60),
                   const std::string& aud = kHold) {
    return mint_service_auth({kAlice, aud, lxm, lifetime, now}, k256);
  }
};

std::string segment(const Value::Map& map) {
  return base64::encode_url(as_bytes(json::serialize(Value(map))));
}

// A token with any header and payload, properly signed by `key`.
std::string craft(const Value::Map& header, const Value::Map& payload, const PrivateKey& key) {
  std::string input = segment(header) + "." + segment(payload);
  return input + "." + base64::encode_url(key.sign(as_bytes(input)));
}

Value::Map std_header(const PrivateKey& key) {
  return {{"alg", Value(jwt_alg(key.type()))}, {"typ", "JWT"}};
}

Value::Map std_payload(std::int64_t now = kNow) {
  return {{"iss", kAlice},
          {"aud", kHold},
          {"iat", now},
          {"exp", now + 60},
          {"lxm", "io.atcr.hold.initiateUpload"},
          {"jti", "0123456789abcdef"}};
}

std::vector<std::string> split(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

Failure reason_of(const ServiceAuthVerifier& v, const std::string& token,
                  std::string_view lxm = "io.atcr.hold.initiateUpload") {
  try {
    v.verify(token, lxm);
  } catch (const ServiceAuthError& e) {
    CHECK(e.status() == 401);
    CHECK(!e.message().empty());
    return e.reason();
  }
  FAIL("token was accepted: " << token);
  return Failure::kMalformed;
}

// n - s for a 32-byte big-endian s: the high-S twin of a low-S signature.
Bytes high_s(KeyType type, const Bytes& sig) {
  Bytes n = hex::decode(type == KeyType::kSecp256k1
                            ? "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
                            : "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  Bytes out = sig;
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = int(n[i]) - int(sig[32 + i]) - borrow;
    borrow = d < 0;
    out[32 + i] = static_cast<std::uint8_t>(d + (borrow ? 256 : 0));
  }
  return out;
}

}  // namespace

TEST_CASE("mint then verify round-trips on both curves") {
  for (KeyType type : {KeyType::kSecp256k1, KeyType::kP256}) {
    CAPTURE(jwt_alg(type));
    Fixture f;
    PrivateKey key = PrivateKey::generate(type);
    f.resolver.set(kAlice, key.public_key());
    std::string token = mint_service_auth(
        {kAlice, kHold + "#atcr_hold", "io.atcr.hold.getQuota", std::chrono::seconds(120), kNow},
        key);

    // The header is exactly what the spec shows.
    auto parts = split(token);
    REQUIRE(parts.size() == 3);
    Value header = json::parse(to_string(base64::decode_url(parts[0])));
    CHECK(header.at("alg").as_string() == jwt_alg(type));
    CHECK(header.at("typ").as_string() == "JWT");
    CHECK(base64::decode_url(parts[2]).size() == 64);

    ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
    ServiceAuthClaims claims = verifier.verify(token, "io.atcr.hold.getQuota");
    CHECK(claims.iss == kAlice);
    CHECK(claims.aud == kHold + "#atcr_hold");
    CHECK(claims.lxm == "io.atcr.hold.getQuota");
    CHECK(claims.exp == kNow + 120);
    CHECK(claims.iat == kNow);
    CHECK(claims.jti.size() == 32);
    CHECK(claims.alg == type);
    CHECK(f.resolver.cached_calls == 1);
    CHECK(f.resolver.fresh_calls == 0);
  }
}

TEST_CASE("minted tokens are low-S, unique, and check their inputs") {
  Fixture f;
  std::string a = f.mint(), b = f.mint();
  CHECK(split(a)[1] != split(b)[1]);  // distinct jti
  ServiceAuthOptions strict = f.options();
  strict.lenient_signatures = false;
  ServiceAuthVerifier verifier(f.resolver, kHold, strict);
  CHECK_NOTHROW(verifier.verify(a, "io.atcr.hold.initiateUpload"));

  CHECK_THROWS_AS(mint_service_auth({"alice", kHold, "", std::chrono::seconds(60), {}}, f.k256),
                  ParseError);
  CHECK_THROWS_AS(mint_service_auth({kAlice, "hold", "", std::chrono::seconds(60), {}}, f.k256),
                  ParseError);
  CHECK_THROWS_AS(mint_service_auth({kAlice, kHold + "#", "", std::chrono::seconds(60), {}}, f.k256),
                  ParseError);
  CHECK_THROWS_AS(
      mint_service_auth({kAlice, kHold, "not an nsid", std::chrono::seconds(60), {}}, f.k256),
      ParseError);
  CHECK_THROWS_AS(mint_service_auth({kAlice, kHold, "", std::chrono::seconds(0), {}}, f.k256),
                  ParseError);
  // Without lxm the claim is absent, and the default clock is the real one.
  std::string no_lxm = mint_service_auth({kAlice, kHold, "", std::chrono::seconds(60), {}}, f.k256);
  Value payload = json::parse(to_string(base64::decode_url(split(no_lxm)[1])));
  CHECK(payload.find("lxm") == nullptr);
  CHECK(std::abs(payload.at("iat").as_integer() - unix_now()) < 5);
}

TEST_CASE("time checks: expiry, future iat, nbf, lifetime, skew") {
  Fixture f;
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
  std::string token = f.mint();

  f.now = kNow + 60 + 30;  // at exp + skew: still accepted
  CHECK_NOTHROW(verifier.verify(token, "io.atcr.hold.initiateUpload"));
  f.now = kNow + 60 + 31;
  CHECK(reason_of(verifier, token) == Failure::kExpired);

  f.now = kNow - 30;  // iat at the edge of the skew
  CHECK_NOTHROW(verifier.verify(token, "io.atcr.hold.initiateUpload"));
  f.now = kNow - 31;
  CHECK(reason_of(verifier, token) == Failure::kNotYetValid);

  f.now = kNow;
  Value::Map p = std_payload();
  p["nbf"] = kNow + 300;
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kNotYetValid);

  CHECK(reason_of(verifier, f.mint("io.atcr.hold.initiateUpload", std::chrono::hours(2))) ==
        Failure::kLifetimeTooLong);
  // Without iat the lifetime counts from now.
  p = std_payload();
  p.erase("iat");
  p["exp"] = kNow + 7200;
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kLifetimeTooLong);
  p["exp"] = kNow + 60;
  CHECK(!verifier.verify(craft(std_header(f.k256), p, f.k256), "io.atcr.hold.initiateUpload")
             .iat.has_value());
  // exp before iat.
  p = std_payload();
  p["exp"] = kNow - 1;
  p["iat"] = kNow;
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kLifetimeTooLong);
  // Out-of-range times are malformed rather than overflowing.
  p = std_payload();
  p["exp"] = std::int64_t{9'000'000'000'000'000'000};
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kMalformed);
  p["exp"] = -5;
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kMalformed);

  ServiceAuthOptions longer = f.options();
  longer.max_lifetime = std::chrono::hours(3);
  ServiceAuthVerifier lenient(f.resolver, kHold, longer);
  CHECK_NOTHROW(lenient.verify(f.mint("io.atcr.hold.initiateUpload", std::chrono::hours(2)),
                               "io.atcr.hold.initiateUpload"));
}

TEST_CASE("audience: our DID, bare or with an accepted service id") {
  Fixture f;
  ServiceAuthVerifier any_fragment(f.resolver, kHold, f.options());
  const std::string lxm = "io.atcr.hold.initiateUpload";
  CHECK_NOTHROW(any_fragment.verify(f.mint(lxm, std::chrono::seconds(60), kHold), lxm));
  CHECK_NOTHROW(any_fragment.verify(f.mint(lxm, std::chrono::seconds(60), kHold + "#atcr_hold"), lxm));
  CHECK(reason_of(any_fragment, f.mint(lxm, std::chrono::seconds(60), "did:web:other.example.com")) ==
        Failure::kBadAudience);
  CHECK(reason_of(any_fragment,
                  f.mint(lxm, std::chrono::seconds(60), "did:web:hold.example.com.evil.com")) ==
        Failure::kBadAudience);

  // The service DID given with a fragment restricts fragments to it.
  ServiceAuthVerifier hold_only(f.resolver, kHold + "#atcr_hold", f.options());
  CHECK(hold_only.service_did() == kHold);
  CHECK_NOTHROW(hold_only.verify(f.mint(lxm, std::chrono::seconds(60), kHold + "#atcr_hold"), lxm));
  CHECK_NOTHROW(hold_only.verify(f.mint(lxm, std::chrono::seconds(60), kHold), lxm));
  CHECK(reason_of(hold_only, f.mint(lxm, std::chrono::seconds(60), kHold + "#atproto_pds")) ==
        Failure::kBadAudience);

  ServiceAuthOptions no_bare = f.options();
  no_bare.allow_bare_audience = false;
  no_bare.service_ids = {"atcr_hold"};
  ServiceAuthVerifier strict(f.resolver, kHold, no_bare);
  CHECK(reason_of(strict, f.mint(lxm, std::chrono::seconds(60), kHold)) == Failure::kBadAudience);
  CHECK_NOTHROW(strict.verify(f.mint(lxm, std::chrono::seconds(60), kHold + "#atcr_hold"), lxm));

  Value::Map p = std_payload();
  p["aud"] = kHold + "#";
  CHECK(reason_of(any_fragment, craft(std_header(f.k256), p, f.k256)) == Failure::kBadAudience);

  CHECK_THROWS_AS(ServiceAuthVerifier(f.resolver, "hold.example.com", f.options()), ParseError);
}

TEST_CASE("lexicon method") {
  Fixture f;
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
  std::string token = f.mint("io.atcr.hold.initiateUpload");
  CHECK(reason_of(verifier, token, "io.atcr.hold.completeUpload") == Failure::kBadLexiconMethod);
  CHECK_NOTHROW(verifier.verify(token, ""));  // the caller does not check lxm

  std::string no_lxm = f.mint("");
  CHECK(reason_of(verifier, no_lxm, "io.atcr.hold.initiateUpload") == Failure::kBadLexiconMethod);
  ServiceAuthOptions optional_lxm = f.options();
  optional_lxm.require_lxm = false;
  ServiceAuthVerifier lenient(f.resolver, kHold, optional_lxm);
  CHECK(lenient.verify(no_lxm, "io.atcr.hold.initiateUpload").lxm.empty());
  CHECK(reason_of(lenient, token, "io.atcr.hold.completeUpload") == Failure::kBadLexiconMethod);

  try {
    verifier.verify(token, "io.atcr.hold.completeUpload");
  } catch (const XrpcError& e) {
    CHECK(e.status() == 401);
    CHECK(e.error() == "BadJwtLexiconMethod");
  }
}

TEST_CASE("algorithms other than ES256/ES256K are refused") {
  Fixture f;
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
  for (const char* alg : {"none", "HS256", "RS256", "ES384", "EdDSA", "es256k", ""}) {
    CAPTURE(alg);
    CHECK(reason_of(verifier, craft({{"alg", alg}, {"typ", "JWT"}}, std_payload(), f.k256)) ==
          Failure::kUnsupportedAlgorithm);
  }
  CHECK(reason_of(verifier, craft({{"typ", "JWT"}}, std_payload(), f.k256)) ==
        Failure::kUnsupportedAlgorithm);
  CHECK(reason_of(verifier, craft({{"alg", 7}, {"typ", "JWT"}}, std_payload(), f.k256)) ==
        Failure::kUnsupportedAlgorithm);
  // An unsigned "none" token with an empty signature part.
  std::string none = segment({{"alg", "none"}, {"typ", "JWT"}}) + "." + segment(std_payload()) + ".";
  CHECK(reason_of(verifier, none) == Failure::kUnsupportedAlgorithm);
}

TEST_CASE("typ, kid and crit headers") {
  Fixture f;
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
  for (const char* typ : {"at+jwt", "refresh+jwt", "dpop+jwt", "JOSE"}) {
    CAPTURE(typ);
    try {
      verifier.verify(craft({{"alg", "ES256K"}, {"typ", typ}}, std_payload(), f.k256),
                      "io.atcr.hold.initiateUpload");
      FAIL("accepted");
    } catch (const ServiceAuthError& e) {
      CHECK(e.reason() == Failure::kBadType);
      CHECK(e.error() == "BadJwtType");
    }
  }
  CHECK_NOTHROW(verifier.verify(craft({{"alg", "ES256K"}}, std_payload(), f.k256), ""));
  CHECK_NOTHROW(verifier.verify(craft({{"alg", "ES256K"}, {"typ", "jwt"}}, std_payload(), f.k256), ""));

  CHECK_NOTHROW(verifier.verify(
      craft({{"alg", "ES256K"}, {"typ", "JWT"}, {"kid", "#atproto"}}, std_payload(), f.k256), ""));
  CHECK_NOTHROW(verifier.verify(
      craft({{"alg", "ES256K"}, {"typ", "JWT"}, {"kid", kAlice + "#atproto"}}, std_payload(), f.k256),
      ""));
  for (std::string kid : {"#atproto_label", "atproto", "#", "did:plc:mallory#atproto"}) {
    CAPTURE(kid);
    CHECK(reason_of(verifier,
                    craft({{"alg", "ES256K"}, {"typ", "JWT"}, {"kid", kid}}, std_payload(), f.k256)) ==
          Failure::kBadKeyId);
  }
  CHECK(reason_of(verifier, craft({{"alg", "ES256K"}, {"crit", Value::Array{"exp"}}}, std_payload(),
                                  f.k256)) == Failure::kMalformed);
}

TEST_CASE("the key's curve must match alg") {
  Fixture f;
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
  // Signed by a P-256 key while the document holds a k256 key.
  std::string p256_token = mint_service_auth(
      {kAlice, kHold, "io.atcr.hold.initiateUpload", std::chrono::seconds(60), kNow}, f.p256);
  CHECK(reason_of(verifier, p256_token) == Failure::kKeyTypeMismatch);
  // The right signer, but alg claims the other curve.
  CHECK(reason_of(verifier, craft({{"alg", "ES256"}, {"typ", "JWT"}}, std_payload(), f.k256)) ==
        Failure::kKeyTypeMismatch);
  // A mismatch is retried with a fresh resolve, which may know a new key.
  CHECK(f.resolver.fresh_calls == 2);
}

TEST_CASE("tampering is detected") {
  Fixture f;
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
  std::string token = f.mint();
  auto parts = split(token);

  // Payload swapped for another (valid-looking) one.
  Value::Map p = std_payload();
  p["lxm"] = "io.atcr.hold.initiateUpload";
  p["jti"] = "ffffffffffffffff";
  CHECK(reason_of(verifier, parts[0] + "." + segment(p) + "." + parts[2]) == Failure::kBadSignature);

  // One bit of the signature flipped.
  Bytes sig = base64::decode_url(parts[2]);
  sig[10] ^= 0x01;
  CHECK(reason_of(verifier, parts[0] + "." + parts[1] + "." + base64::encode_url(sig)) ==
        Failure::kBadSignature);
  // The header re-encoded with another key order: the signature covers bytes.
  std::string reordered = base64::encode_url(as_bytes(R"({"typ":"JWT","alg":"ES256K"})"));
  CHECK(reason_of(verifier, reordered + "." + parts[1] + "." + parts[2]) == Failure::kBadSignature);
  // A signature by someone else's key.
  PrivateKey mallory = PrivateKey::generate(KeyType::kSecp256k1);
  CHECK(reason_of(verifier, craft(std_header(mallory), std_payload(), mallory)) ==
        Failure::kBadSignature);
  try {
    verifier.verify(craft(std_header(mallory), std_payload(), mallory), "");
  } catch (const ServiceAuthError& e) {
    CHECK(e.error() == "BadJwtSignature");
  }
}

TEST_CASE("high-S signatures: lenient by default, refused when strict") {
  for (KeyType type : {KeyType::kSecp256k1, KeyType::kP256}) {
    CAPTURE(jwt_alg(type));
    Fixture f;
    PrivateKey key = PrivateKey::generate(type);
    f.resolver.set(kAlice, key.public_key());
    auto parts = split(craft(std_header(key), std_payload(), key));
    Bytes high = high_s(type, base64::decode_url(parts[2]));
    std::string token = parts[0] + "." + parts[1] + "." + base64::encode_url(high);

    ServiceAuthVerifier lenient(f.resolver, kHold, f.options());
    CHECK_NOTHROW(lenient.verify(token, "io.atcr.hold.initiateUpload"));
    ServiceAuthOptions strict_options = f.options();
    strict_options.lenient_signatures = false;
    ServiceAuthVerifier strict(f.resolver, kHold, strict_options);
    CHECK(reason_of(strict, token) == Failure::kBadSignature);
  }
}

TEST_CASE("malformed tokens") {
  Fixture f;
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
  std::string token = f.mint();
  auto parts = split(token);
  const std::vector<std::string> bad = {
      "",
      "abc",
      parts[0] + "." + parts[1],
      token + ".",
      token + "." + parts[2],
      parts[0] + "=." + parts[1] + "." + parts[2],        // padding
      parts[0] + "." + parts[1] + "+." + parts[2],        // standard alphabet
      parts[0] + "." + parts[1] + "." + parts[2] + "==",  // padding on the signature
      parts[0] + "." + parts[1] + ".!!!!",
      parts[0] + "." + parts[1] + "." + parts[2].substr(0, 40),            // short signature
      parts[0] + "." + base64::encode_url(as_bytes("not json")) + "." + parts[2],
      parts[0] + "." + base64::encode_url(as_bytes("[1,2]")) + "." + parts[2],
      base64::encode_url(as_bytes("\"ES256K\"")) + "." + parts[1] + "." + parts[2],
      std::string(9000, 'a') + "." + parts[1] + "." + parts[2],
  };
  for (const auto& t : bad) {
    CAPTURE(t.substr(0, 120));
    CHECK(reason_of(verifier, t) == Failure::kMalformed);
  }
  // Claims of the wrong type.
  for (const char* claim : {"iss", "aud", "lxm", "jti"}) {
    Value::Map p = std_payload();
    p[claim] = 42;
    CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kMalformed);
  }
  for (const char* claim : {"exp", "iat"}) {
    Value::Map p = std_payload();
    p[claim] = std::to_string(kNow + 10);
    CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kMalformed);
  }
  Value::Map p = std_payload();
  p["jti"] = std::string(300, 'j');
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kMalformed);
  // Nothing malformed reached the resolver.
  CHECK(f.resolver.cached_calls == 0);
}

TEST_CASE("missing claims and bad issuers") {
  Fixture f;
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());
  for (const char* claim : {"iss", "aud", "exp"}) {
    CAPTURE(claim);
    Value::Map p = std_payload();
    p.erase(claim);
    CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kMissingClaim);
  }
  Value::Map p = std_payload();
  p["iss"] = "alice.example.com";
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kBadIssuer);
  // A service fragment on iss is dropped: the account DID signs.
  p["iss"] = kAlice + "#atproto_labeler";
  CHECK(verifier.verify(craft(std_header(f.k256), p, f.k256), "").iss == kAlice);

  p["iss"] = "did:plc:unknownunknownunknown";
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kUnknownIssuer);

  // A document without an #atproto key, before and after a fresh resolve.
  f.resolver.set("did:plc:keyless", std::nullopt, std::nullopt);
  p["iss"] = "did:plc:keyless";
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kNoSigningKey);
}

TEST_CASE("key rotation is picked up by a fresh resolve") {
  Fixture f;
  PrivateKey old_key = PrivateKey::generate(KeyType::kSecp256k1);
  PrivateKey new_key = PrivateKey::generate(KeyType::kP256);  // rotated to another curve
  f.resolver.set(kAlice, old_key.public_key(), new_key.public_key());
  ServiceAuthVerifier verifier(f.resolver, kHold, f.options());

  std::string token = mint_service_auth(
      {kAlice, kHold, "io.atcr.hold.initiateUpload", std::chrono::seconds(60), kNow}, new_key);
  CHECK(verifier.verify(token, "io.atcr.hold.initiateUpload").alg == KeyType::kP256);
  CHECK(f.resolver.cached_calls == 1);
  CHECK(f.resolver.fresh_calls == 1);

  // A token by the old key now fails: the fresh document no longer has it.
  std::string old_token = mint_service_auth(
      {kAlice, kHold, "io.atcr.hold.initiateUpload", std::chrono::seconds(60), kNow}, old_key);
  CHECK_NOTHROW(verifier.verify(old_token, ""));  // the cached document still does
  f.resolver.set(kAlice, new_key.public_key());
  CHECK(reason_of(verifier, old_token) == Failure::kKeyTypeMismatch);

  // The same key before and after: no second verification is attempted.
  f.resolver.set(kAlice, f.k256.public_key());
  PrivateKey mallory = PrivateKey::generate(KeyType::kSecp256k1);
  int fresh_before = f.resolver.fresh_calls;
  CHECK(reason_of(verifier, craft(std_header(mallory), std_payload(), mallory)) ==
        Failure::kBadSignature);
  CHECK(f.resolver.fresh_calls == fresh_before + 1);

  // A valid token needs no fresh resolve.
  fresh_before = f.resolver.fresh_calls;
  CHECK_NOTHROW(verifier.verify(f.mint(), "io.atcr.hold.initiateUpload"));
  CHECK(f.resolver.fresh_calls == fresh_before);
}

TEST_CASE("replay protection") {
  Fixture f;
  // Off by default: the AppView reuses a service token until it expires.
  ServiceAuthVerifier reusable(f.resolver, kHold, f.options());
  std::string token = f.mint();
  CHECK_NOTHROW(reusable.verify(token, "io.atcr.hold.initiateUpload"));
  CHECK_NOTHROW(reusable.verify(token, "io.atcr.hold.initiateUpload"));

  ServiceAuthOptions once = f.options();
  once.replay_protection = true;
  ServiceAuthVerifier verifier(f.resolver, kHold, once);
  CHECK_NOTHROW(verifier.verify(token, "io.atcr.hold.initiateUpload"));
  CHECK(reason_of(verifier, token) == Failure::kReplayed);
  CHECK_NOTHROW(verifier.verify(f.mint(), "io.atcr.hold.initiateUpload"));  // new jti

  Value::Map p = std_payload();
  p.erase("jti");
  CHECK(reason_of(verifier, craft(std_header(f.k256), p, f.k256)) == Failure::kMissingClaim);

  // A forged token with a fresh jti does not take a place in the cache.
  PrivateKey mallory = PrivateKey::generate(KeyType::kSecp256k1);
  p = std_payload();
  p["jti"] = "forged";
  CHECK(reason_of(verifier, craft(std_header(mallory), p, mallory)) == Failure::kBadSignature);
  CHECK_NOTHROW(verifier.verify(craft(std_header(f.k256), p, f.k256), ""));

  // Same jti from another issuer is another token.
  PrivateKey bob = PrivateKey::generate(KeyType::kP256);
  f.resolver.set("did:plc:bob", bob.public_key());
  p["iss"] = "did:plc:bob";
  CHECK_NOTHROW(verifier.verify(craft(std_header(bob), p, bob), ""));
}

TEST_CASE("the replay cache is bounded and forgets the soonest-expiring first") {
  Fixture f;
  ServiceAuthOptions o = f.options();
  o.replay_protection = true;
  o.replay_cache_size = 2;
  ServiceAuthVerifier verifier(f.resolver, kHold, o);
  std::string soon = f.mint("", std::chrono::seconds(10));
  std::string later = f.mint("", std::chrono::seconds(100));
  std::string latest = f.mint("", std::chrono::seconds(200));
  CHECK_NOTHROW(verifier.verify(soon, ""));
  CHECK_NOTHROW(verifier.verify(later, ""));
  CHECK_NOTHROW(verifier.verify(latest, ""));  // evicts `soon`
  CHECK_NOTHROW(verifier.verify(soon, ""));    // forgotten, so accepted (and evicts `later`)
  CHECK(reason_of(verifier, latest, "") == Failure::kReplayed);

  // Expired entries are forgotten as time passes; the token is then refused
  // as expired rather than as replayed.
  f.now = kNow + 500;
  CHECK(reason_of(verifier, latest, "") == Failure::kExpired);
}

TEST_CASE("verify is safe to call from many threads") {
  Fixture f;
  ServiceAuthOptions o = f.options();
  o.replay_protection = true;
  ServiceAuthVerifier verifier(f.resolver, kHold, o);
  std::vector<std::string> tokens;
  for (int i = 0; i < 64; ++i) tokens.push_back(f.mint());
  std::atomic<int> accepted{0}, replayed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (const auto& token : tokens) {
        try {
          verifier.verify(token, "io.atcr.hold.initiateUpload");
          ++accepted;
        } catch (const ServiceAuthError& e) {
          if (e.reason() == Failure::kReplayed) ++replayed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(accepted == 64);  // each token exactly once
  CHECK(replayed == 3 * 64);
}

TEST_CASE("failure names") {
  CHECK(to_string(Failure::kExpired) == "expired");
  CHECK(to_string(Failure::kReplayed) == "replayed");
  ServiceAuthError e(Failure::kExpired, "expired at 5");
  CHECK(e.error() == "JwtExpired");
  CHECK(e.status() == 401);
  CHECK(std::string(e.what()).find("expired at 5") != std::string::npos);
}

// JWKs, PKCE, DPoP proofs and client assertions (see atcr/oauth/jose.h).
#include "atcr/oauth/jose.h"

#include <fmt/core.h>

#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/base64.h"
#include "atcr/xrpc/jwt.h"
#include "atcr/xrpc/service_auth.h"

namespace atcr::oauth {

namespace {

std::string b64_sha256(std::string_view text) { return base64::encode_url(sha256(as_bytes(text))); }

const std::string& string_field(const Value& map, std::string_view name, std::string_view what) {
  const Value* v = map.find(name);
  if (v == nullptr || !v->is_string())
    throw VerifyError(fmt::format("{}: \"{}\" is missing or not a string", what, name));
  return v->as_string();
}

}  // namespace

Value public_jwk(const PublicKey& key, std::string_view kid) {
  if (key.type() != KeyType::kP256) throw ParseError("jwk: only P-256 keys are used for OAuth");
  Bytes point = key.uncompressed();  // 04 || X || Y
  Value::Map jwk{
      {"kty", Value("EC")},
      {"crv", Value("P-256")},
      {"x", Value(base64::encode_url(BytesView(point).subspan(1, 32)))},
      {"y", Value(base64::encode_url(BytesView(point).subspan(33, 32)))},
  };
  if (!kid.empty()) {
    jwk.emplace("kid", Value(kid));
    jwk.emplace("alg", Value("ES256"));
    jwk.emplace("use", Value("sig"));
  }
  return Value(std::move(jwk));
}

PublicKey public_key_from_jwk(const Value& jwk) {
  if (!jwk.is_map()) throw ParseError("jwk: not a JSON object");
  if (jwk.find("d") != nullptr) throw ParseError("jwk: holds a private key");
  auto field = [&](std::string_view name) -> const std::string& {
    const Value* v = jwk.find(name);
    if (v == nullptr || !v->is_string()) throw ParseError(fmt::format("jwk: no \"{}\" string", name));
    return v->as_string();
  };
  if (field("kty") != "EC" || field("crv") != "P-256") throw ParseError("jwk: not an EC P-256 key");
  Bytes x = base64::decode_url(field("x"));
  Bytes y = base64::decode_url(field("y"));
  if (x.size() != 32 || y.size() != 32) throw ParseError("jwk: coordinates are not 32 bytes");
  Bytes point{0x04};
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  return PublicKey::from_sec1(KeyType::kP256, point);
}

std::string random_token(std::size_t bytes) { return base64::encode_url(random_bytes(bytes)); }

Pkce make_pkce() {
  Pkce p;
  p.verifier = random_token(32);
  p.challenge = pkce_challenge(p.verifier);
  return p;
}

std::string pkce_challenge(std::string_view verifier) { return b64_sha256(verifier); }

std::string dpop_htu(std::string_view url) { return std::string(url.substr(0, url.find_first_of("?#"))); }

std::string dpop_ath(std::string_view access_token) { return b64_sha256(access_token); }

std::string make_dpop_proof(const PrivateKey& key, const DpopProofParams& params) {
  Value::Map header{{"typ", Value("dpop+jwt")}, {"jwk", public_jwk(key.public_key())}};
  Value::Map claims{
      {"jti", Value(random_token(16))},
      {"htm", Value(params.htm)},
      {"htu", Value(dpop_htu(params.url))},
      {"iat", Value(params.iat.value_or(xrpc::unix_now()))},
  };
  if (!params.nonce.empty()) claims.emplace("nonce", Value(params.nonce));
  if (!params.access_token.empty()) claims.emplace("ath", Value(dpop_ath(params.access_token)));
  return xrpc::jwt::sign(std::move(header), claims, key);
}

DpopProof verify_dpop_proof(std::string_view proof, const DpopCheck& check) {
  xrpc::jwt::Decoded d;
  try {
    d = xrpc::jwt::decode(proof);
  } catch (const ParseError& e) {
    throw VerifyError(fmt::format("dpop: {}", e.what()));
  }
  if (string_field(d.header, "typ", "dpop header") != "dpop+jwt")
    throw VerifyError("dpop: typ is not dpop+jwt");
  if (string_field(d.header, "alg", "dpop header") != "ES256") throw VerifyError("dpop: alg is not ES256");
  const Value* jwk = d.header.find("jwk");
  if (jwk == nullptr) throw VerifyError("dpop: header has no jwk");
  std::optional<PublicKey> key;
  try {
    key = public_key_from_jwk(*jwk);
  } catch (const ParseError& e) {
    throw VerifyError(fmt::format("dpop: {}", e.what()));
  }
  xrpc::jwt::verify(proof, *key);

  const Value& c = d.payload;
  std::string jti = string_field(c, "jti", "dpop claims");
  if (jti.empty()) throw VerifyError("dpop: empty jti");
  if (string_field(c, "htm", "dpop claims") != check.htm)
    throw VerifyError(fmt::format("dpop: htm is not {}", check.htm));
  if (string_field(c, "htu", "dpop claims") != dpop_htu(check.url))
    throw VerifyError(fmt::format("dpop: htu is not {}", dpop_htu(check.url)));
  const Value* iat = c.find("iat");
  if (iat == nullptr || !iat->is_integer()) throw VerifyError("dpop: iat is missing or not an integer");
  std::int64_t now = check.now.value_or(xrpc::unix_now());
  if (iat->as_integer() < now - check.max_age || iat->as_integer() > now + check.max_age)
    throw VerifyError("dpop: iat is too old or in the future");
  if (!check.nonce.empty() && (c.find("nonce") == nullptr || string_field(c, "nonce", "dpop claims") != check.nonce))
    throw VerifyError("dpop: nonce is missing or stale");
  if (!check.access_token.empty() &&
      (c.find("ath") == nullptr || string_field(c, "ath", "dpop claims") != dpop_ath(check.access_token)))
    throw VerifyError("dpop: ath does not match the access token");
  return DpopProof{*key, jti, iat->as_integer()};
}

std::string make_client_assertion(const PrivateKey& client_key, std::string_view kid,
                                  std::string_view client_id, std::string_view audience,
                                  std::optional<std::int64_t> iat) {
  std::int64_t t = iat.value_or(xrpc::unix_now());
  Value::Map header{{"typ", Value("JWT")}, {"kid", Value(kid)}};
  Value::Map claims{
      {"iss", Value(client_id)}, {"sub", Value(client_id)}, {"aud", Value(audience)},
      {"jti", Value(random_token(16))}, {"iat", Value(t)}, {"exp", Value(t + 60)},
  };
  return xrpc::jwt::sign(std::move(header), claims, client_key);
}

}  // namespace atcr::oauth

// Compact JWS signing and decoding (see atcr/xrpc/jwt.h).
#include "atcr/xrpc/jwt.h"

#include <fmt/core.h>

#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"

namespace atcr::xrpc::jwt {

namespace {

constexpr std::size_t kMaxToken = 16 * 1024;

std::string encode_segment(const Value& value) {
  return base64::encode_url(as_bytes(json::serialize(value)));
}

Value decode_segment(std::string_view segment, std::string_view what) {
  Value value;
  try {
    value = json::parse(atcr::to_string(base64::decode_url(segment)));
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("jwt: {}: {}", what, e.what()));
  }
  if (!value.is_map()) throw ParseError(fmt::format("jwt: {} is not a JSON object", what));
  return value;
}

}  // namespace

std::string sign(Value::Map header, const Value::Map& payload, const PrivateKey& key) {
  header["alg"] = Value(jwt_alg(key.type()));
  std::string signing_input = encode_segment(Value(std::move(header))) + "." + encode_segment(Value(payload));
  Bytes signature = key.sign(as_bytes(signing_input));
  return signing_input + "." + base64::encode_url(signature);
}

Decoded decode(std::string_view token) {
  if (token.size() > kMaxToken)
    throw ParseError(fmt::format("jwt: {} bytes is over the {}-byte limit", token.size(), kMaxToken));
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    throw ParseError("jwt: a compact JWS has exactly three dot-separated parts");
  Decoded d;
  d.header = decode_segment(token.substr(0, dot1), "header");
  d.payload = decode_segment(token.substr(dot1 + 1, dot2 - dot1 - 1), "payload");
  d.signing_input = std::string(token.substr(0, dot2));
  try {
    d.signature = base64::decode_url(token.substr(dot2 + 1));
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("jwt: signature: {}", e.what()));
  }
  if (d.signature.size() != 64)
    throw ParseError(fmt::format("jwt: signature has {} bytes, not 64 (r||s)", d.signature.size()));
  return d;
}

Decoded verify(std::string_view token, const PublicKey& key) {
  Decoded d = decode(token);
  const Value* alg = d.header.find("alg");
  if (alg == nullptr || !alg->is_string() || key_type_from_jwt_alg(alg->as_string()) != key.type())
    throw VerifyError(fmt::format("jwt: alg is not {}", jwt_alg(key.type())));
  if (!key.verify_lenient(as_bytes(d.signing_input), d.signature))
    throw VerifyError("jwt: the signature does not verify");
  return d;
}

}  // namespace atcr::xrpc::jwt

// Compact JWS (RFC 7515) with atproto's two algorithms, ES256 (P-256) and
// ES256K (secp256k1): the signing and splitting shared by service-auth
// tokens, OAuth DPoP proofs and OAuth client assertions. Policy (which
// claims, which typ, lifetimes) belongs to the callers.
#pragma once

#include <string>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/error.h"
#include "atcr/crypto/keys.h"
#include "atcr/data/value.h"

namespace atcr::xrpc::jwt {

// base64url(JSON header) "." base64url(JSON payload) "." base64url(r||s).
// The header's "alg" is set from the key's curve (any given one is
// replaced), so a token can never claim another algorithm than it uses.
std::string sign(Value::Map header, const Value::Map& payload, const PrivateKey& key);

struct Decoded {
  Value header;               // a JSON object
  Value payload;              // a JSON object
  std::string signing_input;  // the first two parts, as signed
  Bytes signature;            // 64 bytes r||s
};

// Splits and decodes a compact JWS, verifying nothing. Throws ParseError
// unless it has three parts, both JSON objects, and a 64-byte signature,
// and is at most 16 KiB.
Decoded decode(std::string_view token);

// Decodes and verifies the signature with `key` (the header's alg must
// match the key's curve; low-S not required, as JOSE libraries emit
// either). Throws VerifyError for a bad signature, ParseError as decode().
Decoded verify(std::string_view token, const PublicKey& key);

}  // namespace atcr::xrpc::jwt

// Base58btc (the Bitcoin alphabet), multibase prefix 'z'. Used for did:key
// and Multikey public keys.
#pragma once

#include <string>
#include <string_view>

#include "atcr/bytes.h"

namespace atcr::base58 {

std::string encode(BytesView data);
// Throws ParseError on a character outside the alphabet or input longer
// than `max_len` characters (decoding is quadratic; keys are short).
Bytes decode(std::string_view text, std::size_t max_len = 256);

}  // namespace atcr::base58

// Base32 variants used by atproto:
//  - RFC 4648 lowercase without padding: CIDs (multibase 'b') and did:plc
//    identifiers;
//  - base32-sortable ("234567a-z"): TIDs, where the text sorts like the number.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "atcr/bytes.h"

namespace atcr::base32 {

std::string encode(BytesView data);     // RFC 4648 lowercase, no padding
Bytes decode(std::string_view text);    // lowercase only, no padding

// A 64-bit value as exactly 13 base32-sortable characters.
std::string encode_sortable(std::uint64_t value);
// Throws ParseError unless `text` is 13 characters of the sortable alphabet
// whose value fits in 64 bits.
std::uint64_t decode_sortable(std::string_view text);

}  // namespace atcr::base32

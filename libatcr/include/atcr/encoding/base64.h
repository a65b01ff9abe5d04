// Base64, RFC 4648: the standard alphabet (atproto JSON `$bytes`) and the
// URL-safe alphabet without padding (JWTs, PLC signatures).
#pragma once

#include <string>
#include <string_view>

#include "atcr/bytes.h"

namespace atcr::base64 {

// Standard alphabet with '=' padding.
std::string encode(BytesView data);
// Standard alphabet without padding (atproto JSON `$bytes`).
std::string encode_unpadded(BytesView data);
// Standard alphabet; padding optional. Rejects characters outside the
// alphabet, misplaced padding and non-zero trailing bits.
Bytes decode(std::string_view text);

// URL-safe alphabet, never padded.
std::string encode_url(BytesView data);
// URL-safe alphabet; rejects padding and non-zero trailing bits, so every
// value has exactly one accepted spelling (signatures must not be malleable).
Bytes decode_url(std::string_view text);

}  // namespace atcr::base64

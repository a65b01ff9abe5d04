// Unsigned LEB128 varints as used by multiformats (CIDs, multicodec
// prefixes, CAR framing).
#pragma once

#include <cstdint>

#include "atcr/bytes.h"

namespace atcr::varint {

constexpr std::size_t kMaxBytes = 9;  // multiformats caps varints at 63 bits

void append(Bytes& out, std::uint64_t value);
Bytes encode(std::uint64_t value);

struct Decoded {
  std::uint64_t value;
  std::size_t length;  // bytes consumed
};

// Decodes the varint at the start of `in`. Throws ParseError on truncation,
// a non-minimal encoding or more than kMaxBytes bytes.
Decoded decode(BytesView in);

}  // namespace atcr::varint

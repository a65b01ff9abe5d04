#include "atcr/encoding/varint.h"

#include "atcr/error.h"

namespace atcr::varint {

void append(Bytes& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

Bytes encode(std::uint64_t value) {
  Bytes out;
  append(out, value);
  return out;
}

Decoded decode(BytesView in) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < in.size() && i < kMaxBytes; ++i) {
    std::uint8_t b = in[i];
    value |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) throw ParseError("varint: non-minimal encoding");
      return {value, i + 1};
    }
  }
  if (in.size() >= kMaxBytes) throw ParseError("varint: longer than 9 bytes");
  throw ParseError("varint: truncated");
}

}  // namespace atcr::varint

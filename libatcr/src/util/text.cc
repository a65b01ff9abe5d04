// util/text.h's out-of-line helpers.
#include "util/text.h"

#include <cstdint>
#include <cstring>

namespace atcr::util {

// Length of the UTF-8 sequence starting at s[0], or 0 if it is not a
// well-formed, shortest-form, non-surrogate scalar value.
namespace {

std::size_t utf8_sequence_length(const std::uint8_t* s, std::size_t avail) {
  std::uint8_t c = s[0];
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (avail < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  const auto* b = reinterpret_cast<const std::uint8_t*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    // Keys, DIDs, digests and most text are ASCII: skip 8 bytes at a time
    // while no byte has its high bit set.
    while (i + 8 <= size) {
      std::uint64_t chunk;
      std::memcpy(&chunk, b + i, 8);
      if (chunk & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i == size) break;
    if (b[i] < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = utf8_sequence_length(b + i, size - i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace atcr::util

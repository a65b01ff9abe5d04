#include "atcr/encoding/base32.h"

#include "atcr/error.h"

namespace atcr::base32 {

namespace {
constexpr char kRfc4648Lower[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr char kSortable[] = "234567abcdefghijklmnopqrstuvwxyz";

int value_in(const char* alphabet, char c) {
  for (int i = 0; i < 32; ++i)
    if (alphabet[i] == c) return i;
  return -1;
}
}  // namespace

std::string encode(BytesView data) {
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : data) {
    acc = acc << 8 | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kRfc4648Lower[acc >> bits & 31];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0) out += kRfc4648Lower[acc << (5 - bits) & 31];
  return out;
}

Bytes decode(std::string_view text) {
  Bytes out;
  out.reserve(text.size() * 5 / 8);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    int v = value_in(kRfc4648Lower, text[i]);
    if (v < 0) throw ParseError("base32: invalid character at offset " + std::to_string(i));
    acc = acc << 5 | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  // Leftover bits are padding: there must be fewer than 5 and all zero.
  if (bits >= 5 || acc != 0) throw ParseError("base32: invalid trailing bits");
  return out;
}

std::string encode_sortable(std::uint64_t value) {
  std::string out(13, '2');
  for (int i = 12; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kSortable[value & 31];
    value >>= 5;
  }
  return out;
}

std::uint64_t decode_sortable(std::string_view text) {
  if (text.size() != 13) throw ParseError("base32-sortable: expected 13 characters");
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    int v = value_in(kSortable, text[i]);
    if (v < 0)
      throw ParseError("base32-sortable: invalid character at offset " + std::to_string(i));
    // 13 * 5 = 65 bits: the first character may carry only 4.
    if (i == 0 && v > 15) throw ParseError("base32-sortable: value exceeds 64 bits");
    value = value << 5 | static_cast<std::uint64_t>(v);
  }
  return value;
}

}  // namespace atcr::base32

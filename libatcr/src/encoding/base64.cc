#include "atcr/encoding/base64.h"

#include <array>

#include "atcr/error.h"

namespace atcr::base64 {

namespace {

constexpr char kStandard[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> reverse_table(const char* alphabet) {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kStandardRev = reverse_table(kStandard);
constexpr auto kUrlRev = reverse_table(kUrl);

std::string encode_with(BytesView data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t n = data[i] << 16 | data[i + 1] << 8 | data[i + 2];
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += alphabet[n & 63];
  }
  std::size_t rest = data.size() - i;
  if (rest == 1) {
    std::uint32_t n = data[i] << 16;
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    std::uint32_t n = data[i] << 16 | data[i + 1] << 8;
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    if (pad) out += '=';
  }
  return out;
}

Bytes decode_with(std::string_view text, const std::array<int8_t, 256>& rev,
                  bool allow_padding, const char* what) {
  if (allow_padding) {
    std::size_t pad = 0;
    while (pad < text.size() && pad < 2 && text[text.size() - 1 - pad] == '=') ++pad;
    if (pad > 0) {
      if (text.size() % 4 != 0)
        throw ParseError(std::string(what) + ": padding on input whose length is not a multiple of 4");
      text.remove_suffix(pad);
    }
  }
  if (text.size() % 4 == 1)
    throw ParseError(std::string(what) + ": invalid length " + std::to_string(text.size()));
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    int v = rev[static_cast<unsigned char>(text[i])];
    if (v < 0)
      throw ParseError(std::string(what) + ": invalid character at offset " + std::to_string(i));
    acc = acc << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) throw ParseError(std::string(what) + ": non-zero trailing bits");
  return out;
}

}  // namespace

std::string encode(BytesView data) { return encode_with(data, kStandard, true); }
std::string encode_unpadded(BytesView data) { return encode_with(data, kStandard, false); }
Bytes decode(std::string_view text) { return decode_with(text, kStandardRev, true, "base64"); }
std::string encode_url(BytesView data) { return encode_with(data, kUrl, false); }
Bytes decode_url(std::string_view text) { return decode_with(text, kUrlRev, false, "base64url"); }

}  // namespace atcr::base64

#include "atcr/oci/digest.h"

#include <fmt/core.h>

#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"
#include "atcr/error.h"

namespace atcr::oci {

namespace {

// The encoded length of each registered algorithm, or 0.
std::size_t hex_length(std::string_view algorithm) {
  if (algorithm == "sha256") return 64;
  if (algorithm == "sha512") return 128;
  return 0;
}

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// "" when valid, otherwise why not.
std::string problem(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return "no ':' between algorithm and hex";
  std::string_view algorithm = text.substr(0, colon);
  std::string_view encoded = text.substr(colon + 1);
  std::size_t want = hex_length(algorithm);
  if (want == 0) return fmt::format("unsupported algorithm '{}'", algorithm.substr(0, 32));
  if (encoded.size() != want)
    return fmt::format("{} needs {} hex characters, got {}", algorithm, want, encoded.size());
  if (!lower_hex(encoded)) return "the encoded part must be lowercase hex";
  return {};
}

}  // namespace

Digest Digest::parse(std::string_view text) {
  std::string why = problem(text);
  if (!why.empty())
    throw ParseError(fmt::format("invalid digest '{}': {}", text.substr(0, 140), why));
  return Digest(std::string(text));
}

bool Digest::valid(std::string_view text) noexcept { return problem(text).empty(); }

Digest Digest::of(BytesView content) { return from_sha256(sha256(content)); }

Digest Digest::from_sha256(BytesView hash32) {
  if (hash32.size() != 32) throw ParseError("a sha256 hash is 32 bytes");
  return Digest("sha256:" + hex::encode(hash32));
}

std::string_view Digest::algorithm() const noexcept {
  return std::string_view(text_).substr(0, text_.find(':'));
}

std::string_view Digest::hex() const noexcept {
  return std::string_view(text_).substr(text_.find(':') + 1);
}

}  // namespace atcr::oci

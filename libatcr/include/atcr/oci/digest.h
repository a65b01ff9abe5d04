// OCI content digests: "<algorithm>:<encoded>" (OCI image-spec,
// descriptor.md#digests).
//
//   auto d = Digest::parse("sha256:6c3c62...");   // throws ParseError if bad
//   d.hex();                                      // "6c3c62..."
//   Digest::of(bytes) == d;                       // sha256 of the content
//
// Only sha256 and sha512 are registered algorithms; their encoded part must
// be lowercase hex of the exact length. Anything else (uppercase hex, other
// algorithms, path characters) is refused, so a Digest is always safe to
// use in a storage path or URL.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "atcr/bytes.h"

namespace atcr::oci {

class Digest {
 public:
  // Throws ParseError naming what is wrong.
  static Digest parse(std::string_view text);
  // nullopt-free check for validation paths.
  static bool valid(std::string_view text) noexcept;
  // The sha256 digest of `content`.
  static Digest of(BytesView content);
  static Digest of(std::string_view content) { return of(as_bytes(content)); }
  // From a raw 32-byte sha256 hash.
  static Digest from_sha256(BytesView hash32);

  const std::string& str() const noexcept { return text_; }           // "sha256:abc..."
  std::string_view algorithm() const noexcept;                        // "sha256"
  std::string_view hex() const noexcept;                              // "abc..."

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

 private:
  explicit Digest(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

}  // namespace atcr::oci

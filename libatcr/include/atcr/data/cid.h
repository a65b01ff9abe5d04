// Content identifiers (CIDv1).
//
// atproto "blesses" one shape: CIDv1, codec dag-cbor (0x71) or raw (0x55),
// sha2-256 multihash. Those are the CIDs we create. Records referenced from
// a repo may carry other valid CIDv1s, which must be kept byte-for-byte, so
// parsing accepts any CIDv1 with a digest of at most 64 bytes and
// is_blessed() tells the two apart.
//
// A Cid is a small value type (no heap allocation) that compares and hashes
// by its binary form.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/crypto/sha256.h"

namespace atcr {

enum class Codec : std::uint64_t {
  kRaw = 0x55,      // blobs
  kDagCbor = 0x71,  // records, MST nodes, commits
};

class Cid {
 public:
  static constexpr std::uint64_t kSha256 = 0x12;
  static constexpr std::size_t kMaxDigest = 64;
  static constexpr std::size_t kMaxBytes = 84;  // 1 + 9 + 9 + 1 + 64

  // SHA-256 of `data`, as a blessed CID with the given codec.
  static Cid compute(Codec codec, BytesView data);
  static Cid from_sha256(Codec codec, const Sha256Digest& digest);

  // The binary form, which must be the whole of `binary`.
  static Cid from_bytes(BytesView binary);
  struct Prefix;
  // Reads a binary CID from the start of `in` (CAR blocks); returns it and
  // how many bytes it took.
  static Prefix read_prefix(BytesView in);

  // The string form: multibase 'b' (base32 lower). Throws ParseError.
  static Cid parse(std::string_view text);
  std::string to_string() const;

  BytesView bytes() const { return {data_.data(), size_}; }
  std::uint64_t codec() const;
  std::uint64_t hash_code() const;
  BytesView digest() const;
  bool is_blessed() const;

  friend bool operator==(const Cid& a, const Cid& b) {
    return a.size_ == b.size_ && std::equal(a.data_.begin(), a.data_.begin() + a.size_, b.data_.begin());
  }
  friend std::strong_ordering operator<=>(const Cid& a, const Cid& b);

 private:
  Cid() = default;
  std::array<std::uint8_t, kMaxBytes> data_{};
  std::uint8_t size_ = 0;
};

struct Cid::Prefix {
  Cid cid;
  std::size_t length;
};

}  // namespace atcr

template <>
struct std::hash<atcr::Cid> {
  std::size_t operator()(const atcr::Cid& c) const noexcept;
};

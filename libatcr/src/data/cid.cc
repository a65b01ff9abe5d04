#include "atcr/data/cid.h"

#include <algorithm>
#include <cstring>

#include "atcr/encoding/base32.h"
#include "atcr/encoding/varint.h"
#include "atcr/error.h"

namespace atcr {

namespace {

// Layout of a parsed CIDv1: version, codec, multihash code, digest length,
// digest. Offsets are kept so accessors need not re-parse varints by hand.
struct Layout {
  std::uint64_t codec;
  std::uint64_t hash_code;
  std::size_t digest_offset;
  std::size_t digest_size;
  std::size_t total;
};

Layout parse_layout(BytesView in) {
  if (in.empty()) throw ParseError("cid: empty");
  if (in[0] == 0x12 && in.size() >= 2 && in[1] == 0x20)
    throw ParseError("cid: CIDv0 is not supported");
  std::size_t pos = 0;
  auto next = [&](const char* what) {
    try {
      auto d = varint::decode(in.subspan(pos));
      pos += d.length;
      return d.value;
    } catch (const ParseError& e) {
      throw ParseError(std::string("cid: bad ") + what + ": " + e.what());
    }
  };
  std::uint64_t version = next("version");
  if (version != 1) throw ParseError("cid: unsupported version " + std::to_string(version));
  Layout l{};
  l.codec = next("codec");
  l.hash_code = next("multihash code");
  std::uint64_t size = next("digest length");
  if (size > Cid::kMaxDigest)
    throw ParseError("cid: digest of " + std::to_string(size) + " bytes is too long");
  if (l.hash_code == Cid::kSha256 && size != 32)
    throw ParseError("cid: sha2-256 digest must be 32 bytes, not " + std::to_string(size));
  if (in.size() - pos < size) throw ParseError("cid: truncated digest");
  l.digest_offset = pos;
  l.digest_size = static_cast<std::size_t>(size);
  l.total = pos + l.digest_size;
  return l;
}

}  // namespace

Cid Cid::from_sha256(Codec codec, const Sha256Digest& digest) {
  Cid c;
  c.data_[0] = 0x01;
  c.data_[1] = static_cast<std::uint8_t>(codec);  // both blessed codecs fit one varint byte
  c.data_[2] = static_cast<std::uint8_t>(kSha256);
  c.data_[3] = 32;
  std::memcpy(c.data_.data() + 4, digest.data(), 32);
  c.size_ = 36;
  return c;
}

Cid Cid::compute(Codec codec, BytesView data) { return from_sha256(codec, sha256(data)); }

Cid::Prefix Cid::read_prefix(BytesView in) {
  Layout l = parse_layout(in);
  Cid c;
  std::copy_n(in.begin(), l.total, c.data_.begin());
  c.size_ = static_cast<std::uint8_t>(l.total);
  return {c, l.total};
}

Cid Cid::from_bytes(BytesView binary) {
  auto p = read_prefix(binary);
  if (p.length != binary.size())
    throw ParseError("cid: " + std::to_string(binary.size() - p.length) + " trailing bytes");
  return p.cid;
}

Cid Cid::parse(std::string_view text) {
  if (text.empty()) throw ParseError("cid: empty string");
  if (text.size() > 2 * kMaxBytes) throw ParseError("cid: string too long");
  if (text[0] != 'b')
    throw ParseError("cid \"" + std::string(text.substr(0, 16)) +
                     "\": only multibase base32 ('b') CID strings are supported");
  return from_bytes(base32::decode(text.substr(1)));
}

std::string Cid::to_string() const { return "b" + base32::encode(bytes()); }

std::uint64_t Cid::codec() const { return parse_layout(bytes()).codec; }
std::uint64_t Cid::hash_code() const { return parse_layout(bytes()).hash_code; }
BytesView Cid::digest() const {
  Layout l = parse_layout(bytes());
  return bytes().subspan(l.digest_offset, l.digest_size);
}

bool Cid::is_blessed() const {
  return size_ == 36 && data_[0] == 0x01 &&
         (data_[1] == static_cast<std::uint8_t>(Codec::kDagCbor) ||
          data_[1] == static_cast<std::uint8_t>(Codec::kRaw)) &&
         data_[2] == kSha256 && data_[3] == 32;
}

std::strong_ordering operator<=>(const Cid& a, const Cid& b) {
  return std::lexicographical_compare_three_way(a.data_.begin(), a.data_.begin() + a.size_,
                                                b.data_.begin(), b.data_.begin() + b.size_);
}

}  // namespace atcr

std::size_t std::hash<atcr::Cid>::operator()(const atcr::Cid& c) const noexcept {
  // The last 8 bytes are digest bytes: already uniformly distributed.
  auto b = c.bytes();
  std::size_t h = 0;
  std::memcpy(&h, b.data() + (b.size() >= 8 ? b.size() - 8 : 0), std::min<std::size_t>(8, b.size()));
  return h;
}

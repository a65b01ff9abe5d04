#include "atcr/data/car.h"

#include <istream>
#include <ostream>
#include <sstream>
#include <streambuf>

#include "atcr/crypto/sha256.h"
#include "atcr/data/cbor.h"
#include "atcr/encoding/varint.h"
#include "atcr/error.h"

namespace atcr::car {

namespace {

// The smallest CIDv1 (version, codec, hash code, digest length, 1-byte
// digest) is 5 bytes; a blessed CID is 36. DASL CAR demands >= 36 for a
// block's CID + data; we accept any CID the parser accepts, but never a
// frame too short to hold one.
constexpr std::uint64_t kMinFrameBytes = 5;

std::vector<Cid> parse_header(BytesView bytes) {
  Value header = cbor::decode(bytes);
  if (!header.is_map()) throw ParseError("car: header is not a map");
  const Value* version = header.find("version");
  if (!version || !version->is_integer() || version->as_integer() != 1)
    throw ParseError("car: header version must be 1");
  const Value* roots = header.find("roots");
  if (!roots || !roots->is_array()) throw ParseError("car: header roots must be an array");
  std::vector<Cid> out;
  for (const Value& r : roots->as_array()) {
    if (!r.is_link()) throw ParseError("car: header root is not a CID link");
    out.push_back(r.as_link());
  }
  return out;
}

void verify_block(const Cid& cid, BytesView data, std::uint64_t offset) {
  if (cid.hash_code() != Cid::kSha256)
    throw VerifyError("car: block " + cid.to_string() + " at offset " + std::to_string(offset) +
                      " uses a multihash other than sha2-256 and cannot be verified");
  Sha256Digest d = sha256(data);
  BytesView want = cid.digest();
  if (!std::equal(want.begin(), want.end(), d.begin()))
    throw VerifyError("car: block at offset " + std::to_string(offset) + " does not match its CID " +
                      cid.to_string());
}

void write_frame(std::ostream& out, BytesView a, BytesView b) {
  Bytes len;
  varint::append(len, a.size() + b.size());
  out.write(reinterpret_cast<const char*>(len.data()), static_cast<std::streamsize>(len.size()));
  out.write(reinterpret_cast<const char*>(a.data()), static_cast<std::streamsize>(a.size()));
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) throw Error("car: write failed");
}

// A read-only streambuf over memory, so whole-buffer reads share the
// streaming reader without copying the input.
class MemoryBuf : public std::streambuf {
 public:
  explicit MemoryBuf(BytesView b) {
    char* p = const_cast<char*>(reinterpret_cast<const char*>(b.data()));
    setg(p, p, p + b.size());
  }
};

}  // namespace

Reader::Reader(std::istream& in, Limits limits) : in_(in), limits_(limits) {
  std::uint64_t len = 0;
  if (!read_varint(len, true)) throw ParseError("car: empty input");
  if (len == 0) throw ParseError("car: header length is zero");
  if (len > limits_.max_header_bytes)
    throw ParseError("car: header of " + std::to_string(len) + " bytes exceeds the limit");
  Bytes header(static_cast<std::size_t>(len));
  read_exact(header.data(), header.size(), "header");
  roots_ = parse_header(header);
}

Reader::~Reader() = default;

bool Reader::read_varint(std::uint64_t& value, bool eof_ok) {
  std::uint8_t buf[varint::kMaxBytes];
  std::size_t n = 0;
  for (;;) {
    int c = in_.get();
    if (c == std::char_traits<char>::eof()) {
      if (n == 0 && eof_ok) return false;
      throw ParseError("car: truncated varint at offset " + std::to_string(offset_));
    }
    buf[n++] = static_cast<std::uint8_t>(c);
    if ((c & 0x80) == 0 || n == varint::kMaxBytes) break;
  }
  auto d = varint::decode(BytesView(buf, n));
  offset_ += d.length;
  value = d.value;
  return true;
}

void Reader::read_exact(std::uint8_t* dst, std::size_t n, const char* what) {
  in_.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
  if (static_cast<std::size_t>(in_.gcount()) != n)
    throw ParseError(std::string("car: truncated ") + what + " at offset " + std::to_string(offset_));
  offset_ += n;
}

std::optional<Block> Reader::next() {
  std::uint64_t frame_at = offset_;
  std::uint64_t len = 0;
  if (!read_varint(len, true)) return std::nullopt;
  if (len < kMinFrameBytes)
    throw ParseError("car: block frame of " + std::to_string(len) + " bytes at offset " +
                     std::to_string(frame_at) + " is too short for a CID");
  if (len > limits_.max_block_bytes + Cid::kMaxBytes)
    throw ParseError("car: block of " + std::to_string(len) + " bytes at offset " +
                     std::to_string(frame_at) + " exceeds the limit");
  if (++blocks_read_ > limits_.max_blocks) throw ParseError("car: too many blocks");
  if (offset_ + len > limits_.max_total_bytes) throw ParseError("car: archive exceeds the size limit");
  Bytes frame(static_cast<std::size_t>(len));
  read_exact(frame.data(), frame.size(), "block");
  Cid::Prefix p = [&] {
    try {
      return Cid::read_prefix(frame);
    } catch (const ParseError& e) {
      throw ParseError("car: block at offset " + std::to_string(frame_at) + ": " + e.what());
    }
  }();
  BytesView data = BytesView(frame).subspan(p.length);
  verify_block(p.cid, data, frame_at);
  return Block{p.cid, Bytes(data.begin(), data.end())};
}

Writer::Writer(std::ostream& out, const std::vector<Cid>& roots) : out_(out) {
  Bytes header;
  cbor::Writer w(header);
  w.map_header(2);
  w.text("roots");
  w.array_header(roots.size());
  for (const Cid& r : roots) w.link(r);
  w.text("version");
  w.integer(1);
  write_frame(out_, header, {});
}

void Writer::add(const Cid& cid, BytesView data) { write_frame(out_, cid.bytes(), data); }

Contents read(BytesView car, Limits limits) {
  MemoryBuf buf(car);
  std::istream in(&buf);
  Reader reader(in, limits);
  Contents out{reader.roots(), {}};
  while (auto block = reader.next()) out.blocks.put(block->cid, std::move(block->data));
  return out;
}

Bytes write(const std::vector<Cid>& roots, const BlockMap& blocks) {
  std::ostringstream out;
  Writer w(out, roots);
  for (const auto& [cid, data] : blocks.blocks()) w.add(cid, data);
  return to_bytes(out.str());
}

}  // namespace atcr::car

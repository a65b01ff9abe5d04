// CAR v1 archives: a DAG-CBOR header {"roots": [...], "version": 1}
// followed by varint-framed (CID, bytes) blocks. Repository exports,
// commit proofs and firehose `blocks` are CARs.
//
// The reader streams: it holds one block at a time, refuses blocks and
// headers over the configured limits before allocating for them, and checks
// every block's bytes against its CID.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/cid.h"
#include "atcr/data/block_store.h"

namespace atcr::car {

struct Limits {
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_block_bytes = 4 * 1024 * 1024;  // atproto records are <= 1 MB
  std::size_t max_blocks = SIZE_MAX;
  std::uint64_t max_total_bytes = UINT64_MAX;
};

struct Block {
  Cid cid;
  Bytes data;
};

class Reader {
 public:
  // Reads and validates the header immediately. Throws ParseError.
  explicit Reader(std::istream& in, Limits limits = {});
  ~Reader();

  const std::vector<Cid>& roots() const { return roots_; }
  // The next block, verified against its CID; nullopt at a clean end.
  // Throws ParseError on truncation or oversize, VerifyError when the bytes
  // do not hash to the CID.
  std::optional<Block> next();

 private:
  bool read_varint(std::uint64_t& value, bool eof_ok);
  void read_exact(std::uint8_t* dst, std::size_t n, const char* what);

  std::istream& in_;
  Limits limits_;
  std::vector<Cid> roots_;
  std::uint64_t offset_ = 0;
  std::size_t blocks_read_ = 0;
};

class Writer {
 public:
  Writer(std::ostream& out, const std::vector<Cid>& roots);
  void add(const Cid& cid, BytesView data);

 private:
  std::ostream& out_;
};

// Whole-buffer conveniences.
struct Contents {
  std::vector<Cid> roots;
  BlockMap blocks;
};
Contents read(BytesView car, Limits limits = {});
Bytes write(const std::vector<Cid>& roots, const BlockMap& blocks);

}  // namespace atcr::car

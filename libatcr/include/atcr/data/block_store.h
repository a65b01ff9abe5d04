// Content-addressed block storage: the place MST nodes, records and commits
// live, keyed by CID.
#pragma once

#include <optional>
#include <unordered_map>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/cid.h"

namespace atcr {

// Read side of a block store.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual std::optional<Bytes> get(const Cid& cid) const = 0;
  virtual bool has(const Cid& cid) const { return get(cid).has_value(); }
};

// A set of blocks held in memory: a write batch, a CAR's contents, a diff.
// Insertion order is kept so a batch can be written out in a stable,
// streamable order.
class BlockMap : public BlockSource {
 public:
  // Stores `data` under `cid`. The caller vouches that the CID matches (use
  // add() to compute it instead). Storing a CID twice keeps the first.
  void put(const Cid& cid, Bytes data);
  // Computes the dag-cbor CID of `data`, stores it and returns the CID.
  Cid add(Bytes data);

  std::optional<Bytes> get(const Cid& cid) const override;
  bool has(const Cid& cid) const override { return index_.count(cid) != 0; }
  const Bytes* find(const Cid& cid) const;

  std::size_t size() const { return blocks_.size(); }
  bool empty() const { return blocks_.empty(); }
  std::size_t byte_size() const { return bytes_; }
  // Blocks in insertion order.
  const std::vector<std::pair<Cid, Bytes>>& blocks() const { return blocks_; }
  void merge(const BlockMap& other);

 private:
  std::vector<std::pair<Cid, Bytes>> blocks_;
  std::unordered_map<Cid, std::size_t> index_;
  std::size_t bytes_ = 0;
};

// Reads from `first`, falling back to `second`: staged writes over a store.
class LayeredBlockSource : public BlockSource {
 public:
  LayeredBlockSource(const BlockSource& first, const BlockSource& second)
      : first_(first), second_(second) {}
  std::optional<Bytes> get(const Cid& cid) const override {
    if (auto b = first_.get(cid)) return b;
    return second_.get(cid);
  }

 private:
  const BlockSource& first_;
  const BlockSource& second_;
};

}  // namespace atcr

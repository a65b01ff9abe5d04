#include "atcr/data/block_store.h"

namespace atcr {

void BlockMap::put(const Cid& cid, Bytes data) {
  if (index_.count(cid)) return;
  index_.emplace(cid, blocks_.size());
  bytes_ += data.size();
  blocks_.emplace_back(cid, std::move(data));
}

Cid BlockMap::add(Bytes data) {
  Cid cid = Cid::compute(Codec::kDagCbor, data);
  put(cid, std::move(data));
  return cid;
}

const Bytes* BlockMap::find(const Cid& cid) const {
  auto it = index_.find(cid);
  return it == index_.end() ? nullptr : &blocks_[it->second].second;
}

std::optional<Bytes> BlockMap::get(const Cid& cid) const {
  if (const Bytes* b = find(cid)) return *b;
  return std::nullopt;
}

void BlockMap::merge(const BlockMap& other) {
  for (const auto& [cid, data] : other.blocks_) put(cid, data);
}

}  // namespace atcr

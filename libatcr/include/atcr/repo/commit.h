// Signed repository commits (atproto repo format v3).
//
// A commit binds an account DID to an MST root at a revision:
//   {did, version: 3, data: <MST root>, rev: <TID>, prev: <CID|null>, sig}
// The signature covers the DAG-CBOR encoding of every field except `sig`.
// `prev` must be present even when null: omitting it changes the signed
// bytes, which is an interoperability bug the spec calls out.
#pragma once

#include <optional>
#include <string>

#include "atcr/bytes.h"
#include "atcr/crypto/keys.h"
#include "atcr/data/cid.h"

namespace atcr {

struct Commit {
  static constexpr std::int64_t kVersion = 3;

  std::string did;
  Cid data;
  std::string rev;
  std::optional<Cid> prev;
  Bytes sig;

  // The bytes that are signed: the commit without `sig`.
  Bytes unsigned_bytes() const;
  // The full signed commit, as stored in a block.
  Bytes encode() const;
  Cid cid() const { return Cid::compute(Codec::kDagCbor, encode()); }

  // Strict decode of a signed commit block: exactly the v3 fields with the
  // right types, a DID and a TID rev. Throws ParseError.
  static Commit decode(BytesView block);

  // Builds and signs a commit.
  static Commit sign(std::string did, const Cid& data, std::string rev, const PrivateKey& key);
  // Checks the signature against `key` (strictly: 64-byte low-S).
  bool verify(const PublicKey& key) const;
};

}  // namespace atcr

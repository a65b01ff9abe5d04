// Merkle Search Tree (atproto repository format v3).
//
// A Tree maps repo paths ("<collection>/<rkey>") to record CIDs. Its shape,
// and so its root CID, depends only on the set of (key, CID) pairs, never on
// the order of edits. Nodes are read lazily from a BlockSource and kept in
// memory once touched; edits are applied in memory and the new nodes are
// handed out by collect_new_blocks() for the caller to persist.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atcr/data/cid.h"
#include "atcr/data/block_store.h"

namespace atcr::mst {

constexpr std::size_t kMaxKeyBytes = 1024;
// Most entries one node may hold. Honest trees average about 4; only keys
// mined to share a layer get near this. Nodes read from a store are
// rejected above it, so edits that would exceed it are refused as well.
constexpr std::size_t kMaxNodeEntries = 8192;

// Layer of a key: leading zero bits of SHA-256(key), halved (fanout 4).
int key_height(std::string_view key);
// Number of leading bytes `a` and `b` share.
std::size_t common_prefix_length(std::string_view a, std::string_view b);
// Whether `key` is a valid repo path: two non-empty segments of
// [A-Za-z0-9_~.:-] joined by one '/', at most kMaxKeyBytes.
bool is_valid_key(std::string_view key);

// CID of the empty tree's root node {"e":[],"l":null}
// (bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm).
const Cid& empty_root_cid();

struct Entry {
  std::string key;
  Cid value;
};

// One change between two trees. `before`/`after` absent mean create/delete.
struct Change {
  std::string key;
  std::optional<Cid> before;
  std::optional<Cid> after;
};

class Node;  // internal

// Nodes read from a BlockSource are untrusted: each is checked when first
// read (strict DAG-CBOR, fields e/l and k/p/t/v all present, canonical
// prefix compression, keys valid, sorted, inside the range the parent
// gives them and of exactly the node's layer, no empty non-root nodes, at
// most a few thousand entries). A malformed node raises ParseError or
// VerifyError naming its CID; a node missing from the source raises
// NotFoundError, but only when an operation actually needs to read it.
//
// Const methods may read nodes lazily and so are not thread-safe. If an
// edit throws because a node is missing or malformed, the tree is left as
// it was (nodes an edit needs are read before anything is changed).
class Tree {
 public:
  // An empty tree. Nodes are never read from `source` until something
  // refers to them, so an empty store is fine.
  explicit Tree(const BlockSource& source);
  // The tree whose root node is `root`, read lazily from `source`.
  Tree(const BlockSource& source, const Cid& root);
  // The tree holding exactly `entries`, which must be valid keys, sorted and
  // free of duplicates (ParseError otherwise, or if a node would exceed
  // kMaxNodeEntries). Much faster than repeated put().
  static Tree build(const BlockSource& source, const std::vector<Entry>& entries);

  Tree(Tree&&) noexcept;
  Tree& operator=(Tree&&) noexcept;
  ~Tree();

  std::optional<Cid> get(std::string_view key) const;
  // Inserts or replaces. Returns the previous value, if any.
  // Throws ParseError on an invalid key or if a node would exceed
  // kMaxNodeEntries.
  std::optional<Cid> put(std::string_view key, const Cid& value);
  // Removes `key`. Returns the removed value, or nullopt if absent.
  // Throws ParseError if the merge would exceed kMaxNodeEntries.
  std::optional<Cid> remove(std::string_view key);

  // Entries in key order with keys >= `from` (all when empty), stopping when
  // `fn` returns false.
  void walk(std::string_view from, const std::function<bool(const Entry&)>& fn) const;
  // Entries whose keys start with `prefix`, in order, at most `limit`.
  std::vector<Entry> list(std::string_view prefix = {}, std::size_t limit = SIZE_MAX) const;
  std::size_t size() const;  // walks the whole tree
  bool empty() const;        // reads at most the root node

  // CID of the root node (computing and caching node CIDs as needed).
  Cid root() const;

  // Encoded nodes created or changed since the tree was loaded or since the
  // last call, added to `out`. Unchanged nodes are not repeated.
  void collect_new_blocks(BlockMap& out);
  // Every node of the tree, added to `out` (for a full export).
  void collect_all_blocks(BlockMap& out) const;

  // Blocks proving the presence or absence of `key`: every node on the path
  // from the root down to where the key is or would be.
  void collect_proof_blocks(std::string_view key, BlockMap& out) const;

  // Blocks a firehose consumer needs to invert a commit that changed `keys`
  // (created, updated or deleted; this tree is the state after the commit):
  // for each key, its proof path and, where the key is present, the inner
  // edges of the subtrees on either side of it (the neighbours that
  // deleting it would merge). A Tree loaded over just these blocks at this
  // root can undo the operations, in any order, and reach the previous root.
  void collect_commit_proof(const std::vector<std::string>& keys, BlockMap& out) const;

  // Changes that turn `from` into `to`, in key order.
  static std::vector<Change> diff(const Tree& from, const Tree& to);

  // Throws VerifyError if any reachable node is malformed: wrong key
  // heights, unsorted keys, skipped layers, empty non-root nodes.
  void verify() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::mst

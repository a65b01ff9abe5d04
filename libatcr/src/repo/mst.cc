// Merkle Search Tree (repo format v3).
//
// In memory a tree is a hierarchy of Nodes, one per MST node. A child that
// has not been read yet is a stub holding only its CID; it is read (and
// checked) the first time an operation needs to look inside. Edits work on
// loaded nodes in place, forget the cached CIDs along the edited path and
// mark the touched nodes dirty so collect_new_blocks() can hand them out.
//
// Throughout, a subtree is null exactly when its key range holds no keys,
// which is what keeps the shape canonical: a gap with only lower keys gets
// an entry-less intermediate node, an emptied one becomes null again.

#include "atcr/repo/mst.h"

#include <algorithm>
#include <bit>
#include <iterator>

#include "atcr/crypto/sha256.h"
#include "atcr/data/cbor.h"
#include "atcr/data/value.h"
#include "atcr/error.h"

namespace atcr::mst {

namespace {

// Bound on untrusted trees (with kMaxNodeEntries). No honest tree comes
// near it: a layer above ~20 would take 2^40 hashes of key mining per key.
constexpr int kMaxLayer = 64;
// Node nesting is map > array > map > link; anything deeper is not a node.
constexpr std::size_t kMaxNodeCborDepth = 8;

constexpr std::uint8_t kEmptyNodeBytes[] = {0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6};

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '~' || c == '.' || c == ':' || c == '-';
}

}  // namespace

int key_height(std::string_view key) {
  Sha256Digest digest = sha256(as_bytes(key));
  int zero_bits = 0;
  for (std::uint8_t b : digest) {
    zero_bits += std::countl_zero(b);
    if (b != 0) break;
  }
  return zero_bits / 2;
}

std::size_t common_prefix_length(std::string_view a, std::string_view b) {
  std::size_t n = std::min(a.size(), b.size());
  return static_cast<std::size_t>(std::mismatch(a.begin(), a.begin() + n, b.begin()).first - a.begin());
}

bool is_valid_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) return false;
  std::size_t slash = key.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i != slash && !is_key_char(key[i])) return false;
  }
  return true;
}

const Cid& empty_root_cid() {
  static const Cid cid = Cid::compute(Codec::kDagCbor, kEmptyNodeBytes);
  return cid;
}

// ---------------------------------------------------------------------------
// Nodes

class Node {
 public:
  struct Item {
    std::string key;
    Cid value;
    std::unique_ptr<Node> right;  // subtree between this key and the next
  };

  int layer = -1;        // -1 only for an unread root: its keys decide
  bool loaded = false;   // false: a stub, only `cid` is known
  bool dirty = false;    // created or changed since the last collect_new_blocks
  std::optional<Cid> cid;  // cached; reset whenever the node changes
  // Encoding of a dirty node, kept from computing its CID until
  // collect_new_blocks() hands it out, so it is encoded only once.
  Bytes block;
  std::unique_ptr<Node> left;
  std::vector<Item> items;
};

namespace {

using NodePtr = std::unique_ptr<Node>;

// The open key interval a subtree must lie in. Keys are never empty, so an
// empty bound means "unbounded". The views point into ancestors' keys (or
// the caller's key) and must not outlive the operation that made them.
struct Range {
  std::string_view lo;
  std::string_view hi;
  bool contains(std::string_view key) const {
    return (lo.empty() || lo < key) && (hi.empty() || key < hi);
  }
};

NodePtr new_node(int layer) {
  auto n = std::make_unique<Node>();
  n->layer = layer;
  n->loaded = true;
  n->dirty = true;
  return n;
}

NodePtr new_stub(int layer, const Cid& cid) {
  auto n = std::make_unique<Node>();
  n->layer = layer;
  n->cid = cid;
  return n;
}

// Records that `n` changed: its CID must be recomputed and it is new.
void touch(Node& n) {
  n.cid.reset();
  n.block.clear();
  n.dirty = true;
}

// Gap i of a node: the subtree left of items[i] (the last gap is right of
// every item).
NodePtr& gap(Node& n, std::size_t i) { return i == 0 ? n.left : n.items[i - 1].right; }

Range gap_range(const Node& n, std::size_t i, Range r) {
  return {i == 0 ? r.lo : std::string_view(n.items[i - 1].key),
          i < n.items.size() ? std::string_view(n.items[i].key) : r.hi};
}

// Index of the first item whose key is >= `key`.
std::size_t position(const Node& n, std::string_view key) {
  auto it = std::lower_bound(n.items.begin(), n.items.end(), key,
                             [](const Node::Item& item, std::string_view k) { return item.key < k; });
  return static_cast<std::size_t>(it - n.items.begin());
}

bool holds(const Node& n, std::size_t i, std::string_view key) {
  return i < n.items.size() && n.items[i].key == key;
}

bool is_empty_node(const Node& n) { return n.items.empty() && !n.left; }

std::string describe(const Node& n) {
  if (n.cid) return "mst: node " + n.cid->to_string();
  return "mst: unsaved node at layer " + std::to_string(n.layer);
}

[[noreturn]] void fail(const Node& n, const std::string& problem) {
  throw VerifyError(describe(n) + ": " + problem);
}

// ---------------------------------------------------------------------------
// Encoding

void write_link_or_null(cbor::Writer& w, const NodePtr& child) {
  if (child) {
    w.link(*child->cid);
  } else {
    w.null();
  }
}

// Writes {"e": [...], "l": ...} with per-node prefix compression. Every
// child's CID must already be known.
void encode_node(const Node& n, Bytes& out) {
  cbor::Writer w(out);
  w.map_header(2);
  w.text("e");
  w.array_header(n.items.size());
  std::string_view prev;
  for (const Node::Item& item : n.items) {
    std::size_t shared = common_prefix_length(prev, item.key);
    w.map_header(4);
    w.text("k");
    w.bytes(as_bytes(std::string_view(item.key).substr(shared)));
    w.text("p");
    w.integer(static_cast<std::int64_t>(shared));
    w.text("t");
    write_link_or_null(w, item.right);
    w.text("v");
    w.link(item.value);
    prev = item.key;
  }
  w.text("l");
  write_link_or_null(w, n.left);
}

// ---------------------------------------------------------------------------
// Decoding and checking untrusted nodes

// A link to another MST node: must be a blessed dag-cbor CID.
std::optional<Cid> parse_subtree_link(const Node& n, const Value* v, const std::string& where) {
  if (!v) fail(n, where + " is missing");
  if (v->is_null()) return std::nullopt;
  if (!v->is_link()) fail(n, where + " is neither a link nor null");
  const Cid& cid = v->as_link();
  if (!cid.is_blessed() || cid.codec() != static_cast<std::uint64_t>(Codec::kDagCbor))
    fail(n, where + " is not a blessed dag-cbor CID");
  return cid;
}

struct ParsedEntry {
  std::string key;
  Cid value;
  std::optional<Cid> right;
};

ParsedEntry parse_entry(const Node& n, const Value& v, std::size_t index, std::string_view prev) {
  std::string where = "entry " + std::to_string(index);
  if (!v.is_map()) fail(n, where + " is not a map");
  const Value* k = v.find("k");
  const Value* p = v.find("p");
  const Value* t = v.find("t");
  const Value* val = v.find("v");
  if (v.as_map().size() != 4 || !k || !p || !t || !val)
    fail(n, where + " must have exactly the fields k, p, t, v");
  if (!k->is_bytes()) fail(n, where + ": \"k\" is not a byte string");
  if (!p->is_integer()) fail(n, where + ": \"p\" is not an integer");
  if (!val->is_link()) fail(n, where + ": \"v\" is not a link");

  std::int64_t shared = p->as_integer();
  if (shared < 0 || static_cast<std::uint64_t>(shared) > prev.size()) {
    fail(n, where + ": prefix length p=" + std::to_string(shared) + " exceeds the previous key's " +
                std::to_string(prev.size()) + " bytes");
  }
  const Bytes& suffix = k->as_bytes();
  if (static_cast<std::size_t>(shared) + suffix.size() > kMaxKeyBytes)
    fail(n, where + ": key longer than " + std::to_string(kMaxKeyBytes) + " bytes");
  std::string key(prev.substr(0, static_cast<std::size_t>(shared)));
  key.append(suffix.begin(), suffix.end());
  // Compression is mandatory, so a shorter p than the real shared prefix is
  // a non-canonical node whose CID we could never reproduce.
  if (index > 0 && common_prefix_length(prev, key) != static_cast<std::size_t>(shared)) {
    fail(n, where + ": p=" + std::to_string(shared) +
                " is not the length of the prefix shared with the previous key");
  }
  return {std::move(key), val->as_link(), parse_subtree_link(n, t, where + ": \"t\"")};
}

// Fills a stub from its decoded block. Its layer comes from the parent, or,
// for the root, from its first key.
void parse_node(Node& n, const Value& v) {
  if (!v.is_map()) fail(n, "not a map");
  const Value* e = v.find("e");
  const Value* l = v.find("l");
  if (v.as_map().size() != 2 || !e || !l) fail(n, "must have exactly the fields e and l");
  if (!e->is_array()) fail(n, "\"e\" is not an array");
  const Value::Array& raw = e->as_array();
  if (raw.size() > kMaxNodeEntries)
    fail(n, std::to_string(raw.size()) + " entries (limit " + std::to_string(kMaxNodeEntries) + ")");

  std::optional<Cid> left = parse_subtree_link(n, l, "\"l\"");
  std::vector<ParsedEntry> entries;
  entries.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i)
    entries.push_back(parse_entry(n, raw[i], i, i == 0 ? std::string_view() : entries.back().key));

  int layer = n.layer;
  if (layer < 0 && entries.empty() && left)
    fail(n, "the root has no entries but links down (an untrimmed top layer)");
  if (layer < 0) layer = entries.empty() ? 0 : key_height(entries.front().key);
  if (layer > kMaxLayer) fail(n, "layer " + std::to_string(layer) + " is implausibly high");
  bool has_link = left.has_value();
  for (const ParsedEntry& entry : entries) has_link |= entry.right.has_value();
  if (layer == 0 && has_link) fail(n, "a layer-0 node links to a subtree");

  n.layer = layer;
  if (left) n.left = new_stub(layer - 1, *left);
  n.items.reserve(entries.size());
  for (ParsedEntry& entry : entries) {
    n.items.push_back(Node::Item{std::move(entry.key), entry.value,
                                 entry.right ? new_stub(layer - 1, *entry.right) : nullptr});
  }
}

// The invariants of a node in its place: keys valid, of the node's layer,
// strictly increasing and inside the range the ancestors give; no empty
// node except the root of an empty tree; no links below layer 0.
void check_node(const Node& n, Range r, bool is_root) {
  if (n.layer > kMaxLayer) fail(n, "layer " + std::to_string(n.layer) + " is implausibly high");
  if (n.items.size() > kMaxNodeEntries) fail(n, "too many entries");
  if (n.items.empty()) {
    if (is_root && n.left) fail(n, "the root has no entries but links down (an untrimmed top layer)");
    if (!is_root && !n.left) fail(n, "an empty node below the root");
  }
  for (std::size_t i = 0; i < n.items.size(); ++i) {
    const std::string& key = n.items[i].key;
    std::string where = "entry " + std::to_string(i) + " (\"" + key + "\")";
    if (!is_valid_key(key)) fail(n, where + ": not a valid repo path");
    if (int h = key_height(key); h != n.layer) {
      fail(n, where + ": key of height " + std::to_string(h) + " in a node at layer " +
                  std::to_string(n.layer) + " (a skipped or wrong layer)");
    }
    if (i > 0 && !(n.items[i - 1].key < key)) fail(n, where + ": keys out of order or repeated");
    if (!r.contains(key)) fail(n, where + ": key outside the range its parent gives this node");
  }
  if (n.layer == 0) {
    bool has_link = n.left != nullptr;
    for (const Node::Item& item : n.items) has_link |= item.right != nullptr;
    if (has_link) fail(n, "a layer-0 node links to a subtree");
  }
}

// ---------------------------------------------------------------------------
// Diff cursors: a tree as a stream of entries and not-yet-opened subtrees
// in key order.

struct Step {
  Node* node = nullptr;                 // a subtree, or
  const Node::Item* entry = nullptr;    // an entry
  Range range;                          // for a subtree: where it lies
};

}  // namespace

// ---------------------------------------------------------------------------
// Tree internals

struct Tree::Impl {
  explicit Impl(const BlockSource& s) : source(&s) {}

  const BlockSource* source;
  NodePtr root;               // null: the empty tree
  bool empty_dirty = false;   // the empty root node has not been handed out
  Bytes scratch;              // reused encoding buffer

  // --- reading

  void load(Node& n, Range r, bool is_root) {
    if (n.loaded) return;
    const Cid& cid = *n.cid;
    if (!cid.is_blessed() || cid.codec() != static_cast<std::uint64_t>(Codec::kDagCbor))
      fail(n, "an MST node must have a blessed dag-cbor CID");
    std::optional<Bytes> block = source->get(cid);
    if (!block) throw NotFoundError(describe(n) + " is not in the block store");
    if (Cid::compute(Codec::kDagCbor, *block) != cid) fail(n, "block does not hash to its CID");
    Value v;
    try {
      v = cbor::decode(*block, kMaxNodeCborDepth);
    } catch (const ParseError& e) {
      throw ParseError(describe(n) + ": " + e.what());
    }
    Node parsed;
    parsed.layer = n.layer;
    parsed.cid = n.cid;
    parse_node(parsed, v);
    check_node(parsed, r, is_root);
    n.layer = parsed.layer;
    n.left = std::move(parsed.left);
    n.items = std::move(parsed.items);
    n.loaded = true;
  }

  // The root node, read if needed; null for the empty tree.
  Node* root_node() {
    if (root && !root->loaded) {
      load(*root, {}, true);
      if (is_empty_node(*root)) root.reset();  // an empty tree read from the store
    }
    return root.get();
  }

  // --- CIDs and blocks

  const Cid& node_cid(Node& n) {
    if (!n.cid) {
      if (n.left) node_cid(*n.left);
      for (Node::Item& item : n.items) {
        if (item.right) node_cid(*item.right);
      }
      // Only changed nodes lack a CID, and their encoding will be wanted.
      n.block.clear();
      n.block.reserve(16 + n.items.size() * 100);
      encode_node(n, n.block);
      n.cid = Cid::compute(Codec::kDagCbor, n.block);
    }
    return *n.cid;
  }

  Cid root_cid() { return root_node() ? node_cid(*root) : empty_root_cid(); }

  void add_block(Node& n, BlockMap& out) {
    const Cid& cid = node_cid(n);
    if (out.has(cid)) return;
    if (!n.block.empty()) {
      out.put(cid, n.block);
      return;
    }
    Bytes block;
    encode_node(n, block);
    out.put(cid, std::move(block));
  }

  // Pre-order, so parents precede children (the streamable CAR order).
  void collect_dirty(Node& n, BlockMap& out) {
    if (!n.dirty) return;  // nothing below a clean node is dirty
    const Cid& cid = node_cid(n);
    if (n.block.empty()) encode_node(n, n.block);
    out.put(cid, std::move(n.block));
    n.block = Bytes();
    n.dirty = false;
    if (n.left) collect_dirty(*n.left, out);
    for (Node::Item& item : n.items) {
      if (item.right) collect_dirty(*item.right, out);
    }
  }

  void collect_all(Node& n, Range r, BlockMap& out) {
    load(n, r, false);
    add_block(n, out);
    for (std::size_t i = 0; i <= n.items.size(); ++i) {
      if (NodePtr& child = gap(n, i)) collect_all(*child, gap_range(n, i, r), out);
    }
  }

  // --- paths

  // Calls `visit` on each node from the root down to the one holding `key`
  // or, when absent, to where descending by key ends. When the key is
  // present it then visits the inner edges of the subtrees on both sides,
  // down to layer 0: the nodes a delete of the key may merge. Together that
  // covers every node an insert (which splits along the path) or a delete
  // of the key needs to read.
  template <typename Visit>
  void visit_path(std::string_view key, bool with_neighbours, Visit&& visit) {
    Node* n = root_node();
    Range r;
    while (n) {
      load(*n, r, false);
      visit(*n);
      std::size_t i = position(*n, key);
      if (holds(*n, i, key)) {
        if (with_neighbours) {
          visit_edge(gap(*n, i), {gap_range(*n, i, r).lo, key}, /*rightmost=*/true, visit);
          visit_edge(n->items[i].right, {key, gap_range(*n, i + 1, r).hi}, /*rightmost=*/false, visit);
        }
        return;
      }
      r = gap_range(*n, i, r);
      n = gap(*n, i).get();
    }
  }

  template <typename Visit>
  void visit_edge(NodePtr& start, Range r, bool rightmost, Visit&& visit) {
    for (Node* n = start.get(); n;) {
      load(*n, r, false);
      visit(*n);
      std::size_t i = rightmost ? n->items.size() : 0;
      r = gap_range(*n, i, r);
      n = gap(*n, i).get();
    }
  }

  // Reads every node an edit of `key` could need, so the edit itself cannot
  // fail half-way on a missing or malformed node.
  void prefetch(std::string_view key, bool for_delete) {
    visit_path(key, for_delete, [](Node&) {});
  }

  // Refuses (before anything changes) an edit that would grow a node past
  // kMaxNodeEntries: such a tree could not be read back. Only mined keys
  // get near it. Needs the nodes prefetch() reads.
  void check_capacity(std::string_view key, int height, bool deleting) {
    Node* n = root.get();
    while (n && n->layer > height) n = gap(*n, position(*n, key)).get();
    if (!n || n->layer != height) return;
    std::size_t i = position(*n, key);
    if (!deleting) {
      if (!holds(*n, i, key) && n->items.size() >= kMaxNodeEntries)
        throw ParseError("mst: inserting \"" + std::string(key) + "\" would put more than " +
                         std::to_string(kMaxNodeEntries) + " entries in one node");
      return;
    }
    if (!holds(*n, i, key)) return;
    // Deleting merges the inner edges on either side, layer by layer.
    Node* a = gap(*n, i).get();
    Node* b = n->items[i].right.get();
    for (; a && b; a = gap(*a, a->items.size()).get(), b = b->left.get()) {
      if (a->items.size() + b->items.size() > kMaxNodeEntries)
        throw ParseError("mst: deleting \"" + std::string(key) + "\" would merge more than " +
                         std::to_string(kMaxNodeEntries) + " entries into one node");
    }
  }

  // --- edits

  struct PutResult {
    std::optional<Cid> previous;
    bool changed = false;
  };

  PutResult insert(Node& n, Range r, std::string_view key, int height, const Cid& value) {
    load(n, r, false);  // already read by prefetch(); this only guards
    std::size_t i = position(n, key);
    if (height == n.layer) {
      if (holds(n, i, key)) {
        Cid old = n.items[i].value;
        if (old == value) return {old, false};
        n.items[i].value = value;
        touch(n);
        return {old, true};
      }
      auto [lower, upper] = split(std::move(gap(n, i)), gap_range(n, i, r), key);
      gap(n, i) = std::move(lower);
      n.items.insert(n.items.begin() + static_cast<std::ptrdiff_t>(i),
                     Node::Item{std::string(key), value, std::move(upper)});
      touch(n);
      return {std::nullopt, true};
    }
    // The key lives further down. A missing gap gets an entry-less node so
    // that links never skip a layer.
    NodePtr& child = gap(n, i);
    if (!child) child = new_node(n.layer - 1);
    PutResult result = insert(*child, gap_range(n, i, r), key, height, value);
    if (result.changed) touch(n);
    return result;
  }

  // Splits subtree `n` around `key` (absent from it, and higher than its
  // layer) into the parts below and above the key, both at n's layer. A
  // part wholly on one side is returned untouched, so a split never marks
  // unchanged nodes dirty.
  std::pair<NodePtr, NodePtr> split(NodePtr n, Range r, std::string_view key) {
    if (!n) return {};
    load(*n, r, false);
    std::size_t i = position(*n, key);
    auto [lower, upper] = split(std::move(gap(*n, i)), gap_range(*n, i, r), key);
    if (i == n->items.size() && !upper) {
      gap(*n, i) = std::move(lower);
      return {std::move(n), nullptr};
    }
    if (i == 0 && !lower) {
      n->left = std::move(upper);
      return {nullptr, std::move(n)};
    }
    NodePtr right = new_node(n->layer);
    right->left = std::move(upper);
    auto first_moved = n->items.begin() + static_cast<std::ptrdiff_t>(i);
    right->items.assign(std::make_move_iterator(first_moved), std::make_move_iterator(n->items.end()));
    n->items.erase(first_moved, n->items.end());
    gap(*n, i) = std::move(lower);
    touch(*n);
    return {std::move(n), std::move(right)};
  }

  // Joins two adjacent subtrees of the same layer (every key of `a` below
  // every key of `b`), merging the inner edges where they meet.
  NodePtr merge(NodePtr a, Range ra, NodePtr b, Range rb) {
    if (!a) return b;
    if (!b) return a;
    load(*a, ra, false);
    load(*b, rb, false);
    std::size_t last = a->items.size();
    Range inner_a = gap_range(*a, last, ra);
    Range inner_b = gap_range(*b, 0, rb);
    NodePtr joined = merge(std::move(gap(*a, last)), inner_a, std::move(b->left), inner_b);
    gap(*a, last) = std::move(joined);
    a->items.insert(a->items.end(), std::make_move_iterator(b->items.begin()),
                    std::make_move_iterator(b->items.end()));
    touch(*a);
    return a;
  }

  std::optional<Cid> erase(Node& n, Range r, std::string_view key, int height) {
    load(n, r, false);  // already read by prefetch(); this only guards
    std::size_t i = position(n, key);
    if (height == n.layer) {
      if (!holds(n, i, key)) return std::nullopt;
      Cid old = n.items[i].value;
      Range below{gap_range(n, i, r).lo, key};
      Range above{key, gap_range(n, i + 1, r).hi};
      NodePtr joined = merge(std::move(gap(n, i)), below, std::move(n.items[i].right), above);
      n.items.erase(n.items.begin() + static_cast<std::ptrdiff_t>(i));
      gap(n, i) = std::move(joined);
      touch(n);
      return old;
    }
    NodePtr& child = gap(n, i);
    if (!child) return std::nullopt;
    std::optional<Cid> old = erase(*child, gap_range(n, i, r), key, height);
    if (!old) return std::nullopt;
    if (is_empty_node(*child)) child.reset();  // no empty leaves
    touch(n);
    return old;
  }

  // Raises a subtree to `layer` with entry-less nodes above it.
  static NodePtr raise(NodePtr n, int layer) {
    while (n && n->layer < layer) {
      NodePtr parent = new_node(n->layer + 1);
      parent->left = std::move(n);
      n = std::move(parent);
    }
    return n;
  }

  // After a delete, the root may be left without entries: its single
  // subtree (or nothing) becomes the tree.
  void trim_root() {
    while (root && root->items.empty()) {
      if (!root->left) {
        root.reset();
        empty_dirty = true;
        return;
      }
      NodePtr child = std::move(root->left);
      root = std::move(child);
      load(*root, {}, false);
    }
  }

  // --- reading entries

  bool walk(Node& n, Range r, std::string_view from, const std::function<bool(const Entry&)>& fn) {
    load(n, r, false);
    std::size_t i = from.empty() ? 0 : position(n, from);
    if (NodePtr& child = gap(n, i)) {
      if (!walk(*child, gap_range(n, i, r), from, fn)) return false;
    }
    for (std::size_t j = i; j < n.items.size(); ++j) {
      if (!fn(Entry{n.items[j].key, n.items[j].value})) return false;
      if (NodePtr& child = n.items[j].right) {
        if (!walk(*child, gap_range(n, j + 1, r), {}, fn)) return false;
      }
    }
    return true;
  }

  void verify(Node& n, Range r, bool is_root) {
    load(n, r, is_root);
    check_node(n, r, is_root);
    if (n.cid && !n.dirty) {
      // A node read from the store must re-encode to the same bytes, or
      // edits elsewhere would silently change its CID.
      for (std::size_t i = 0; i <= n.items.size(); ++i) {
        if (NodePtr& child = gap(n, i)) node_cid(*child);
      }
      scratch.clear();
      encode_node(n, scratch);
      if (Cid::compute(Codec::kDagCbor, scratch) != *n.cid) fail(n, "does not re-encode to its CID");
    }
    for (std::size_t i = 0; i <= n.items.size(); ++i) {
      NodePtr& child = gap(n, i);
      if (!child) continue;
      if (child->layer != n.layer - 1) fail(n, "a link skips a layer");
      verify(*child, gap_range(n, i, r), false);
    }
  }

  // --- diff

  class Cursor {
   public:
    explicit Cursor(Impl& tree) : tree_(tree) {
      if (Node* root = tree.root_node()) steps_.push_back(Step{root, nullptr, {}});
    }
    bool done() const { return steps_.empty(); }
    const Step& top() const { return steps_.back(); }
    void pop() { steps_.pop_back(); }
    const Cid& cid(const Step& s) { return tree_.node_cid(*s.node); }

    // Replaces the subtree on top with its contents.
    void open() {
      Step s = steps_.back();
      steps_.pop_back();
      Node& n = *s.node;
      tree_.load(n, s.range, false);
      for (std::size_t i = n.items.size() + 1; i-- > 0;) {
        if (NodePtr& child = gap(n, i)) steps_.push_back(Step{child.get(), nullptr, gap_range(n, i, s.range)});
        if (i > 0) steps_.push_back(Step{nullptr, &n.items[i - 1], {}});
      }
    }

   private:
    Impl& tree_;
    std::vector<Step> steps_;  // next step last
  };

  // diff's steps. The rest of one side, the other being exhausted: an
  // entry is a change (added, or removed), a subtree is opened.
  static void drain_step(Cursor& rest, bool added, std::vector<Change>& changes) {
    const Step& s = rest.top();
    if (s.node) {
      rest.open();
      return;
    }
    if (added) {
      changes.push_back(Change{s.entry->key, std::nullopt, s.entry->value});
    } else {
      changes.push_back(Change{s.entry->key, s.entry->value, std::nullopt});
    }
    rest.pop();
  }

  // Both sides at a step, one at least a subtree: identical subtrees are
  // skipped; otherwise the higher subtree opens first, so both sides
  // descend in step and shared subtrees further down line up again.
  static void descend(Cursor& a, Cursor& b) {
    const Step& sa = a.top();
    const Step& sb = b.top();
    if (!sa.node || !sb.node) {
      (sa.node ? a : b).open();
      return;
    }
    if (a.cid(sa) == b.cid(sb)) {
      a.pop();
      b.pop();
      return;
    }
    int la = sa.node->layer;
    int lb = sb.node->layer;
    if (la >= lb) a.open();
    if (lb >= la) b.open();
  }

  // Both sides at an entry: the lower key is removed or added; one key on
  // both sides changed if its values differ.
  static void compare_entries(Cursor& a, Cursor& b, std::vector<Change>& changes) {
    const Node::Item& ea = *a.top().entry;
    const Node::Item& eb = *b.top().entry;
    if (ea.key < eb.key) {
      changes.push_back(Change{ea.key, ea.value, std::nullopt});
      a.pop();
    } else if (eb.key < ea.key) {
      changes.push_back(Change{eb.key, std::nullopt, eb.value});
      b.pop();
    } else {
      if (ea.value != eb.value) changes.push_back(Change{ea.key, ea.value, eb.value});
      a.pop();
      b.pop();
    }
  }
};

// ---------------------------------------------------------------------------
// Tree

Tree::Tree(const BlockSource& source) : impl_(std::make_unique<Impl>(source)) {
  impl_->empty_dirty = true;
}

Tree::Tree(const BlockSource& source, const Cid& root) : impl_(std::make_unique<Impl>(source)) {
  if (root == empty_root_cid()) return;  // nothing to read
  impl_->root = new_stub(-1, root);
}

namespace {

NodePtr build_range(const std::vector<Entry>& entries, const std::vector<std::uint8_t>& heights,
                    std::size_t begin, std::size_t end, int layer) {
  if (begin == end) return nullptr;
  NodePtr n = new_node(layer);
  std::size_t gap_start = begin;
  for (std::size_t i = begin; i < end; ++i) {
    if (heights[i] != layer) continue;
    gap(*n, n->items.size()) = build_range(entries, heights, gap_start, i, layer - 1);
    n->items.push_back(Node::Item{entries[i].key, entries[i].value, nullptr});
    gap_start = i + 1;
  }
  gap(*n, n->items.size()) = build_range(entries, heights, gap_start, end, layer - 1);
  if (n->items.size() > kMaxNodeEntries)
    throw ParseError("mst: build() would put " + std::to_string(n->items.size()) + " entries in one node (limit " +
                     std::to_string(kMaxNodeEntries) + ")");
  return n;
}

}  // namespace

Tree Tree::build(const BlockSource& source, const std::vector<Entry>& entries) {
  std::vector<std::uint8_t> heights(entries.size());
  int top = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string& key = entries[i].key;
    if (!is_valid_key(key)) throw ParseError("mst: invalid key \"" + key + "\"");
    if (i > 0 && !(entries[i - 1].key < key))
      throw ParseError("mst: build() entries not sorted or repeated at \"" + key + "\"");
    int h = key_height(key);
    heights[i] = static_cast<std::uint8_t>(h);
    top = std::max(top, h);
  }
  Tree tree(source);
  if (!entries.empty()) tree.impl_->root = build_range(entries, heights, 0, entries.size(), top);
  return tree;
}

Tree::Tree(Tree&&) noexcept = default;
Tree& Tree::operator=(Tree&&) noexcept = default;
Tree::~Tree() = default;

std::optional<Cid> Tree::get(std::string_view key) const {
  if (!is_valid_key(key)) return std::nullopt;
  int height = key_height(key);
  Node* n = impl_->root_node();
  Range r;
  while (n) {
    impl_->load(*n, r, false);
    if (height > n->layer) return std::nullopt;
    std::size_t i = position(*n, key);
    if (holds(*n, i, key)) return n->items[i].value;
    if (height == n->layer) return std::nullopt;
    r = gap_range(*n, i, r);
    n = gap(*n, i).get();
  }
  return std::nullopt;
}

std::optional<Cid> Tree::put(std::string_view key, const Cid& value) {
  if (!is_valid_key(key)) throw ParseError("mst: invalid key \"" + std::string(key) + "\"");
  Impl& t = *impl_;
  int height = key_height(key);
  t.prefetch(key, /*for_delete=*/false);
  t.check_capacity(key, height, /*deleting=*/false);
  if (!t.root) {
    t.root = new_node(height);
    t.root->items.push_back(Node::Item{std::string(key), value, nullptr});
    return std::nullopt;
  }
  if (height > t.root->layer) {
    // A new top layer: everything so far splits into the new root's two
    // sides, each raised to just below it.
    int below = height - 1;
    auto [lower, upper] = t.split(std::move(t.root), {}, key);
    t.root = new_node(height);
    t.root->left = Impl::raise(std::move(lower), below);
    t.root->items.push_back(Node::Item{std::string(key), value, Impl::raise(std::move(upper), below)});
    return std::nullopt;
  }
  return t.insert(*t.root, {}, key, height, value).previous;
}

std::optional<Cid> Tree::remove(std::string_view key) {
  if (!is_valid_key(key)) return std::nullopt;
  Impl& t = *impl_;
  int height = key_height(key);
  t.prefetch(key, /*for_delete=*/true);
  t.check_capacity(key, height, /*deleting=*/true);
  if (!t.root || height > t.root->layer) return std::nullopt;
  std::optional<Cid> old = t.erase(*t.root, {}, key, height);
  if (old) t.trim_root();
  return old;
}

void Tree::walk(std::string_view from, const std::function<bool(const Entry&)>& fn) const {
  if (Node* root = impl_->root_node()) impl_->walk(*root, {}, from, fn);
}

std::vector<Entry> Tree::list(std::string_view prefix, std::size_t limit) const {
  std::vector<Entry> out;
  if (limit == 0) return out;
  walk(prefix, [&](const Entry& e) {
    if (e.key.compare(0, prefix.size(), prefix) != 0) return false;
    out.push_back(e);
    return out.size() < limit;
  });
  return out;
}

std::size_t Tree::size() const {
  std::size_t count = 0;
  walk({}, [&](const Entry&) {
    ++count;
    return true;
  });
  return count;
}

bool Tree::empty() const { return impl_->root_node() == nullptr; }

Cid Tree::root() const { return impl_->root_cid(); }

void Tree::collect_new_blocks(BlockMap& out) {
  Impl& t = *impl_;
  if (Node* root = t.root_node()) {
    t.node_cid(*root);
    t.collect_dirty(*root, out);
  } else if (t.empty_dirty) {
    out.put(empty_root_cid(), Bytes(std::begin(kEmptyNodeBytes), std::end(kEmptyNodeBytes)));
  }
  t.empty_dirty = false;
}

void Tree::collect_all_blocks(BlockMap& out) const {
  if (Node* root = impl_->root_node()) {
    impl_->collect_all(*root, {}, out);
  } else {
    out.put(empty_root_cid(), Bytes(std::begin(kEmptyNodeBytes), std::end(kEmptyNodeBytes)));
  }
}

void Tree::collect_proof_blocks(std::string_view key, BlockMap& out) const {
  Impl& t = *impl_;
  if (!t.root_node()) {
    out.put(empty_root_cid(), Bytes(std::begin(kEmptyNodeBytes), std::end(kEmptyNodeBytes)));
    return;
  }
  t.visit_path(key, /*with_neighbours=*/false, [&](Node& n) { t.add_block(n, out); });
}

void Tree::collect_commit_proof(const std::vector<std::string>& keys, BlockMap& out) const {
  Impl& t = *impl_;
  if (!t.root_node()) {
    out.put(empty_root_cid(), Bytes(std::begin(kEmptyNodeBytes), std::end(kEmptyNodeBytes)));
    return;
  }
  for (const std::string& key : keys)
    t.visit_path(key, /*with_neighbours=*/true, [&](Node& n) { t.add_block(n, out); });
}

std::vector<Change> Tree::diff(const Tree& from, const Tree& to) {
  std::vector<Change> changes;
  Impl::Cursor a(*from.impl_);
  Impl::Cursor b(*to.impl_);
  while (!a.done() || !b.done()) {
    if (a.done() || b.done()) {
      // One side exhausted: whatever is left on the other is all new or gone.
      Impl::drain_step(a.done() ? b : a, /*added=*/a.done(), changes);
    } else if (a.top().node || b.top().node) {
      Impl::descend(a, b);
    } else {
      Impl::compare_entries(a, b, changes);
    }
  }
  return changes;
}

void Tree::verify() const {
  if (Node* root = impl_->root_node()) impl_->verify(*root, {}, true);
}

}  // namespace atcr::mst

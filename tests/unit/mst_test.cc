#include "atcr/repo/mst.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <time.h>

#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "atcr/data/cbor.h"
#include "atcr/data/value.h"
#include "atcr/error.h"
#include "fixtures.h"

using namespace atcr;
using atcr::mst::Change;
using atcr::mst::Entry;
using atcr::mst::Tree;

namespace {

using Model = std::map<std::string, Cid>;

rapidjson::Document load_json(const std::string& fixture) {
  rapidjson::Document doc;
  doc.Parse(test::read_fixture(fixture).c_str());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

// CPU time of this process, so timings mean something on a busy machine.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

Cid value_cid(std::uint64_t n) { return Cid::compute(Codec::kRaw, to_bytes("record " + std::to_string(n))); }

std::vector<Entry> entries_of(const Model& model) {
  std::vector<Entry> out;
  for (const auto& [k, v] : model) out.push_back(Entry{k, v});
  return out;
}

Model model_of(const Tree& tree) {
  Model out;
  tree.walk({}, [&](const Entry& e) {
    out.emplace(e.key, e.value);
    return true;
  });
  return out;
}

// Random valid repo paths; `height` >= 0 mines a key of exactly that height.
std::string random_key(std::mt19937_64& rng, int height = -1) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz234567";
  static const char* kCollections[] = {"app.bsky.feed.post", "app.bsky.feed.like", "com.example.record"};
  for (;;) {
    std::string key = kCollections[rng() % 3];
    key += '/';
    for (int i = 0; i < 13; ++i) key += kChars[rng() % 32];
    if (height < 0 || mst::key_height(key) == height) return key;
  }
}

// A pool of keys for one property round: mostly random (so heights 0..3
// come naturally), plus mined keys at heights 1..5 to force tall trees.
std::vector<std::string> key_pool(std::mt19937_64& rng, std::size_t n) {
  std::set<std::string> keys;
  while (keys.size() < n) keys.insert(random_key(rng));
  for (int h = 1; h <= 5; ++h) {
    for (int i = 0; i < (h <= 3 ? 3 : 1); ++i) keys.insert(random_key(rng, h));
  }
  return {keys.begin(), keys.end()};
}

// A BlockSource that counts reads, to check laziness.
class CountingSource : public BlockSource {
 public:
  explicit CountingSource(const BlockSource& inner) : inner_(inner) {}
  std::optional<Bytes> get(const Cid& cid) const override {
    ++reads;
    return inner_.get(cid);
  }
  mutable std::size_t reads = 0;

 private:
  const BlockSource& inner_;
};

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// ---------------------------------------------------------------------------
// Fixtures

TEST_CASE("key heights (mst/key_heights.json)") {
  auto doc = load_json("mst/key_heights.json");
  REQUIRE(doc.GetArray().Size() == 9);
  for (const auto& c : doc.GetArray()) {
    std::string key = c["key"].GetString();
    CAPTURE(key);
    CHECK(mst::key_height(key) == c["height"].GetInt());
  }
}

TEST_CASE("common prefix lengths (mst/common_prefix.json)") {
  auto doc = load_json("mst/common_prefix.json");
  REQUIRE(doc.GetArray().Size() == 13);
  for (const auto& c : doc.GetArray()) {
    std::string left(c["left"].GetString(), c["left"].GetStringLength());
    std::string right(c["right"].GetString(), c["right"].GetStringLength());
    CAPTURE(left);
    CAPTURE(right);
    CHECK(mst::common_prefix_length(left, right) == static_cast<std::size_t>(c["len"].GetInt()));
  }
}

TEST_CASE("example keys: the digit after the letter is the height") {
  auto keys = test::fixture_lines("mst/example_keys.txt");
  REQUIRE(keys.size() == 156);
  for (const auto& key : keys) {
    CAPTURE(key);
    CHECK(mst::is_valid_key(key));
    CHECK(mst::key_height(key) == key[1] - '0');
  }

  // The same tree whatever the insertion order, and equal to build().
  BlockMap store;
  std::vector<Entry> sorted;
  for (std::size_t i = 0; i < keys.size(); ++i) sorted.push_back(Entry{keys[i], value_cid(i)});
  std::sort(sorted.begin(), sorted.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
  Tree built = Tree::build(store, sorted);
  built.verify();
  std::mt19937_64 rng(7);
  for (int round = 0; round < 5; ++round) {
    std::vector<Entry> shuffled = sorted;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    Tree tree(store);
    for (const auto& e : shuffled) tree.put(e.key, e.value);
    tree.verify();
    CHECK(tree.root() == built.root());
    CHECK(tree.size() == keys.size());
  }
}

TEST_CASE("key validity") {
  CHECK(mst::is_valid_key("app.bsky.feed.post/3lo3kqqljmfe2"));
  CHECK(mst::is_valid_key("a/b"));
  CHECK(mst::is_valid_key("com.example/self:with~odd_chars-."));
  CHECK(mst::is_valid_key("a/" + std::string(mst::kMaxKeyBytes - 2, 'x')));
  CHECK_FALSE(mst::is_valid_key("a/" + std::string(mst::kMaxKeyBytes - 1, 'x')));
  CHECK_FALSE(mst::is_valid_key(""));
  CHECK_FALSE(mst::is_valid_key("asdf"));
  CHECK_FALSE(mst::is_valid_key("/rkey"));
  CHECK_FALSE(mst::is_valid_key("coll/"));
  CHECK_FALSE(mst::is_valid_key("a/b/c"));
  CHECK_FALSE(mst::is_valid_key("coll/with space"));
  CHECK_FALSE(mst::is_valid_key("coll/caf\xc3\xa9"));

  BlockMap store;
  Tree tree(store);
  CHECK_THROWS_AS(tree.put("no-slash", value_cid(1)), ParseError);
  CHECK_FALSE(tree.remove("no-slash"));
  CHECK_FALSE(tree.get("no-slash"));
  CHECK_THROWS_AS(Tree::build(store, {Entry{"b/1", value_cid(1)}, Entry{"a/1", value_cid(1)}}), ParseError);
  CHECK_THROWS_AS(Tree::build(store, {Entry{"a/1", value_cid(1)}, Entry{"a/1", value_cid(2)}}), ParseError);
}

TEST_CASE("the empty tree") {
  const char* kEmpty = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";
  CHECK(mst::empty_root_cid().to_string() == kEmpty);

  BlockMap store;
  Tree tree(store);
  CHECK(tree.root().to_string() == kEmpty);
  CHECK(tree.empty());
  CHECK(tree.size() == 0);
  tree.verify();

  BlockMap blocks;
  tree.collect_new_blocks(blocks);
  REQUIRE(blocks.size() == 1);
  CHECK(blocks.blocks()[0].first == mst::empty_root_cid());
  CHECK(blocks.blocks()[0].second == Bytes{0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6});
  BlockMap again;
  tree.collect_new_blocks(again);
  CHECK(again.empty());

  // Loading the empty root needs no block at all.
  BlockMap nothing;
  Tree loaded(nothing, mst::empty_root_cid());
  CHECK(loaded.empty());
  CHECK_FALSE(loaded.get("a/b"));
  loaded.verify();
  CHECK(Tree::build(nothing, {}).root() == mst::empty_root_cid());

  // Deleting the only key gives the empty root back.
  tree.put("com.example/one", value_cid(1));
  CHECK_FALSE(tree.empty());
  CHECK(tree.remove("com.example/one") == value_cid(1));
  CHECK(tree.root() == mst::empty_root_cid());
}

TEST_CASE("commit proof fixtures (firehose/commit-proof-fixtures.json)") {
  auto doc = load_json("firehose/commit-proof-fixtures.json");
  REQUIRE(doc.GetArray().Size() == 6);
  for (const auto& c : doc.GetArray()) {
    CAPTURE(std::string(c["comment"].GetString()));
    Cid leaf = Cid::parse(c["leafValue"].GetString());
    std::vector<Entry> entries;
    for (const auto& k : c["keys"].GetArray()) entries.push_back(Entry{k.GetString(), leaf});

    BlockMap store;
    Tree before = Tree::build(store, entries);
    CHECK(before.root().to_string() == c["rootBeforeCommit"].GetString());

    // The same root from one put() at a time.
    Tree incremental(store);
    for (const auto& e : entries) incremental.put(e.key, e.value);
    CHECK(incremental.root() == before.root());
    before.collect_new_blocks(store);

    Tree tree(store, before.root());
    std::vector<std::string> changed;
    for (const auto& k : c["adds"].GetArray()) {
      CHECK_FALSE(tree.put(k.GetString(), leaf));
      changed.push_back(k.GetString());
    }
    for (const auto& k : c["dels"].GetArray()) {
      CHECK(tree.remove(k.GetString()) == leaf);
      changed.push_back(k.GetString());
    }
    Cid after = tree.root();
    CHECK(after.to_string() == c["rootAfterCommit"].GetString());
    tree.verify();

    BlockMap proof;
    tree.collect_commit_proof(changed, proof);
    for (const auto& b : c["blocksInProof"].GetArray()) {
      CAPTURE(std::string(b.GetString()));
      CHECK(proof.has(Cid::parse(b.GetString())));
    }

    // A consumer holding only the proof undoes the commit, in either order.
    for (bool reverse : {false, true}) {
      Tree partial(proof, after);
      std::vector<std::pair<std::string, bool>> inverse;  // key, re-insert?
      for (const auto& k : c["adds"].GetArray()) inverse.emplace_back(k.GetString(), false);
      for (const auto& k : c["dels"].GetArray()) inverse.emplace_back(k.GetString(), true);
      if (reverse) std::reverse(inverse.begin(), inverse.end());
      for (const auto& [key, reinsert] : inverse) {
        if (reinsert) {
          CHECK_FALSE(partial.put(key, leaf));
        } else {
          CHECK(partial.remove(key) == leaf);
        }
      }
      CHECK(partial.root().to_string() == c["rootBeforeCommit"].GetString());
    }
  }
}

// ---------------------------------------------------------------------------
// Properties

TEST_CASE("random edits match build() and survive a round trip through the store") {
  std::mt19937_64 rng(0x6d7374);
  for (int round = 0; round < 50; ++round) {
    CAPTURE(round);
    std::size_t target = round % 5 == 0 ? 12 : 50 + rng() % 1950;
    std::vector<std::string> pool = key_pool(rng, target + target / 3);
    BlockMap store;
    Tree tree(store);
    Model model;
    std::size_t ops = target * 2;
    std::size_t reload_every = std::max<std::size_t>(ops / 4, 1);
    for (std::size_t op = 0; op < ops; ++op) {
      unsigned dice = rng() % 100;
      if (dice < 60 || model.empty()) {
        const std::string& key = pool[rng() % pool.size()];
        Cid value = value_cid(rng() % 4);  // repeats, so some puts change nothing
        auto it = model.find(key);
        std::optional<Cid> expected = it == model.end() ? std::nullopt : std::optional<Cid>(it->second);
        REQUIRE(tree.put(key, value) == expected);
        model.insert_or_assign(key, value);
      } else if (dice < 90) {
        auto it = std::next(model.begin(), static_cast<std::ptrdiff_t>(rng() % model.size()));
        std::string key = it->first;
        REQUIRE(tree.remove(key) == it->second);
        model.erase(key);
      } else {
        const std::string& key = pool[rng() % pool.size()];
        auto it = model.find(key);
        std::optional<Cid> expected = it == model.end() ? std::nullopt : std::optional<Cid>(it->second);
        REQUIRE(tree.remove(key) == expected);
        model.erase(key);
      }
      if (op % reload_every == reload_every - 1) {
        // Persist and continue on a lazily read copy.
        tree.collect_new_blocks(store);
        Cid root = tree.root();
        tree = Tree(store, root);
      }
    }
    tree.collect_new_blocks(store);
    Cid root = tree.root();

    BlockMap scratch;
    CHECK(Tree::build(scratch, entries_of(model)).root() == root);

    Tree loaded(store, root);
    loaded.verify();
    CHECK(loaded.size() == model.size());
    CHECK(model_of(loaded) == model);
    for (int i = 0; i < 20; ++i) {
      const std::string& key = pool[rng() % pool.size()];
      auto it = model.find(key);
      CHECK(loaded.get(key) == (it == model.end() ? std::nullopt : std::optional<Cid>(it->second)));
    }

    // Deleting everything, in random order, leaves the empty tree.
    std::vector<std::string> keys;
    for (const auto& [k, v] : model) keys.push_back(k);
    std::shuffle(keys.begin(), keys.end(), rng);
    for (const auto& k : keys) REQUIRE(loaded.remove(k));
    CHECK(loaded.root() == mst::empty_root_cid());
    CHECK(loaded.empty());
  }
}

TEST_CASE("collect_new_blocks hands out only what changed") {
  std::mt19937_64 rng(11);
  std::vector<std::string> pool = key_pool(rng, 1000);
  BlockMap store;
  Model model;
  for (std::size_t i = 0; i < pool.size(); ++i) model.emplace(pool[i], value_cid(i));
  Tree tree = Tree::build(store, entries_of(model));
  BlockMap first;
  tree.collect_new_blocks(first);
  BlockMap all;
  tree.collect_all_blocks(all);
  CHECK(first.size() == all.size());
  CHECK(first.blocks().front().first == tree.root());  // parents first
  store.merge(first);

  BlockMap none;
  tree.collect_new_blocks(none);
  CHECK(none.empty());

  // One edit: only the nodes on its path are new, and they suffice.
  Tree loaded(store, tree.root());
  loaded.put(pool[500], value_cid(99999));
  BlockMap delta;
  loaded.collect_new_blocks(delta);
  CHECK(delta.size() >= 1);
  CHECK(delta.size() <= 12);
  for (const auto& [cid, bytes] : delta.blocks()) CHECK_FALSE(store.has(cid));
  store.merge(delta);
  Tree reread(store, loaded.root());
  reread.verify();
  CHECK(reread.get(pool[500]) == value_cid(99999));

  // A put of the same value changes nothing.
  Tree same(store, reread.root());
  CHECK(same.put(pool[10], model.at(pool[10])) == model.at(pool[10]));
  BlockMap nothing;
  same.collect_new_blocks(nothing);
  CHECK(nothing.empty());
}

TEST_CASE("get, list and walk agree with a std::map") {
  std::mt19937_64 rng(3);
  std::vector<std::string> pool = key_pool(rng, 3000);
  Model model;
  for (std::size_t i = 0; i < pool.size(); ++i) model.emplace(pool[i], value_cid(i));
  BlockMap store;
  Tree built = Tree::build(store, entries_of(model));
  built.collect_new_blocks(store);
  Tree tree(store, built.root());

  CHECK(tree.size() == model.size());
  for (const char* prefix : {"app.bsky.feed.like/", "app.bsky.feed.post/", "com.example.record/b", "zzz", ""}) {
    CAPTURE(prefix);
    std::vector<Entry> expected;
    for (const auto& [k, v] : model) {
      if (k.rfind(prefix, 0) == 0) expected.push_back(Entry{k, v});
    }
    auto got = tree.list(prefix);
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].key == expected[i].key);
      CHECK(got[i].value == expected[i].value);
    }
    auto limited = tree.list(prefix, 7);
    CHECK(limited.size() == std::min<std::size_t>(7, expected.size()));
    for (std::size_t i = 0; i < limited.size(); ++i) CHECK(limited[i].key == expected[i].key);
  }
  CHECK(tree.list("", 0).empty());

  for (int i = 0; i < 50; ++i) {
    // From present and absent keys alike, stopping after a few.
    std::string from = i % 2 ? pool[rng() % pool.size()] : random_key(rng);
    std::vector<std::string> got;
    tree.walk(from, [&](const Entry& e) {
      got.push_back(e.key);
      return got.size() < 25;
    });
    std::vector<std::string> expected;
    for (auto it = model.lower_bound(from); it != model.end() && expected.size() < 25; ++it)
      expected.push_back(it->first);
    CHECK(got == expected);
  }

  for (int i = 0; i < 200; ++i) {
    std::string key = i % 2 ? pool[rng() % pool.size()] : random_key(rng);
    auto it = model.find(key);
    CHECK(tree.get(key) == (it == model.end() ? std::nullopt : std::optional<Cid>(it->second)));
  }
}

TEST_CASE("proof blocks answer get() on their own") {
  std::mt19937_64 rng(13);
  std::vector<std::string> pool = key_pool(rng, 2000);
  Model model;
  for (std::size_t i = 0; i < pool.size(); i += 2) model.emplace(pool[i], value_cid(i));
  BlockMap store;
  Tree tree = Tree::build(store, entries_of(model));
  Cid root = tree.root();
  for (std::size_t i = 0; i < 60; ++i) {
    const std::string& key = pool[(rng() % pool.size())];
    CAPTURE(key);
    BlockMap proof;
    tree.collect_proof_blocks(key, proof);
    CHECK(proof.has(root));
    CHECK(proof.size() <= 12);
    auto it = model.find(key);
    CHECK(Tree(proof, root).get(key) == (it == model.end() ? std::nullopt : std::optional<Cid>(it->second)));
  }
  BlockMap empty_proof;
  Tree(store).collect_proof_blocks("a/b", empty_proof);
  CHECK(empty_proof.has(mst::empty_root_cid()));
}

TEST_CASE("diff(a, b) applied to a gives b") {
  std::mt19937_64 rng(5);
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    std::vector<std::string> pool = key_pool(rng, 50 + rng() % 1500);
    Model ma;
    Model mb;
    for (const auto& k : pool) {
      unsigned dice = rng() % 100;
      std::uint64_t v = rng() % 3;
      if (round % 4 == 0) {  // unrelated trees
        if (dice < 50) ma.emplace(k, value_cid(v));
        if (dice % 2) mb.emplace(k, value_cid(v + (dice < 20)));
      } else {  // b is a with a few edits
        if (dice < 90) ma.emplace(k, value_cid(v));
        if (dice < 88 || (dice >= 90 && dice < 92)) mb.emplace(k, value_cid(v + (dice == 0)));
      }
    }
    if (round == 1) ma.clear();
    if (round == 2) mb.clear();

    BlockMap store;
    Tree a = Tree::build(store, entries_of(ma));
    a.collect_new_blocks(store);
    Tree b = Tree::build(store, entries_of(mb));

    std::vector<Change> expected;
    for (const auto& [k, v] : ma) {
      auto it = mb.find(k);
      if (it == mb.end()) expected.push_back(Change{k, v, std::nullopt});
      else if (it->second != v) expected.push_back(Change{k, v, it->second});
    }
    for (const auto& [k, v] : mb) {
      if (!ma.count(k)) expected.push_back(Change{k, std::nullopt, v});
    }
    std::sort(expected.begin(), expected.end(), [](const Change& x, const Change& y) { return x.key < y.key; });

    auto changes = Tree::diff(a, b);
    REQUIRE(changes.size() == expected.size());
    for (std::size_t i = 0; i < changes.size(); ++i) {
      CHECK(changes[i].key == expected[i].key);
      CHECK(changes[i].before == expected[i].before);
      CHECK(changes[i].after == expected[i].after);
    }

    Tree patched(store, a.root());
    for (const auto& c : changes) {
      if (c.after) {
        patched.put(c.key, *c.after);
      } else {
        patched.remove(c.key);
      }
    }
    CHECK(patched.root() == b.root());
    CHECK(Tree::diff(b, a).size() == changes.size());
    CHECK(Tree::diff(a, a).empty());
  }
}

TEST_CASE("diff of big trees with small changes reads few nodes") {
  std::mt19937_64 rng(17);
  std::vector<std::string> pool = key_pool(rng, 20000);
  Model model;
  for (std::size_t i = 0; i < pool.size(); ++i) model.emplace(pool[i], value_cid(i));
  BlockMap store;
  Tree a = Tree::build(store, entries_of(model));
  a.collect_new_blocks(store);
  Tree edit(store, a.root());
  edit.put(pool[1234], value_cid(1));
  edit.remove(pool[4321]);
  edit.put(random_key(rng), value_cid(2));
  edit.collect_new_blocks(store);

  CountingSource counting(store);
  Tree from(counting, a.root());
  Tree to(counting, edit.root());
  auto changes = Tree::diff(from, to);
  CHECK(changes.size() == 3);
  MESSAGE("diff of two 20k-key trees with 3 changes read " << counting.reads << " nodes");
  CHECK(counting.reads < 150);
}

TEST_CASE("random multi-op commits can be inverted from the commit proof alone") {
  std::mt19937_64 rng(23);
  for (int round = 0; round < 60; ++round) {
    CAPTURE(round);
    std::vector<std::string> pool = key_pool(rng, 20 + rng() % 400);
    Model before;
    for (const auto& k : pool) {
      if (rng() % 100 < 70) before.emplace(k, value_cid(rng() % 3));
    }
    BlockMap store;
    Tree base = Tree::build(store, entries_of(before));
    base.collect_new_blocks(store);
    Cid before_root = base.root();

    // A commit of up to 12 creates, updates and deletes.
    Tree tree(store, before_root);
    std::map<std::string, std::optional<Cid>> previous;  // key -> value before the commit
    std::size_t n_ops = 1 + rng() % 12;
    for (std::size_t i = 0; i < n_ops; ++i) {
      const std::string& key = pool[rng() % pool.size()];
      if (previous.count(key)) continue;
      auto it = before.find(key);
      std::optional<Cid> prev = it == before.end() ? std::nullopt : std::optional<Cid>(it->second);
      if (prev && rng() % 2) {
        tree.remove(key);
      } else {
        tree.put(key, value_cid(100 + i));
      }
      previous.emplace(key, prev);
    }
    Cid after_root = tree.root();
    std::vector<std::string> keys;
    for (const auto& [k, v] : previous) keys.push_back(k);
    BlockMap proof;
    tree.collect_commit_proof(keys, proof);

    for (int order = 0; order < 3; ++order) {
      std::vector<std::string> sequence = keys;
      if (order == 1) std::reverse(sequence.begin(), sequence.end());
      if (order == 2) std::shuffle(sequence.begin(), sequence.end(), rng);
      Tree partial(proof, after_root);
      for (const auto& key : sequence) {
        if (const auto& prev = previous.at(key)) {
          partial.put(key, *prev);
        } else {
          partial.remove(key);
        }
      }
      CHECK(partial.root() == before_root);
    }
  }
}

// ---------------------------------------------------------------------------
// Hostile trees

namespace {

Value entry(std::string_view suffix, std::int64_t p, std::optional<Cid> t, const Cid& v) {
  Value::Map m;
  m.emplace("k", Value(to_bytes(suffix)));
  m.emplace("p", Value(p));
  m.emplace("t", t ? Value(*t) : Value(nullptr));
  m.emplace("v", Value(v));
  return Value(std::move(m));
}

Value node(Value::Array entries, std::optional<Cid> left) {
  Value::Map m;
  m.emplace("e", Value(std::move(entries)));
  m.emplace("l", left ? Value(*left) : Value(nullptr));
  return Value(std::move(m));
}

std::string verify_error(const BlockSource& store, const Cid& root) {
  return error_of([&] { Tree(store, root).verify(); });
}

}  // namespace

TEST_CASE("hostile nodes are rejected with clear errors") {
  BlockMap store;
  Cid v = value_cid(1);
  // Heights from example_keys.txt: the digit after the letter.
  auto leaf = [&](std::vector<std::string> keys) {
    Value::Array es;
    std::string prev;
    for (const auto& k : keys) {
      std::size_t p = mst::common_prefix_length(prev, k);
      es.push_back(entry(std::string_view(k).substr(p), static_cast<std::int64_t>(p), std::nullopt, v));
      prev = k;
    }
    return store.add(cbor::encode(node(std::move(es), std::nullopt)));
  };

  SUBCASE("a well-formed tree passes") {
    Cid l = leaf({"A0/374913"});
    Cid root = store.add(cbor::encode(node({entry("C2/014073", 0, std::nullopt, v)}, store.add(cbor::encode(node({}, l))))));
    CHECK(verify_error(store, root) == "(no error)");
  }
  SUBCASE("keys out of order") {
    Cid root = leaf({"B0/601692", "A0/374913"});
    std::string err = verify_error(store, root);
    CHECK(err.find(root.to_string()) != std::string::npos);
    CHECK(err.find("out of order") != std::string::npos);
    CHECK_THROWS_AS(Tree(store, root).verify(), VerifyError);
  }
  SUBCASE("repeated key") {
    CHECK(verify_error(store, leaf({"A0/374913", "A0/374913"})).find("out of order or repeated") != std::string::npos);
  }
  SUBCASE("key of the wrong height") {
    Cid root = leaf({"A0/374913", "B1/986427"});
    CHECK(verify_error(store, root).find("height 1 in a node at layer 0") != std::string::npos);
    CHECK_THROWS_AS(Tree(store, root).get("A0/374913"), VerifyError);
  }
  SUBCASE("a link that skips a layer") {
    Cid l = leaf({"A0/374913"});
    Cid root = store.add(cbor::encode(node({entry("C2/014073", 0, std::nullopt, v)}, l)));
    std::string err = verify_error(store, root);
    CHECK(err.find(l.to_string()) != std::string::npos);
    CHECK(err.find("height 0 in a node at layer 1") != std::string::npos);
  }
  SUBCASE("garbage CBOR") {
    Bytes garbage{0xa2, 0x61, 0x65, 0x9f, 0xff};
    Cid root = Cid::compute(Codec::kDagCbor, garbage);
    store.put(root, garbage);
    std::string err = verify_error(store, root);
    CHECK(err.find(root.to_string()) != std::string::npos);
    CHECK_THROWS_AS(Tree(store, root).verify(), ParseError);
  }
  SUBCASE("a huge prefix length") {
    Cid root = store.add(cbor::encode(
        node({entry("A0/374913", 0, std::nullopt, v), entry("x", std::int64_t{1} << 40, std::nullopt, v)},
             std::nullopt)));
    CHECK(verify_error(store, root).find("prefix length p=1099511627776 exceeds") != std::string::npos);
  }
  SUBCASE("a negative prefix length") {
    Cid root = store.add(cbor::encode(node({entry("A0/374913", -1, std::nullopt, v)}, std::nullopt)));
    CHECK(verify_error(store, root).find("prefix length p=-1") != std::string::npos);
  }
  SUBCASE("first entry with a prefix") {
    Cid root = store.add(cbor::encode(node({entry("A0/374913", 2, std::nullopt, v)}, std::nullopt)));
    CHECK(verify_error(store, root).find("exceeds") != std::string::npos);
  }
  SUBCASE("non-canonical prefix compression") {
    std::mt19937_64 rng(1);
    std::vector<std::string> keys;
    for (int i = 0; keys.size() < 2; ++i) {
      std::string k = "com.example/k" + std::to_string(i);
      if (mst::key_height(k) == 0) keys.push_back(k);
    }
    Cid root = store.add(cbor::encode(
        node({entry(keys[0], 0, std::nullopt, v), entry(keys[1], 0, std::nullopt, v)}, std::nullopt)));
    CHECK(verify_error(store, root).find("not the length of the prefix shared") != std::string::npos);
  }
  SUBCASE("missing t") {
    Value e = entry("A0/374913", 0, std::nullopt, v);
    e.as_map().erase("t");
    Cid root = store.add(cbor::encode(node({e}, std::nullopt)));
    CHECK(verify_error(store, root).find("exactly the fields k, p, t, v") != std::string::npos);
  }
  SUBCASE("missing l") {
    Value n = node({entry("A0/374913", 0, std::nullopt, v)}, std::nullopt);
    n.as_map().erase("l");
    Cid root = store.add(cbor::encode(n));
    CHECK(verify_error(store, root).find("exactly the fields e and l") != std::string::npos);
  }
  SUBCASE("k is text, not bytes") {
    Value e = entry("A0/374913", 0, std::nullopt, v);
    e.as_map()["k"] = Value("A0/374913");
    Cid root = store.add(cbor::encode(node({e}, std::nullopt)));
    CHECK(verify_error(store, root).find("\"k\" is not a byte string") != std::string::npos);
  }
  SUBCASE("an empty node below the root") {
    Cid empty = store.add(cbor::encode(node({}, std::nullopt)));
    Cid root = store.add(cbor::encode(node({entry("C2/014073", 0, std::nullopt, v)}, empty)));
    CHECK(verify_error(store, root).find("an empty node below the root") != std::string::npos);
  }
  SUBCASE("an untrimmed root") {
    Cid l = leaf({"A0/374913"});
    Cid root = store.add(cbor::encode(node({}, l)));
    CHECK(verify_error(store, root).find("untrimmed top layer") != std::string::npos);
  }
  SUBCASE("a key outside its parent's range") {
    Cid below = leaf({"A0/374913"});
    Cid root = store.add(cbor::encode(node({entry("B1/986427", 0, below, v)}, std::nullopt)));
    CHECK(verify_error(store, root).find("outside the range") != std::string::npos);
  }
  SUBCASE("a key outside a grandparent's range") {
    // C0 sits in the layer-0 node under the layer-1 node left of A2..., but
    // the layer-1 node's bounds come from the root: everything must be < B2.
    Cid l0 = leaf({"C0/451630"});
    Cid l1 = store.add(cbor::encode(node({}, l0)));
    Cid root = store.add(cbor::encode(node({entry("B2/827649", 0, std::nullopt, v)}, l1)));
    CHECK(verify_error(store, root).find("outside the range") != std::string::npos);
  }
  SUBCASE("a layer-0 node with a subtree") {
    Cid l = leaf({"B0/601692"});
    Cid root = store.add(cbor::encode(node({entry("A0/374913", 0, l, v)}, std::nullopt)));
    CHECK(verify_error(store, root).find("layer-0 node links to a subtree") != std::string::npos);
  }
  SUBCASE("an invalid key") {
    Cid root = store.add(cbor::encode(node({entry("asdf", 0, std::nullopt, v)}, std::nullopt)));
    CHECK(verify_error(store, root).find("not a valid repo path") != std::string::npos);
  }
  SUBCASE("a subtree link that is not a dag-cbor CID") {
    Cid raw = Cid::compute(Codec::kRaw, to_bytes("x"));
    Cid root = store.add(cbor::encode(node({entry("C2/014073", 0, std::nullopt, v)}, raw)));
    CHECK(verify_error(store, root).find("not a blessed dag-cbor CID") != std::string::npos);
  }
  SUBCASE("a block that does not match its CID") {
    Cid real = leaf({"A0/374913"});
    Cid fake = Cid::compute(Codec::kDagCbor, to_bytes("something else"));
    store.put(fake, *store.get(real));
    CHECK(verify_error(store, fake).find("does not hash to its CID") != std::string::npos);
  }
  SUBCASE("too many entries") {
    Value::Array es(8193, entry("A0/374913", 0, std::nullopt, v));
    Cid root = store.add(cbor::encode(node(std::move(es), std::nullopt)));
    CHECK(verify_error(store, root).find("8193 entries (limit 8192)") != std::string::npos);
  }
  SUBCASE("a missing subtree only matters when it is needed") {
    Cid missing = Cid::compute(Codec::kDagCbor, to_bytes("not stored"));
    Cid root = store.add(cbor::encode(node({entry("C2/014073", 0, missing, v)}, std::nullopt)));
    Tree tree(store, root);
    CHECK(tree.get("C2/014073") == v);
    CHECK(tree.get("A0/374913") == std::nullopt);  // left of C2: no subtree there
    CHECK_THROWS_AS(tree.get("D0/952776"), NotFoundError);
    CHECK(error_of([&] { tree.verify(); }).find(missing.to_string()) != std::string::npos);
    // A failed edit leaves the tree as it was.
    CHECK_THROWS_AS(tree.put("D0/952776", v), NotFoundError);
    CHECK(tree.root() == root);
    CHECK(tree.get("C2/014073") == v);
  }
}

TEST_CASE("edits never make a node bigger than a loaded tree may have") {
  // Keys mined to sit in one layer pile up in one node.
  auto mined = [](const std::string& prefix, int height, std::size_t count) {
    std::vector<std::string> keys;
    for (int i = 0; keys.size() < count; ++i) {
      char digits[16];
      std::snprintf(digits, sizeof digits, "%07d", i);
      std::string k = prefix + digits;
      if (mst::key_height(k) == height) keys.push_back(k);
    }
    return keys;
  };
  BlockMap store;
  Cid v = value_cid(1);

  std::vector<Entry> full;
  for (const auto& k : mined("com.example/a", 0, mst::kMaxNodeEntries + 1)) full.push_back(Entry{k, v});
  CHECK_THROWS_AS(Tree::build(store, full), ParseError);
  std::string extra = full.back().key;
  full.pop_back();
  Tree tree = Tree::build(store, full);
  Cid root = tree.root();
  CHECK(error_of([&] { tree.put(extra, v); }).find("more than 8192 entries in one node") != std::string::npos);
  CHECK(tree.root() == root);
  tree.put(full[5].key, value_cid(2));  // replacing is fine
  CHECK(tree.remove(full[0].key));

  // Deleting the one higher key between two big leaves would merge them.
  std::vector<Entry> two;
  for (const auto& k : mined("com.example/a", 0, 5000)) two.push_back(Entry{k, v});
  std::string middle = mined("com.example/b", 1, 1)[0];
  two.push_back(Entry{middle, v});
  for (const auto& k : mined("com.example/c", 0, 5000)) two.push_back(Entry{k, v});
  Tree split = Tree::build(store, two);
  split.collect_new_blocks(store);
  Tree loaded(store, split.root());
  CHECK(error_of([&] { loaded.remove(middle); }).find("would merge more than 8192") != std::string::npos);
  CHECK(loaded.root() == split.root());
  CHECK(loaded.get(middle) == v);
}

// ---------------------------------------------------------------------------
// Speed

TEST_CASE("build() of 100k keys") {
  std::mt19937_64 rng(99);
  std::set<std::string> keys;
  while (keys.size() < 100000) keys.insert(random_key(rng));
  std::vector<Entry> entries;
  entries.reserve(keys.size());
  std::uint64_t i = 0;
  for (const auto& k : keys) entries.push_back(Entry{k, value_cid(i++)});

  BlockMap store;
  double t0 = cpu_ms();
  Tree tree = Tree::build(store, entries);
  Cid root = tree.root();
  double t1 = cpu_ms();
  BlockMap blocks;
  tree.collect_new_blocks(blocks);
  double t2 = cpu_ms();
  Tree loaded(blocks, root);
  CHECK(loaded.size() == entries.size());
  double t3 = cpu_ms();

  char line[200];
  std::snprintf(line, sizeof line,
                "100k keys (CPU time): build+root %.1f ms, collect_new_blocks %.1f ms (%zu nodes), load+walk %.1f ms",
                t1 - t0, t2 - t1, blocks.size(), t3 - t2);
  MESSAGE(line);
  CHECK(root == loaded.root());
}

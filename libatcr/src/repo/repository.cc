#include "atcr/repo/repository.h"

#include <algorithm>
#include <ostream>
#include <set>
#include <sstream>
#include <unordered_set>

#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/data/tid.h"
#include "atcr/error.h"
#include "atcr/repo/mst.h"

namespace atcr {

namespace {

// atproto caps a record at 1 MB of DAG-CBOR (firehose limits).
constexpr std::size_t kMaxRecordBytes = 1'000'000;

TidClock& rev_clock() {
  static TidClock clock;
  return clock;
}

std::string make_path(std::string_view collection, std::string_view rkey) {
  std::string path;
  path.reserve(collection.size() + 1 + rkey.size());
  path.append(collection).append("/").append(rkey);
  return path;
}

RecordEntry split_path(const mst::Entry& e) {
  auto slash = e.key.find('/');
  return {e.key.substr(0, slash), e.key.substr(slash + 1), e.value};
}

const char* action_name(RecordWrite::Action a) {
  switch (a) {
    case RecordWrite::Action::kCreate: return "create";
    case RecordWrite::Action::kUpdate: return "update";
    case RecordWrite::Action::kDelete: return "delete";
  }
  return "?";
}

// Encodes a record for storage after checking it is a valid record.
Bytes encode_record(const RecordWrite& w, const std::string& path) {
  try {
    json::validate_record(w.record);
  } catch (const ParseError& e) {
    throw ParseError("record " + path + ": " + e.what());
  }
  Bytes bytes = cbor::encode(w.record);
  if (bytes.size() > kMaxRecordBytes)
    throw ParseError("record " + path + ": " + std::to_string(bytes.size()) + " bytes exceeds the 1 MB limit");
  return bytes;
}

void validate_write_target(const RecordWrite& w) {
  syntax::validate_nsid(w.collection);
  syntax::validate_record_key(w.rkey);
}

Commit load_commit(const BlockSource& blocks, const Cid& cid) {
  auto bytes = blocks.get(cid);
  if (!bytes) throw VerifyError("commit block " + cid.to_string() + " is missing");
  if (Cid::compute(Codec::kDagCbor, *bytes) != cid)
    throw VerifyError("commit block does not match its CID " + cid.to_string());
  return Commit::decode(*bytes);
}

// Blocks reachable from a commit: the commit, every MST node, every record.
BlockMap reachable_blocks(const BlockSource& source, const Cid& commit_cid, const Commit& commit,
                          const mst::Tree& tree) {
  BlockMap out;
  out.put(commit_cid, commit.encode());
  tree.collect_all_blocks(out);
  tree.walk({}, [&](const mst::Entry& e) {
    auto b = source.get(e.value);
    if (!b) throw VerifyError("record block " + e.value.to_string() + " for " + e.key + " is missing");
    out.put(e.value, std::move(*b));
    return true;
  });
  return out;
}

}  // namespace

RecordWrite RecordWrite::create(std::string collection, std::string rkey, Value record) {
  return {Action::kCreate, std::move(collection), std::move(rkey), std::move(record)};
}
RecordWrite RecordWrite::update(std::string collection, std::string rkey, Value record) {
  return {Action::kUpdate, std::move(collection), std::move(rkey), std::move(record)};
}
RecordWrite RecordWrite::remove(std::string collection, std::string rkey) {
  return {Action::kDelete, std::move(collection), std::move(rkey), Value()};
}

struct Repository::Impl {
  Impl(RepoStorage& s, std::string d, Cid head_cid, Commit c)
      : storage(s),
        did(std::move(d)),
        blocks(std::make_unique<RepoBlocks>(s, did)),
        head(head_cid),
        commit(std::move(c)),
        tree(*blocks, commit.data) {}

  RepoStorage& storage;
  std::string did;
  std::unique_ptr<RepoBlocks> blocks;  // on the heap: the tree keeps a reference
  Cid head;
  Commit commit;
  mst::Tree tree;

  // Forgets in-memory edits (after a failed write): back to the head's tree.
  void reset_tree() { tree = mst::Tree(*blocks, commit.data); }

  CommitResult write_commit(mst::Tree& next_tree, BlockMap new_blocks, std::vector<RecordOp> ops,
                            const std::vector<std::string>& changed, const PrivateKey& key) {
    Tid rev = rev_clock().next_after(Tid::parse(commit.rev));
    Cid data = next_tree.root();
    next_tree.collect_new_blocks(new_blocks);
    Commit next = Commit::sign(did, data, rev.to_string(), key);
    Bytes commit_bytes = next.encode();
    Cid commit_cid = Cid::compute(Codec::kDagCbor, commit_bytes);
    new_blocks.put(commit_cid, commit_bytes);
    storage.commit(did, new_blocks, head, RepoHead{commit_cid, next.rev});

    CommitResult result{commit_cid, next.rev, commit.rev, commit.data, std::move(ops), {}, {}};
    result.proof_blocks.put(commit_cid, commit_bytes);
    next_tree.collect_commit_proof(changed, result.proof_blocks);
    for (const RecordOp& op : result.ops)
      if (op.cid) result.proof_blocks.put(*op.cid, *new_blocks.find(*op.cid));
    result.blocks = std::move(new_blocks);
    head = commit_cid;
    commit = std::move(next);
    return result;
  }
};

Repository::Repository(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Repository::Repository(Repository&&) noexcept = default;
Repository& Repository::operator=(Repository&&) noexcept = default;
Repository::~Repository() = default;

Repository Repository::create(RepoStorage& storage, std::string did, const PrivateKey& key,
                              const std::vector<RecordWrite>& initial) {
  syntax::validate_did(did);
  if (storage.head(did)) throw ConflictError("repo " + did + " already exists");
  BlockMap blocks;
  std::vector<mst::Entry> entries;
  std::vector<RecordOp> ops;
  for (const RecordWrite& w : initial) {
    if (w.action != RecordWrite::Action::kCreate)
      throw ParseError("a new repository can only be created with create writes");
    validate_write_target(w);
    std::string path = make_path(w.collection, w.rkey);
    Cid cid = blocks.add(encode_record(w, path));
    entries.push_back({path, cid});
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  for (std::size_t i = 1; i < entries.size(); ++i)
    if (entries[i].key == entries[i - 1].key) throw ParseError("duplicate record path " + entries[i].key);
  for (const auto& e : entries) ops.push_back({RecordWrite::Action::kCreate, e.key, e.value, std::nullopt});

  RepoBlocks source(storage, did);
  mst::Tree tree = mst::Tree::build(source, entries);
  Cid data = tree.root();
  tree.collect_new_blocks(blocks);
  Commit commit = Commit::sign(did, data, rev_clock().next().to_string(), key);
  Bytes commit_bytes = commit.encode();
  Cid head = Cid::compute(Codec::kDagCbor, commit_bytes);
  blocks.put(head, std::move(commit_bytes));
  storage.commit(did, blocks, std::nullopt, RepoHead{head, commit.rev});
  return Repository(std::make_unique<Impl>(storage, std::move(did), head, std::move(commit)));
}

Repository Repository::open(RepoStorage& storage, std::string did) {
  auto head = storage.head(did);
  if (!head) throw NotFoundError("repo " + did + " not found");
  RepoBlocks source(storage, did);
  Commit commit = load_commit(source, head->commit);
  return Repository(std::make_unique<Impl>(storage, std::move(did), head->commit, std::move(commit)));
}

const std::string& Repository::did() const { return impl_->did; }
const Cid& Repository::head() const { return impl_->head; }
const std::string& Repository::rev() const { return impl_->commit.rev; }
Cid Repository::data_root() const { return impl_->commit.data; }
const Commit& Repository::commit() const { return impl_->commit; }

void Repository::refresh() {
  auto head = impl_->storage.head(impl_->did);
  if (!head) throw NotFoundError("repo " + impl_->did + " no longer exists");
  impl_->commit = load_commit(*impl_->blocks, head->commit);
  impl_->head = head->commit;
  impl_->reset_tree();
}

CommitResult Repository::apply_writes(const std::vector<RecordWrite>& writes, const PrivateKey& key) {
  if (writes.empty()) throw ParseError("apply_writes: no writes");
  std::set<std::string> seen;
  std::vector<std::string> changed;
  BlockMap blocks;
  std::vector<RecordOp> ops;
  try {
    for (const RecordWrite& w : writes) {
      validate_write_target(w);
      std::string path = make_path(w.collection, w.rkey);
      if (!seen.insert(path).second) throw ParseError("write batch touches " + path + " twice");
      std::optional<Cid> existing = impl_->tree.get(path);
      bool wants_existing = w.action != RecordWrite::Action::kCreate;
      if (existing.has_value() != wants_existing)
        throw ParseError(std::string("cannot ") + action_name(w.action) + " " + path + ": record " +
                         (existing ? "already exists" : "does not exist"));
      RecordOp op{w.action, path, std::nullopt, existing};
      if (w.action == RecordWrite::Action::kDelete) {
        impl_->tree.remove(path);
      } else {
        op.cid = blocks.add(encode_record(w, path));
        impl_->tree.put(path, *op.cid);
      }
      ops.push_back(std::move(op));
      changed.push_back(std::move(path));
    }
    return impl_->write_commit(impl_->tree, std::move(blocks), std::move(ops), changed, key);
  } catch (...) {
    // Nothing reached storage: drop the in-memory edits, then report.
    impl_->reset_tree();
    throw;
  }
}

CommitResult Repository::resign(const PrivateKey& key) {
  try {
    return impl_->write_commit(impl_->tree, {}, {}, {}, key);
  } catch (...) {
    impl_->reset_tree();
    throw;
  }
}

std::optional<Record> Repository::get_record(std::string_view collection, std::string_view rkey) const {
  auto cid = impl_->tree.get(make_path(collection, rkey));
  if (!cid) return std::nullopt;
  auto bytes = impl_->blocks->get(*cid);
  if (!bytes) throw VerifyError("repo " + impl_->did + ": record block " + cid->to_string() + " is missing");
  Value value = cbor::decode(*bytes);
  return Record{*cid, std::move(*bytes), std::move(value)};
}

std::vector<RecordEntry> Repository::list_records(std::string_view collection, std::size_t limit,
                                                  std::string_view cursor, bool reverse) const {
  std::string prefix = make_path(collection, "");
  std::vector<RecordEntry> out;
  if (limit == 0) return out;
  if (!reverse) {
    std::string from = cursor.empty() ? prefix : make_path(collection, cursor);
    impl_->tree.walk(from, [&](const mst::Entry& e) {
      if (e.key.compare(0, prefix.size(), prefix) != 0) return false;
      if (!cursor.empty() && e.key == from) return true;  // the cursor itself is excluded
      out.push_back(split_path(e));
      return out.size() < limit;
    });
    return out;
  }
  // Descending: collect the collection's keys below the cursor, newest last.
  std::vector<mst::Entry> all = impl_->tree.list(prefix);
  for (auto it = all.rbegin(); it != all.rend() && out.size() < limit; ++it) {
    RecordEntry e = split_path(*it);
    if (!cursor.empty() && e.rkey >= cursor) continue;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<RecordEntry> Repository::all_records() const {
  std::vector<RecordEntry> out;
  impl_->tree.walk({}, [&](const mst::Entry& e) {
    out.push_back(split_path(e));
    return true;
  });
  return out;
}

std::vector<std::string> Repository::collections() const {
  // Jump from one collection to the next: '0' is the byte after '/', so
  // "<collection>0" sorts after every key of that collection.
  std::vector<std::string> out;
  std::string from;
  for (;;) {
    std::optional<std::string> next;
    impl_->tree.walk(from, [&](const mst::Entry& e) {
      next = e.key.substr(0, e.key.find('/'));
      return false;
    });
    if (!next) return out;
    out.push_back(*next);
    from = *next + "0";
  }
}

Bytes Repository::record_proof(std::string_view collection, std::string_view rkey) const {
  std::string path = make_path(collection, rkey);
  BlockMap blocks;
  blocks.put(impl_->head, impl_->commit.encode());
  impl_->tree.collect_proof_blocks(path, blocks);
  if (auto record = get_record(collection, rkey)) blocks.put(record->cid, std::move(record->bytes));
  return car::write({impl_->head}, blocks);
}

void Repository::export_car(std::ostream& out) const {
  BlockMap blocks = reachable_blocks(*impl_->blocks, impl_->head, impl_->commit, impl_->tree);
  car::Writer w(out, {impl_->head});
  for (const auto& [cid, data] : blocks.blocks()) w.add(cid, data);
}

Bytes Repository::export_car() const {
  std::ostringstream out;
  export_car(out);
  return to_bytes(out.str());
}

std::size_t Repository::collect_garbage() {
  BlockMap live = reachable_blocks(*impl_->blocks, impl_->head, impl_->commit, impl_->tree);
  std::unordered_set<Cid> keep;
  for (const auto& [cid, _] : live.blocks()) keep.insert(cid);
  return impl_->storage.retain_blocks(impl_->did, keep);
}

namespace {

struct CheckedCommit {
  Cid cid;
  Commit commit;
};

CheckedCommit check_commit(const car::Contents& contents, std::string_view did, const PublicKey& key) {
  if (contents.roots.empty()) throw ParseError("repo CAR has no root");
  const Cid& root = contents.roots.front();
  Commit commit = load_commit(contents.blocks, root);
  if (!did.empty() && commit.did != did)
    throw VerifyError("commit is for " + commit.did + ", expected " + std::string(did));
  if (!commit.verify(key)) throw VerifyError("commit signature does not verify with " + key.did_key());
  return {root, std::move(commit)};
}

}  // namespace

namespace {

// Everything after the commit is trusted: the MST's structure, and the
// records it lists.
VerifiedRepo walk_repo(const car::Contents& contents, const Cid& root, Commit commit) {
  mst::Tree tree(contents.blocks, commit.data);
  tree.verify();
  VerifiedRepo out{commit, root, {}, reachable_blocks(contents.blocks, root, commit, tree)};
  tree.walk({}, [&](const mst::Entry& e) {
    out.records.push_back(split_path(e));
    return true;
  });
  return out;
}

}  // namespace

VerifiedRepo verify_repo_car(BytesView car_bytes, std::string_view did, const PublicKey& key, car::Limits limits) {
  car::Contents contents = car::read(car_bytes, limits);
  auto [root, commit] = check_commit(contents, did, key);
  return walk_repo(contents, root, std::move(commit));
}

VerifiedRepo read_repo_car(BytesView car_bytes, car::Limits limits) {
  car::Contents contents = car::read(car_bytes, limits);
  if (contents.roots.empty()) throw ParseError("repo CAR has no root");
  Cid root = contents.roots.front();
  Commit commit = load_commit(contents.blocks, root);
  return walk_repo(contents, root, std::move(commit));
}

RecordProof check_record_proof(BytesView car_bytes, std::string_view did, const PublicKey& key,
                               std::string_view collection, std::string_view rkey) {
  car::Contents contents = car::read(car_bytes);
  auto [root, commit] = check_commit(contents, did, key);
  mst::Tree tree(contents.blocks, commit.data);
  std::optional<Cid> cid;
  try {
    cid = tree.get(make_path(collection, rkey));
  } catch (const NotFoundError& e) {
    throw VerifyError(std::string("proof lacks an MST node on the record's path: ") + e.what());
  }
  RecordProof out{std::move(commit), root, std::nullopt};
  if (!cid) return out;
  const Bytes* bytes = contents.blocks.find(*cid);
  if (!bytes) throw VerifyError("proof lacks the record block " + cid->to_string());
  out.record = Record{*cid, *bytes, cbor::decode(*bytes)};
  return out;
}

std::optional<Record> verify_record_proof(BytesView car_bytes, std::string_view did, const PublicKey& key,
                                          std::string_view collection, std::string_view rkey) {
  return check_record_proof(car_bytes, did, key, collection, rkey).record;
}

Repository import_repo_car(RepoStorage& storage, BytesView car_bytes, std::string_view did, const PublicKey& key) {
  VerifiedRepo repo = verify_repo_car(car_bytes, did, key);
  storage.commit(repo.commit.did, repo.blocks, std::nullopt, RepoHead{repo.commit_cid, repo.commit.rev});
  return Repository::open(storage, repo.commit.did);
}

}  // namespace atcr

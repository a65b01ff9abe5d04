#include "index/verify.h"

#include <fmt/core.h>

#include <tuple>

#include "atcr/data/car.h"
#include "atcr/error.h"
#include "atcr/data/cbor.h"
#include "atcr/data/syntax.h"
#include "atcr/log.h"
#include "atcr/repo/mst.h"

namespace atcr::index {

namespace {

constexpr std::size_t kMaxOps = 200;
constexpr std::size_t kMaxCommitBlocks = 2'000'000;
constexpr std::size_t kMaxSyncBlocks = 10'000;

struct Root {
  car::Contents contents;
  Commit commit;
  Cid commit_cid;
};

// The CAR's blocks (each checked against its CID), its single root, and the
// commit block it names, decoded.
Root read_commit_car(const Value& blocks_value, std::size_t max_bytes, const std::string& did,
                     const std::optional<Cid>& expected_root) {
  const Bytes& blocks = blocks_value.as_bytes();
  if (blocks.size() > max_bytes)
    throw ParseError(fmt::format("firehose: blocks of {} bytes exceed {}", blocks.size(), max_bytes));
  car::Limits limits;
  limits.max_total_bytes = max_bytes;
  car::Contents contents = car::read(blocks, limits);
  if (contents.roots.size() != 1) throw ParseError("firehose: the CAR must have exactly one root");
  Cid root = contents.roots[0];
  if (expected_root && root != *expected_root) throw VerifyError("firehose: the CAR's root is not the message's commit");
  const Bytes* block = contents.blocks.find(root);
  if (!block) throw VerifyError("firehose: the commit block is missing from the CAR");
  Commit commit = Commit::decode(*block);
  if (commit.did != did)
    throw VerifyError(fmt::format("firehose: the commit is for {}, not {}", log::escape(commit.did), did));
  return Root{std::move(contents), std::move(commit), root};
}

std::string required_did(const Value& body, std::string_view field) {
  std::string did = body.at(field).as_string();
  if (!syntax::is_valid_did(did)) throw ParseError(fmt::format("firehose: {} is not a DID", field));
  return did;
}

// How to undo a commit's ops (sync v1.1): each path's previous CID (none:
// it was absent), in op order. Not invertible when an update or delete
// omits its `prev`.
struct Inverse {
  bool invertible = true;
  std::vector<std::pair<std::string, std::optional<Cid>>> steps;
};

// The op's "collection/rkey" path, split.
std::pair<std::string, std::string> op_path(const std::string& path) {
  auto slash = path.find('/');
  if (slash == std::string::npos || !mst::is_valid_key(path))
    throw ParseError(fmt::format("firehose: op path '{}' is not collection/rkey", log::escape(path.substr(0, 80))));
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// One op, checked against the commit's MST: a create or update must put
// its cid there (and its record be in the CAR), a delete must leave none.
VerifiedOp verify_op(const Value& op, const mst::Tree& tree, const BlockMap& blocks, Inverse& inverse) {
  VerifiedOp out;
  out.action = op.at("action").as_string();
  const std::string& path = op.at("path").as_string();
  std::tie(out.collection, out.rkey) = op_path(path);
  const Value* cid = op.find("cid");
  std::optional<Cid> prev;
  if (const Value* p = op.find("prev"); p && !p->is_null()) prev = p->as_link();
  std::optional<Cid> in_tree = tree.get(path);
  if (out.action == "create" || out.action == "update") {
    if (!cid || !cid->is_link()) throw ParseError(fmt::format("firehose: {} of {} has no cid", out.action, path));
    out.cid = cid->as_link();
    if (in_tree != out.cid) throw VerifyError(fmt::format("firehose: {} of {} does not match the MST", out.action, path));
    const Bytes* record = blocks.find(*out.cid);
    if (!record) throw VerifyError(fmt::format("firehose: the record of {} is missing from the CAR", path));
    out.record = cbor::decode(*record);
    if (out.action == "update" && !prev) inverse.invertible = false;
    inverse.steps.emplace_back(path, out.action == "update" ? prev : std::nullopt);
  } else if (out.action == "delete") {
    if (in_tree) throw VerifyError(fmt::format("firehose: delete of {} but the MST still has it", path));
    if (!prev) inverse.invertible = false;
    inverse.steps.emplace_back(path, prev);
  } else {
    throw ParseError(fmt::format("firehose: unknown op action '{}'", log::escape(out.action.substr(0, 40))));
  }
  return out;
}

// sync v1.1: undo the ops; the tree must come back to prevData. Nodes
// missing from the CAR make this throw NotFoundError: the slice was
// incomplete, which is as bad as a wrong one.
void check_inverse(mst::Tree& tree, const Inverse& inverse, const VerifiedCommit& v, const std::string& rev) {
  try {
    for (const auto& [path, previous] : inverse.steps) {
      if (previous)
        tree.put(path, *previous);
      else
        tree.remove(path);
    }
  } catch (const NotFoundError& e) {
    throw VerifyError(fmt::format("firehose: the CAR slice cannot invert the commit: {}", e.what()));
  }
  if (tree.root() != *v.prev_data)
    throw VerifyError(fmt::format("firehose: inverting {}'s commit {} does not give prevData", v.did, rev));
}

}  // namespace

bool commit_signed_by(const Value& body, const PublicKey& key) {
  std::string did = required_did(body, "repo");
  Root r = read_commit_car(body.at("blocks"), kMaxCommitBlocks, did, body.at("commit").as_link());
  return r.commit.verify(key);
}

VerifiedCommit verify_commit(const Value& body, const PublicKey& key) {
  std::string did = required_did(body, "repo");
  const std::string& rev = body.at("rev").as_string();
  const Value::Array& ops = body.at("ops").as_array();
  if (ops.size() > kMaxOps) throw ParseError(fmt::format("firehose: {} ops exceed {}", ops.size(), kMaxOps));
  std::optional<std::string> since;
  std::optional<Cid> prev_data;
  if (const Value* s = body.find("since"); s && !s->is_null()) since = s->as_string();
  if (const Value* p = body.find("prevData"); p && !p->is_null()) prev_data = p->as_link();

  Root r = read_commit_car(body.at("blocks"), kMaxCommitBlocks, did, body.at("commit").as_link());
  if (r.commit.rev != rev) throw VerifyError("firehose: the message's rev is not the commit's");
  if (!r.commit.verify(key)) throw VerifyError(fmt::format("firehose: bad signature on {}'s commit {}", did, rev));
  VerifiedCommit v{did, r.commit, r.commit_cid, since, prev_data, {}};

  mst::Tree tree(r.contents.blocks, r.commit.data);
  Inverse inverse;
  inverse.invertible = v.prev_data.has_value();
  for (const Value& op : ops) v.ops.push_back(verify_op(op, tree, r.contents.blocks, inverse));
  if (inverse.invertible) check_inverse(tree, inverse, v, rev);
  return v;
}

VerifiedSync verify_sync(const Value& body, const PublicKey& key) {
  std::string did = required_did(body, "did");
  Root r = read_commit_car(body.at("blocks"), kMaxSyncBlocks, did, std::nullopt);
  if (r.commit.rev != body.at("rev").as_string()) throw VerifyError("firehose: the #sync rev is not the commit's");
  if (!r.commit.verify(key)) throw VerifyError(fmt::format("firehose: bad signature on {}'s #sync", did));
  return VerifiedSync{did, r.commit, r.commit_cid};
}

}  // namespace atcr::index

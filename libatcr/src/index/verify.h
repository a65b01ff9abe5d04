// Internal: verification of repo-stream messages (#commit, #sync) from an
// untrusted firehose, per the atproto sync spec (v1.1).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/data/cid.h"
#include "atcr/data/value.h"
#include "atcr/repo/commit.h"

namespace atcr::index {

struct VerifiedOp {
  std::string action;  // "create", "update", "delete"
  std::string collection;
  std::string rkey;
  std::optional<Cid> cid;   // the new record (create, update)
  std::optional<Value> record;  // decoded from the CAR (create, update)
};

struct VerifiedCommit {
  std::string did;
  Commit commit;
  Cid commit_cid;
  std::optional<std::string> since;
  std::optional<Cid> prev_data;  // checked by inversion when present
  std::vector<VerifiedOp> ops;
};

// Checks a #commit body: field types and limits (200 ops, 2 MB of blocks),
// every CAR block against its CID, the root is `commit`, the commit block
// decodes and names `repo` and `rev`, its signature verifies against `key`,
// each op agrees with the new MST (a create/update's record is in the CAR
// and hashes to the op's CID; a delete's key is gone), and, when prevData
// is given and every update/delete carries `prev`, inverting the ops turns
// the new MST root into prevData. Throws ParseError for a malformed
// message and VerifyError for one that does not check out; the message
// names what failed.
VerifiedCommit verify_commit(const Value& body, const PublicKey& key);

// The signature check alone, for choosing whether to refresh the key: true
// when `body`'s commit block is signed by `key`. Throws as verify_commit for
// a malformed message.
bool commit_signed_by(const Value& body, const PublicKey& key);

// A #sync body's commit: the CAR holds the commit block (at most 10,000
// bytes), which names `did` and `rev` and is signed by `key`.
struct VerifiedSync {
  std::string did;
  Commit commit;
  Cid commit_cid;
};
VerifiedSync verify_sync(const Value& body, const PublicKey& key);

}  // namespace atcr::index

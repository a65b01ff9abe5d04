// Signed atproto repositories: records in an MST under a signed commit.
//
// A Repository is one account's repo (identified by DID) in a RepoStorage.
// Every write is a batch applied as one commit: the MST is updated, a new
// commit is signed, and blocks plus the new head are stored atomically. The
// returned CommitResult carries what a firehose event needs (ops, the new
// blocks, the previous MST root).
//
// Reading and verifying repositories from outside (CAR exports, record
// proofs) does not need storage: see verify_repo_car() and
// verify_record_proof().
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/data/block_store.h"
#include "atcr/data/car.h"
#include "atcr/data/cid.h"
#include "atcr/data/value.h"
#include "atcr/repo/commit.h"
#include "atcr/repo/storage.h"

namespace atcr {

struct RecordWrite {
  enum class Action { kCreate, kUpdate, kDelete };
  Action action;
  std::string collection;
  std::string rkey;
  Value record;  // ignored for deletes

  static RecordWrite create(std::string collection, std::string rkey, Value record);
  static RecordWrite update(std::string collection, std::string rkey, Value record);
  static RecordWrite remove(std::string collection, std::string rkey);
};

// One applied change, as firehose `ops` describe it.
struct RecordOp {
  RecordWrite::Action action;
  std::string path;          // "<collection>/<rkey>"
  std::optional<Cid> cid;    // the new record, absent for deletes
  std::optional<Cid> prev;   // the replaced record, absent for creates
};

struct CommitResult {
  Cid commit;
  std::string rev;
  std::optional<std::string> since;  // previous rev
  std::optional<Cid> prev_data;      // previous MST root
  std::vector<RecordOp> ops;
  BlockMap blocks;  // every block this commit added (commit, MST nodes, records)
  // Blocks a consumer needs to verify and invert the commit (firehose CAR):
  // the new blocks plus the MST nodes around each changed key.
  BlockMap proof_blocks;
};

struct Record {
  Cid cid;
  Bytes bytes;  // exactly as stored (the CID is over these bytes)
  Value value;
};

struct RecordEntry {
  std::string collection;
  std::string rkey;
  Cid cid;
};

class Repository {
 public:
  // Creates a new repository for `did` holding `initial` (all creates), in
  // one signed commit. Throws ConflictError if the repo exists.
  static Repository create(RepoStorage& storage, std::string did, const PrivateKey& key,
                           const std::vector<RecordWrite>& initial = {});
  // Opens an existing repository. Throws NotFoundError.
  static Repository open(RepoStorage& storage, std::string did);

  Repository(Repository&&) noexcept;
  Repository& operator=(Repository&&) noexcept;
  ~Repository();

  const std::string& did() const;
  const Cid& head() const;
  const std::string& rev() const;
  Cid data_root() const;
  const Commit& commit() const;

  // Applies `writes` as one commit signed with `key`. Creates of existing
  // records, updates or deletes of missing ones, invalid collection NSIDs
  // or record keys, records that are not maps, and duplicate paths in one
  // batch are ParseErrors and nothing is written. Throws ConflictError if
  // another writer moved the head since this object last saw it (call
  // refresh() and retry).
  CommitResult apply_writes(const std::vector<RecordWrite>& writes, const PrivateKey& key);

  // Re-reads the head from storage (after a ConflictError).
  void refresh();

  std::optional<Record> get_record(std::string_view collection, std::string_view rkey) const;
  // Records of one collection in rkey order, starting after `cursor` (an
  // rkey), at most `limit`; reverse = descending.
  std::vector<RecordEntry> list_records(std::string_view collection, std::size_t limit,
                                        std::string_view cursor = {}, bool reverse = false) const;
  // Every record path and CID, in path order.
  std::vector<RecordEntry> all_records() const;
  // Collections present, sorted.
  std::vector<std::string> collections() const;

  // A CAR whose root is the head commit, with the MST path to the record
  // (or to where it would be: a proof of absence) and the record itself.
  Bytes record_proof(std::string_view collection, std::string_view rkey) const;
  // The whole repository as a CAR (commit, MST nodes, records), root = head.
  void export_car(std::ostream& out) const;
  Bytes export_car() const;

  // Re-signs the current tree under a new rev (after a key rotation).
  CommitResult resign(const PrivateKey& key);

  // Deletes blocks no longer reachable from the head. Returns the count.
  std::size_t collect_garbage();

 private:
  struct Impl;
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The result of verifying a repository CAR from outside.
struct VerifiedRepo {
  Commit commit;
  Cid commit_cid;
  std::vector<RecordEntry> records;
  BlockMap blocks;
};

// Verifies a full repository CAR: every block against its CID, the commit
// signature against `key`, `did` (when non-empty) against the commit, the
// MST's structure, and the presence of every record. Throws ParseError or
// VerifyError naming the problem.
VerifiedRepo verify_repo_car(BytesView car, std::string_view did, const PublicKey& key,
                             car::Limits limits = {});

// As verify_repo_car, except the commit's signature: for a CAR whose
// origin is vouched for otherwise (an operator importing an export).
VerifiedRepo read_repo_car(BytesView car, car::Limits limits = {});

// A verified record proof: the signed commit it was proven under, and the
// record (nullopt: a valid proof that the path is absent at that commit).
struct RecordProof {
  Commit commit;
  Cid commit_cid;
  std::optional<Record> record;
};

// Verifies a record proof CAR (as from record_proof or sync.getRecord):
// every block against its CID, the root commit's DID and its signature
// against `key`, and the MST path from the commit's root to the record (or
// to where it would be). Throws ParseError or VerifyError naming the
// problem; a proof missing a node on the path is a VerifyError.
RecordProof check_record_proof(BytesView car, std::string_view did, const PublicKey& key,
                               std::string_view collection, std::string_view rkey);

// check_record_proof's record alone.
std::optional<Record> verify_record_proof(BytesView car, std::string_view did, const PublicKey& key,
                                          std::string_view collection, std::string_view rkey);

// Imports a verified repository CAR into `storage` as the repo of its DID
// (replacing nothing: ConflictError if that repo exists).
Repository import_repo_car(RepoStorage& storage, BytesView car, std::string_view did, const PublicKey& key);

}  // namespace atcr

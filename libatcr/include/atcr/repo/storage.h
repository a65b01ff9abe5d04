// Where signed repositories keep their blocks and heads.
//
// A RepoStorage holds many repositories, each identified by its DID. Blocks
// are stored per repository (so one repo can be deleted or collected
// without touching another). Heads move only by compare-and-swap, so two
// writers racing on one repo cannot both win: the loser gets a
// ConflictError and retries on the new head.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "atcr/data/block_store.h"
#include "atcr/data/cid.h"
#include "atcr/error.h"

namespace atcr {

// The head moved under a writer (another commit landed first).
class ConflictError : public Error {
 public:
  using Error::Error;
};

struct RepoHead {
  Cid commit;
  std::string rev;
};

class RepoStorage {
 public:
  virtual ~RepoStorage() = default;

  virtual std::optional<RepoHead> head(std::string_view did) const = 0;
  virtual std::optional<Bytes> get_block(std::string_view did, const Cid& cid) const = 0;
  virtual std::vector<std::string> list_repos() const = 0;

  // Atomically stores `blocks` and moves the head of `did` from `expected`
  // (nullopt: the repo must not exist yet) to `next`. Throws ConflictError
  // if the current head is not `expected`; then nothing is stored.
  virtual void commit(std::string_view did, const BlockMap& blocks, const std::optional<Cid>& expected,
                      const RepoHead& next) = 0;

  // Removes the blocks of `did` not in `keep` (garbage left by earlier
  // commits). Returns how many were removed.
  virtual std::size_t retain_blocks(std::string_view did, const std::unordered_set<Cid>& keep) = 0;

  // Removes the repository and all its blocks.
  virtual void delete_repo(std::string_view did) = 0;
};

// The blocks of one repository, as a BlockSource (for MST and CAR code).
class RepoBlocks : public BlockSource {
 public:
  RepoBlocks(const RepoStorage& storage, std::string did) : storage_(storage), did_(std::move(did)) {}
  std::optional<Bytes> get(const Cid& cid) const override { return storage_.get_block(did_, cid); }

 private:
  const RepoStorage& storage_;
  std::string did_;
};

// In-memory storage: tests, tools, and throwaway repos.
class MemoryRepoStorage : public RepoStorage {
 public:
  std::optional<RepoHead> head(std::string_view did) const override;
  std::optional<Bytes> get_block(std::string_view did, const Cid& cid) const override;
  std::vector<std::string> list_repos() const override;
  void commit(std::string_view did, const BlockMap& blocks, const std::optional<Cid>& expected,
              const RepoHead& next) override;
  std::size_t retain_blocks(std::string_view did, const std::unordered_set<Cid>& keep) override;
  void delete_repo(std::string_view did) override;

 private:
  struct Repo {
    std::optional<RepoHead> head;
    std::unordered_map<Cid, Bytes> blocks;
  };
  mutable std::mutex mu_;
  std::map<std::string, Repo, std::less<>> repos_;
};

}  // namespace atcr

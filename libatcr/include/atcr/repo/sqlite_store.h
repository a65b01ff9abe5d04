// RepoStorage in one SQLite file, holding any number of repositories.
//
// WAL mode with one connection per thread-safe store: reads and the single
// writer do not block each other. Each commit (blocks + head move) is one
// SQLite transaction, so a crash leaves either the old head with its blocks
// or the new head with its blocks, never a head pointing at missing blocks.
#pragma once

#include <memory>
#include <string>

#include "atcr/repo/storage.h"

namespace atcr {

class SqliteRepoStorage : public RepoStorage {
 public:
  // Opens (creating if needed) the database at `path`; ":memory:" for a
  // private in-memory database. Throws StorageError.
  explicit SqliteRepoStorage(const std::string& path);
  ~SqliteRepoStorage() override;
  SqliteRepoStorage(const SqliteRepoStorage&) = delete;
  SqliteRepoStorage& operator=(const SqliteRepoStorage&) = delete;

  std::optional<RepoHead> head(std::string_view did) const override;
  std::optional<Bytes> get_block(std::string_view did, const Cid& cid) const override;
  std::vector<std::string> list_repos() const override;
  void commit(std::string_view did, const BlockMap& blocks, const std::optional<Cid>& expected,
              const RepoHead& next) override;
  std::size_t retain_blocks(std::string_view did, const std::unordered_set<Cid>& keep) override;
  void delete_repo(std::string_view did) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr

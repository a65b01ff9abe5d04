#include "atcr/repo/storage.h"

namespace atcr {

std::optional<RepoHead> MemoryRepoStorage::head(std::string_view did) const {
  std::lock_guard lock(mu_);
  auto it = repos_.find(did);
  return it == repos_.end() ? std::nullopt : it->second.head;
}

std::optional<Bytes> MemoryRepoStorage::get_block(std::string_view did, const Cid& cid) const {
  std::lock_guard lock(mu_);
  auto it = repos_.find(did);
  if (it == repos_.end()) return std::nullopt;
  auto b = it->second.blocks.find(cid);
  if (b == it->second.blocks.end()) return std::nullopt;
  return b->second;
}

std::vector<std::string> MemoryRepoStorage::list_repos() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [did, repo] : repos_)
    if (repo.head) out.push_back(did);
  return out;
}

void MemoryRepoStorage::commit(std::string_view did, const BlockMap& blocks, const std::optional<Cid>& expected,
                               const RepoHead& next) {
  std::lock_guard lock(mu_);
  auto it = repos_.find(did);
  std::optional<Cid> current;
  if (it != repos_.end() && it->second.head) current = it->second.head->commit;
  if (current != expected)
    throw ConflictError("repo " + std::string(did) + ": head moved (expected " +
                        (expected ? expected->to_string() : "none") + ", found " +
                        (current ? current->to_string() : "none") + ")");
  if (it == repos_.end()) it = repos_.emplace(std::string(did), Repo{}).first;
  for (const auto& [cid, data] : blocks.blocks()) it->second.blocks.emplace(cid, data);
  it->second.head = next;
}

std::size_t MemoryRepoStorage::retain_blocks(std::string_view did, const std::unordered_set<Cid>& keep) {
  std::lock_guard lock(mu_);
  auto it = repos_.find(did);
  if (it == repos_.end()) return 0;
  return std::erase_if(it->second.blocks, [&](const auto& kv) { return !keep.count(kv.first); });
}

void MemoryRepoStorage::delete_repo(std::string_view did) {
  std::lock_guard lock(mu_);
  if (auto it = repos_.find(did); it != repos_.end()) repos_.erase(it);
}

}  // namespace atcr

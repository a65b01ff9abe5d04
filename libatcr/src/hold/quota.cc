#include "hold/quota.h"

#include <fmt/core.h>

#include <algorithm>
#include <set>

namespace atcr::hold {

void Usage::add(const LayerUse& layer) {
  std::lock_guard lock(mu_);
  Blob& blob = by_user_[layer.user_did][layer.digest];
  blob.size = layer.size;
  ++blob.records;
}

void Usage::remove(const LayerUse& layer) {
  std::lock_guard lock(mu_);
  auto user = by_user_.find(layer.user_did);
  if (user == by_user_.end()) return;
  auto blob = user->second.find(layer.digest);
  if (blob == user->second.end()) return;
  if (--blob->second.records == 0) user->second.erase(blob);
  if (user->second.empty()) by_user_.erase(user);
}

void Usage::replace(Usage&& other) {
  std::scoped_lock lock(mu_, other.mu_);
  by_user_ = std::move(other.by_user_);
}

UserUsage Usage::of(std::string_view user_did) const {
  std::lock_guard lock(mu_);
  UserUsage u;
  auto user = by_user_.find(user_did);
  if (user == by_user_.end()) return u;
  for (const auto& [digest, blob] : user->second) u.total_bytes += blob.size;
  u.unique_blobs = user->second.size();
  return u;
}

std::uint64_t Usage::added_by(std::string_view user_did, const std::vector<LayerUse>& layers) const {
  std::lock_guard lock(mu_);
  auto user = by_user_.find(user_did);
  std::set<std::string_view> counted;
  std::uint64_t added = 0;
  for (const auto& layer : layers) {
    if (user != by_user_.end() && user->second.contains(layer.digest)) continue;
    if (counted.insert(layer.digest).second) added += layer.size;
  }
  return added;
}

Limit limit_for(const HoldConfig::Quota& quota, bool is_owner, std::string_view crew_tier) {
  if (!quota.enabled || is_owner) return {};
  auto tier = quota.tiers.find(std::string(crew_tier));
  if (tier == quota.tiers.end()) tier = quota.tiers.find(quota.default_tier);
  if (tier == quota.tiers.end()) return {};  // config validation prevents this
  return Limit{tier->first, tier->second};
}

std::vector<std::pair<std::string, std::uint64_t>> ranked_tiers(const HoldConfig::Quota& quota) {
  std::vector<std::pair<std::string, std::uint64_t>> tiers(quota.tiers.begin(), quota.tiers.end());
  std::stable_sort(tiers.begin(), tiers.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return tiers;
}

}  // namespace atcr::hold

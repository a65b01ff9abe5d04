// Storage quotas: what each user's pushes occupy on a hold, and how much
// they may.
//
// ATCR's model (docs/QUOTAS.md): a user pays for the layers their manifests
// reference, counted once per digest however many images share it, and
// checked when a manifest is pushed (the blobs are already uploaded; the
// push is refused with QuotaExceeded). The numbers come from the hold's
// io.atcr.hold.layer records, so a Usage is rebuilt from the repo at boot
// and kept current as the hold writes or deletes layer records.
#pragma once

#include "util/format_size.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/hold/config.h"

namespace atcr::hold {

struct LayerUse {
  std::string user_did;
  std::string digest;
  std::uint64_t size = 0;
};

struct UserUsage {
  std::uint64_t total_bytes = 0;
  std::size_t unique_blobs = 0;
};

// Thread-safe.
class Usage {
 public:
  // One layer record seen (at boot or when written); repeats are free.
  void add(const LayerUse& layer);
  // A layer record went away. Counts are per record, so a digest stays
  // charged while any of the user's records still references it.
  void remove(const LayerUse& layer);
  // Takes over `other`'s counts (after a rebuild from the repo).
  void replace(Usage&& other);
  UserUsage of(std::string_view user_did) const;
  // The bytes `layers` would add to the user's total (digests not yet
  // charged to them, each counted once).
  std::uint64_t added_by(std::string_view user_did, const std::vector<LayerUse>& layers) const;

 private:
  struct Blob {
    std::uint64_t size = 0;
    std::size_t records = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, Blob>, std::less<>> by_user_;
};

struct Limit {
  std::string tier;                    // "" when quotas are off or for the owner
  std::optional<std::uint64_t> bytes;  // nullopt: unlimited
};

// The limit for a user: unlimited when quotas are off or for the owner;
// otherwise their crew tier's, falling back to the default tier when the
// record names none or one the config does not have.
Limit limit_for(const HoldConfig::Quota& quota, bool is_owner, std::string_view crew_tier);

// The tiers in rank order, smallest quota first (ties in name order):
// listTiers lists them so, and updateCrewTier's tierRank indexes them.
std::vector<std::pair<std::string, std::uint64_t>> ranked_tiers(const HoldConfig::Quota& quota);

// "5.0 GB": io.atcr.hold.listTiers' quotaFormatted.
using util::format_size;

}  // namespace atcr::hold

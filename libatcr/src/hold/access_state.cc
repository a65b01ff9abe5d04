#include <fmt/core.h>

#include "atcr/log.h"
#include "atcr/oci/hold_records.h"
#include "hold/hold_impl.h"

namespace atcr::hold {

void AccessState::ensure_current(const pds::EmbeddedPds& pds) {
  std::string rev = pds.rev();
  {
    std::lock_guard lock(mu_);
    if (rev_ && *rev_ == rev) return;
  }
  rebuild(pds);
}

void AccessState::rebuild(const pds::EmbeddedPds& pds) {
  // Read outside the lock (the repo has its own), then swap in. A commit
  // landing meanwhile leaves newer records under an older rev: the next
  // reader just rebuilds again.
  std::string rev = pds.rev();
  auto captain_record = pds.get_record(kCaptainCollection, kCaptainRkey);
  if (!captain_record) throw StorageError("hold repo has no captain record (io.atcr.hold.captain/self)");
  Captain captain = Captain::from_record(captain_record->value);

  std::map<std::string, CrewMember, std::less<>> crew;
  for_each_record(pds, kCrewCollection, [&](const pds::ListedRecord& r) {
    try {
      CrewMember m = CrewMember::from_record(r.value);
      crew[m.member] = std::move(m);
    } catch (const ParseError& e) {
      log::warn("hold", "ignoring malformed crew record {}: {}", r.uri, e.what());
    }
  });

  Usage usage;
  std::size_t layers = 0;
  for_each_record(pds, oci::kLayerCollection, [&](const pds::ListedRecord& r) {
    try {
      oci::LayerRecord layer = oci::LayerRecord::from_value(r.value);
      usage.add({layer.user_did, layer.digest.str(), static_cast<std::uint64_t>(layer.size)});
      ++layers;
    } catch (const ParseError& e) {
      log::warn("hold", "ignoring malformed layer record {}: {}", r.uri, e.what());
    }
  });

  std::lock_guard lock(mu_);
  rev_ = rev;
  captain_ = std::move(captain);
  crew_ = std::move(crew);
  usage_.replace(std::move(usage));
  log::debug("hold", "access state rebuilt at rev {}: {} crew, {} layer records", rev, crew_.size(), layers);
}

Captain AccessState::captain() const {
  std::lock_guard lock(mu_);
  return captain_;
}

std::optional<CrewMember> AccessState::crew(std::string_view member) const {
  std::lock_guard lock(mu_);
  auto it = crew_.find(member);
  if (it == crew_.end()) return std::nullopt;
  return it->second;
}

std::vector<CrewMember> AccessState::crew_members() const {
  std::lock_guard lock(mu_);
  std::vector<CrewMember> out;
  for (const auto& [did, member] : crew_) out.push_back(member);
  return out;
}

UserUsage AccessState::usage(std::string_view user) const {
  std::lock_guard lock(mu_);
  return usage_.of(user);
}

std::uint64_t AccessState::added_by(std::string_view user, const std::vector<LayerUse>& layers) const {
  std::lock_guard lock(mu_);
  return usage_.added_by(user, layers);
}

void AccessState::invalidate() {
  std::lock_guard lock(mu_);
  rev_.reset();
}

void AccessState::note_commit(const std::optional<std::string>& since, const std::string& rev,
                              const std::vector<CrewMember>& crew_added, const std::vector<LayerUse>& layers_added) {
  std::lock_guard lock(mu_);
  if (!since || !rev_ || *rev_ != *since) return;  // stale anyway: the next reader rebuilds
  for (const auto& m : crew_added) crew_[m.member] = m;
  for (const auto& l : layers_added) usage_.add(l);
  rev_ = rev;
}

}  // namespace atcr::hold

// The owner's changes to who may do what (the admin panel): crew records
// written exactly per io.atcr.hold.crew, and the captain record's settings.
//
// The captain's settings (public, allowAllCrew, enableBlueskyPosts) are the
// panel's once changed there: a restart re-applies the config's value only
// when the config itself changed since it was last applied (remembered in
// data_dir/captain-config), so an operator editing the file still wins.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "atcr/data/datetime.h"
#include "atcr/data/syntax.h"
#include "atcr/log.h"
#include "hold/hold_impl.h"
#include "util/private_file.h"

namespace atcr::hold {

namespace {

constexpr std::size_t kMaxRole = 32;  // the lexicon's maxLength
constexpr std::size_t kMaxTier = 32;

std::string rkey_of(const std::string& uri) { return uri.substr(uri.rfind('/') + 1); }

std::string settings_text(const CaptainSettings& s) {
  return fmt::format("public={}\nallow_all_crew={}\nbluesky_posts={}\n", s.is_public, s.allow_all_crew,
                     s.bluesky_posts);
}

}  // namespace

CaptainSettings CaptainSettings::of(const Captain& c) { return {c.is_public, c.allow_all_crew, c.enable_bluesky_posts}; }

CaptainSettings CaptainSettings::of(const HoldConfig& c) {
  return {c.server.is_public, c.registration.allow_all_crew, c.registration.enable_bluesky_posts};
}

void CaptainSettings::apply_to(Captain& c) const {
  c.is_public = is_public;
  c.allow_all_crew = allow_all_crew;
  c.enable_bluesky_posts = bluesky_posts;
}

std::optional<CaptainSettings> Hold::Impl::settings_last_applied() const {
  std::ifstream in(config.server.data_dir / "captain-config");
  if (!in) return std::nullopt;
  std::map<std::string, bool> values;
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1) == "true";
  }
  if (values.size() != 3) return std::nullopt;  // unreadable: the config applies
  return CaptainSettings{values["public"], values["allow_all_crew"], values["bluesky_posts"]};
}

void Hold::Impl::remember_settings_applied(const CaptainSettings& s) {
  util::write_private_file(config.server.data_dir / "captain-config", settings_text(s));
}

std::vector<CrewMember> Hold::Impl::crew_members() const {
  std::vector<CrewMember> out;
  for_each_record(*pds, kCrewCollection, [&](const pds::ListedRecord& r) {
    try {
      out.push_back(CrewMember::from_record(r.value));
    } catch (const ParseError&) {
      // not a crew record access checks would honour either
    }
  });
  return out;
}

CrewMember Hold::Impl::put_crew(CrewMember m) {
  if (!syntax::is_valid_did(m.member)) throw ParseError(fmt::format("'{}' is not a DID", m.member));
  if (m.role.empty() || m.role.size() > kMaxRole || m.role == "owner")
    throw ParseError("role must be one of admin, write, read, member");
  for (const std::string& p : m.permissions)
    if (p != kBlobRead && p != kBlobWrite && p != kCrewAdmin)
      throw ParseError(fmt::format("unknown permission '{}' (blob:read, blob:write, crew:admin)", p));
  if (m.tier.size() > kMaxTier || (!m.tier.empty() && !config.quota.tiers.contains(m.tier)))
    throw ParseError(fmt::format("'{}' is not one of this hold's quota tiers", m.tier));

  std::lock_guard lock(records_mu);
  access.ensure_current(*pds);
  if (m.member == access.captain().owner)
    throw ParseError("the owner's crew record follows the hold's configuration");
  // A member's record keeps its key (records written elsewhere may use
  // another) and its addedAt.
  std::string rkey = crew_rkey(m.member);
  bool exists = false;
  for_each_record(*pds, kCrewCollection, [&](const pds::ListedRecord& r) {
    const Value* member = r.value.is_map() ? r.value.find("member") : nullptr;
    if (exists || !member || !member->is_string() || member->as_string() != m.member) return;
    exists = true;
    rkey = rkey_of(r.uri);
    if (const Value* added = r.value.find("addedAt"); added && added->is_string()) m.added_at = added->as_string();
  });
  if (m.added_at.empty()) m.added_at = now_datetime();
  RecordWrite write = exists ? RecordWrite::update(std::string(kCrewCollection), rkey, m.to_record())
                             : RecordWrite::create(std::string(kCrewCollection), rkey, m.to_record());
  pds->apply_writes({write});
  access.invalidate();  // an update may take permissions away: rebuild
  log::info("hold", "crew {}: {} (role {}, permissions [{}], tier {})", exists ? "updated" : "added", m.member, m.role,
            fmt::join(m.permissions, ", "), m.tier.empty() ? "default" : m.tier);
  return m;
}

bool Hold::Impl::remove_crew(const std::string& member_did) {
  std::lock_guard lock(records_mu);
  access.ensure_current(*pds);
  if (member_did == access.captain().owner) throw ParseError("the owner cannot be removed from the crew");
  std::vector<RecordWrite> removals;
  for_each_record(*pds, kCrewCollection, [&](const pds::ListedRecord& r) {
    const Value* member = r.value.is_map() ? r.value.find("member") : nullptr;
    if (!member) member = r.value.is_map() ? r.value.find("did") : nullptr;  // pre-lexicon records
    if (member && member->is_string() && member->as_string() == member_did)
      removals.push_back(RecordWrite::remove(std::string(kCrewCollection), rkey_of(r.uri)));
  });
  if (removals.empty()) return false;
  pds->apply_writes(removals);
  access.invalidate();
  log::info("hold", "crew removed: {}", member_did);
  return true;
}

void Hold::Impl::set_captain_settings(const CaptainSettings& settings) {
  std::lock_guard lock(records_mu);
  auto record = pds->get_record(kCaptainCollection, kCaptainRkey);
  if (!record) throw NotFoundError("the captain record is missing");
  Captain captain = Captain::from_record(record->value);
  if (CaptainSettings::of(captain) == settings) return;
  settings.apply_to(captain);
  pds->apply_writes({RecordWrite::update(std::string(kCaptainCollection), std::string(kCaptainRkey),
                                         captain.to_record())});
  access.invalidate();
  log::info("hold", "captain settings: public {}, allowAllCrew {}, enableBlueskyPosts {}", settings.is_public,
            settings.allow_all_crew, settings.bluesky_posts);
}

}  // namespace atcr::hold

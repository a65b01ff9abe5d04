// A vulnerability database in OSV JSON (ossf.github.io/osv-schema), as the
// operator supplies it: a directory of <id>.json files, or a zip of them
// (osv.dev's per-ecosystem all.zip), and matching packages against it.
//
//   auto db = scan::OsvDatabase::load("/var/lib/atcr-scanner/osv");
//   for (const scan::Match& m : db.match(packages)) ...
//
// Only the ecosystems the scanner reads (Debian, Alpine, PyPI, npm) are
// kept. An entry affects a package when its `affected[]` names the
// package's ecosystem and name (Debian: the source package too; PyPI names
// compared normalised) and the version is in one of its `versions`, or
// inside an ECOSYSTEM or SEMVER range (events introduced / fixed /
// last_affected, evaluated in the ecosystem's own version order; "0" is
// the beginning of time). Withdrawn entries are ignored.
//
// Severity: database_specific.severity or ecosystem_specific.severity
// ("CRITICAL", "HIGH", "MODERATE"/"MEDIUM", "LOW"), else the highest CVSS
// v3 base score in `severity[]` (computed from the vector), else unknown.
//
// A database file that is not an OSV entry is skipped and counted (see
// skipped()); the loaders throw ConfigError for a path that is neither a
// directory nor a readable zip, and LimitError past the limits.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/scan/layer.h"
#include "atcr/scan/packages.h"

namespace atcr::scan {

enum class Severity { kUnknown, kLow, kMedium, kHigh, kCritical };
std::string_view severity_name(Severity s);  // "Unknown", "Low", "Medium", "High", "Critical"
// From a CVSS v3.x vector ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"):
// the base score (0.0-10.0); nullopt when it is not a v3 base vector.
std::optional<double> cvss3_base_score(std::string_view vector);
Severity severity_of_score(double score);  // 9+ critical, 7+ high, 4+ medium, >0 low

struct OsvEvent {
  enum Kind { kIntroduced, kFixed, kLastAffected } kind;
  std::string version;
};

struct OsvRange {
  bool semver = false;           // type SEMVER (else ECOSYSTEM)
  std::vector<OsvEvent> events;  // as listed (matching sorts them)
};

struct OsvAffected {
  Ecosystem ecosystem = Ecosystem::kOther;
  std::string name;  // PyPI: normalised
  std::vector<OsvRange> ranges;
  std::vector<std::string> versions;
};

struct Vulnerability {
  std::string id;
  std::vector<std::string> aliases;
  std::string summary;
  Severity severity = Severity::kUnknown;
  std::vector<OsvAffected> affected;
};

// Parses one OSV entry. ParseError when it is not one (not JSON, no id, no
// affected list); the JSON may nest to any depth without using stack.
Vulnerability parse_osv(std::string_view json);

// True when `version` of a package in `ecosystem` is affected per `a`.
bool is_affected(const OsvAffected& a, std::string_view version);
// The fixed versions `a` names (for the report's "fix" column).
std::vector<std::string> fixed_versions(const OsvAffected& a);

struct Match {
  std::shared_ptr<const Vulnerability> vulnerability;
  Package package;
  std::vector<std::string> fixed_in;
};

struct OsvLimits {
  std::size_t max_entries = 2'000'000;
  std::uint64_t max_entry_bytes = 16ULL << 20;
  std::uint64_t max_total_bytes = 8ULL << 30;
};

class OsvDatabase {
 public:
  OsvDatabase() = default;
  // A directory (searched recursively for *.json, symlinks not followed)
  // or a .zip file.
  static OsvDatabase load(const std::filesystem::path& path, const OsvLimits& limits = {});

  // Adds one entry's JSON; false (and counted as skipped) if it is not an
  // OSV entry, is withdrawn, or names none of our ecosystems.
  bool add_json(std::string_view json);
  void add(Vulnerability v);

  // Matches, ordered by severity (critical first), then id and package.
  // One match per (entry, package).
  std::vector<Match> match(const std::vector<Package>& packages) const;

  std::size_t size() const { return count_; }
  std::size_t skipped() const { return skipped_; }

 private:
  // (ecosystem, name) -> entries naming it.
  std::map<std::pair<Ecosystem, std::string>, std::vector<std::shared_ptr<const Vulnerability>>> index_;
  std::size_t count_ = 0;
  std::size_t skipped_ = 0;
};

}  // namespace atcr::scan

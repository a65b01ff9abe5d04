// OSV entries: parsing (rapidjson, iterative), range evaluation as the OSV
// schema's evaluation pseudo-code describes it, and CVSS v3 base scores
// (the CVSS v3.1 specification's equations, section 7).
#include "atcr/scan/osv.h"

#include <fmt/core.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "atcr/scan/version.h"

namespace atcr::scan {

namespace {

using JsonValue = rapidjson::Value;

std::string string_member(const JsonValue& obj, const char* key) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

const JsonValue* member(const JsonValue& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::optional<Severity> severity_from_text(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  if (text == "CRITICAL") return Severity::kCritical;
  if (text == "HIGH" || text == "IMPORTANT") return Severity::kHigh;
  if (text == "MODERATE" || text == "MEDIUM") return Severity::kMedium;
  if (text == "LOW" || text == "NEGLIGIBLE") return Severity::kLow;
  return std::nullopt;
}

double roundup(double x) {
  auto scaled = static_cast<std::int64_t>(std::llround(x * 100000.0));
  if (scaled % 10000 == 0) return static_cast<double>(scaled) / 100000.0;
  return static_cast<double>(scaled / 10000 + 1) / 10.0;
}

// The version in ecosystem order, with OSV's "0" as the start of time.
int compare_event_versions(Ecosystem ecosystem, std::string_view a, std::string_view b) {
  if (a == b) return 0;
  if (a == "0") return -1;
  if (b == "0") return 1;
  return compare_versions(ecosystem, a, b);
}

Severity severity_of(const JsonValue& doc) {
  if (const JsonValue* spec = member(doc, "database_specific")) {
    if (auto s = severity_from_text(string_member(*spec, "severity"))) return *s;
  }
  if (const JsonValue* affected = member(doc, "affected"); affected && affected->IsArray()) {
    for (const JsonValue& a : affected->GetArray()) {
      for (const char* key : {"ecosystem_specific", "database_specific"}) {
        if (const JsonValue* spec = member(a, key)) {
          if (auto s = severity_from_text(string_member(*spec, "severity"))) return *s;
        }
      }
    }
  }
  std::optional<double> best;
  if (const JsonValue* list = member(doc, "severity"); list && list->IsArray()) {
    for (const JsonValue& s : list->GetArray()) {
      std::string score = string_member(s, "score");
      std::optional<double> value = cvss3_base_score(score);
      if (!value) {
        char* end = nullptr;
        double d = std::strtod(score.c_str(), &end);
        if (!score.empty() && end == score.c_str() + score.size() && d >= 0 && d <= 10) value = d;
      }
      if (value && (!best || *value > *best)) best = value;
    }
  }
  return best ? severity_of_score(*best) : Severity::kUnknown;
}

}  // namespace

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return "Critical";
    case Severity::kHigh:
      return "High";
    case Severity::kMedium:
      return "Medium";
    case Severity::kLow:
      return "Low";
    case Severity::kUnknown:
      break;
  }
  return "Unknown";
}

Severity severity_of_score(double score) {
  if (score >= 9.0) return Severity::kCritical;
  if (score >= 7.0) return Severity::kHigh;
  if (score >= 4.0) return Severity::kMedium;
  if (score > 0.0) return Severity::kLow;
  return Severity::kUnknown;
}

std::optional<double> cvss3_base_score(std::string_view vector) {
  if (!vector.starts_with("CVSS:3.0/") && !vector.starts_with("CVSS:3.1/")) return std::nullopt;
  vector.remove_prefix(9);
  std::map<std::string_view, std::string_view> m;
  while (!vector.empty()) {
    std::size_t slash = vector.find('/');
    std::string_view part = vector.substr(0, slash);
    std::size_t colon = part.find(':');
    if (colon == std::string_view::npos || m.size() > 64) return std::nullopt;
    m[part.substr(0, colon)] = part.substr(colon + 1);
    if (slash == std::string_view::npos) break;
    vector.remove_prefix(slash + 1);
  }
  auto pick = [&](std::string_view key,
                  std::initializer_list<std::pair<std::string_view, double>> values) -> std::optional<double> {
    auto it = m.find(key);
    if (it == m.end()) return std::nullopt;
    for (const auto& [name, weight] : values) {
      if (it->second == name) return weight;
    }
    return std::nullopt;
  };
  auto scope = m.find("S");
  if (scope == m.end() || (scope->second != "U" && scope->second != "C")) return std::nullopt;
  bool changed = scope->second == "C";
  auto av = pick("AV", {{"N", 0.85}, {"A", 0.62}, {"L", 0.55}, {"P", 0.2}});
  auto ac = pick("AC", {{"L", 0.77}, {"H", 0.44}});
  auto pr = pick("PR", {{"N", 0.85}, {"L", changed ? 0.68 : 0.62}, {"H", changed ? 0.5 : 0.27}});
  auto ui = pick("UI", {{"N", 0.85}, {"R", 0.62}});
  auto c = pick("C", {{"H", 0.56}, {"L", 0.22}, {"N", 0.0}});
  auto i = pick("I", {{"H", 0.56}, {"L", 0.22}, {"N", 0.0}});
  auto a = pick("A", {{"H", 0.56}, {"L", 0.22}, {"N", 0.0}});
  if (!av || !ac || !pr || !ui || !c || !i || !a) return std::nullopt;
  double iss = 1 - (1 - *c) * (1 - *i) * (1 - *a);
  double impact = changed ? 7.52 * (iss - 0.029) - 3.25 * std::pow(iss - 0.02, 15) : 6.42 * iss;
  double exploitability = 8.22 * *av * *ac * *pr * *ui;
  if (impact <= 0) return 0.0;
  return changed ? roundup(std::min(1.08 * (impact + exploitability), 10.0))
                 : roundup(std::min(impact + exploitability, 10.0));
}

Vulnerability parse_osv(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) throw ParseError("OSV entry: not a JSON object");
  Vulnerability v;
  v.id = string_member(doc, "id");
  if (v.id.empty() || v.id.size() > 256) throw ParseError("OSV entry: no id");
  v.summary = string_member(doc, "summary");
  if (v.summary.size() > 1024) v.summary.resize(1024);
  if (const JsonValue* aliases = member(doc, "aliases"); aliases && aliases->IsArray()) {
    for (const JsonValue& a : aliases->GetArray()) {
      if (a.IsString() && a.GetStringLength() <= 256) v.aliases.emplace_back(a.GetString(), a.GetStringLength());
    }
  }
  const JsonValue* affected = member(doc, "affected");
  if (!affected || !affected->IsArray()) throw ParseError(fmt::format("OSV entry {}: no affected list", v.id));
  for (const JsonValue& a : affected->GetArray()) {
    const JsonValue* pkg = member(a, "package");
    if (!pkg) continue;
    OsvAffected out;
    out.ecosystem = ecosystem_from_osv(string_member(*pkg, "ecosystem"));
    out.name = string_member(*pkg, "name");
    if (out.ecosystem == Ecosystem::kPyPI) out.name = normalize_pypi_name(out.name);
    if (out.name.empty()) continue;
    if (const JsonValue* ranges = member(a, "ranges"); ranges && ranges->IsArray()) {
      for (const JsonValue& r : ranges->GetArray()) {
        std::string type = string_member(r, "type");
        if (type != "ECOSYSTEM" && type != "SEMVER") continue;  // GIT ranges name commits
        OsvRange range;
        const JsonValue* events = member(r, "events");
        if (!events || !events->IsArray()) continue;
        for (const JsonValue& e : events->GetArray()) {
          if (std::string s = string_member(e, "introduced"); !s.empty())
            range.events.push_back({OsvEvent::kIntroduced, s});
          else if (std::string f = string_member(e, "fixed"); !f.empty())
            range.events.push_back({OsvEvent::kFixed, f});
          else if (std::string l = string_member(e, "last_affected"); !l.empty())
            range.events.push_back({OsvEvent::kLastAffected, l});
        }
        range.semver = type == "SEMVER";
        out.ranges.push_back(std::move(range));
      }
    }
    if (const JsonValue* versions = member(a, "versions"); versions && versions->IsArray()) {
      for (const JsonValue& s : versions->GetArray()) {
        if (s.IsString()) out.versions.emplace_back(s.GetString(), s.GetStringLength());
      }
    }
    v.affected.push_back(std::move(out));
  }
  v.severity = severity_of(doc);
  if (member(doc, "withdrawn") && member(doc, "withdrawn")->IsString()) v.affected.clear();
  return v;
}

bool is_affected(const OsvAffected& a, std::string_view version) {
  for (const std::string& v : a.versions) {
    if (compare_versions(a.ecosystem, v, version) == 0) return true;
  }
  for (const OsvRange& range : a.ranges) {
    // A SEMVER range orders by semver whatever the ecosystem.
    Ecosystem order = range.semver ? Ecosystem::kNpm : a.ecosystem;
    std::vector<OsvEvent> events = range.events;
    std::stable_sort(events.begin(), events.end(), [&](const OsvEvent& x, const OsvEvent& y) {
      return compare_event_versions(order, x.version, y.version) < 0;
    });
    bool affected = false;
    for (const OsvEvent& e : events) {
      int c = compare_event_versions(order, version, e.version);
      if (e.kind == OsvEvent::kIntroduced && (e.version == "0" || c >= 0))
        affected = true;
      else if (e.kind == OsvEvent::kFixed && c >= 0)
        affected = false;
      else if (e.kind == OsvEvent::kLastAffected && c > 0)
        affected = false;
    }
    if (affected) return true;
  }
  return false;
}

std::vector<std::string> fixed_versions(const OsvAffected& a) {
  std::vector<std::string> out;
  for (const OsvRange& r : a.ranges) {
    for (const OsvEvent& e : r.events) {
      if (e.kind == OsvEvent::kFixed && std::find(out.begin(), out.end(), e.version) == out.end())
        out.push_back(e.version);
    }
  }
  return out;
}

bool OsvDatabase::add_json(std::string_view json) {
  try {
    Vulnerability v = parse_osv(json);
    bool ours = std::any_of(v.affected.begin(), v.affected.end(),
                            [](const OsvAffected& a) { return a.ecosystem != Ecosystem::kOther; });
    if (!ours) {
      ++skipped_;
      return false;
    }
    add(std::move(v));
    return true;
  } catch (const ParseError&) {
    ++skipped_;
    return false;
  }
}

void OsvDatabase::add(Vulnerability v) {
  auto shared = std::make_shared<const Vulnerability>(std::move(v));
  std::set<std::pair<Ecosystem, std::string>> keys;
  for (const OsvAffected& a : shared->affected) {
    if (a.ecosystem != Ecosystem::kOther) keys.emplace(a.ecosystem, a.name);
  }
  for (const auto& key : keys) index_[key].push_back(shared);
  ++count_;
}

std::vector<Match> OsvDatabase::match(const std::vector<Package>& packages) const {
  std::vector<Match> out;
  for (const Package& p : packages) {
    // The names (and versions) the databases may use for this package.
    std::vector<std::pair<std::string, std::string>> names{
        {p.ecosystem == Ecosystem::kPyPI ? normalize_pypi_name(p.name) : p.name, p.version}};
    if (!p.source_name.empty() && p.source_name != p.name)
      names.emplace_back(p.source_name, p.source_version.empty() ? p.version : p.source_version);
    std::set<std::string> seen;
    for (const auto& [name, version] : names) {
      auto it = index_.find({p.ecosystem, name});
      if (it == index_.end()) continue;
      for (const auto& vuln : it->second) {
        if (seen.contains(vuln->id)) continue;
        for (const OsvAffected& a : vuln->affected) {
          if (a.ecosystem != p.ecosystem || a.name != name || !is_affected(a, version)) continue;
          seen.insert(vuln->id);
          out.push_back({vuln, p, fixed_versions(a)});
          break;
        }
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Match& a, const Match& b) {
    if (a.vulnerability->severity != b.vulnerability->severity)
      return a.vulnerability->severity > b.vulnerability->severity;
    if (a.vulnerability->id != b.vulnerability->id) return a.vulnerability->id < b.vulnerability->id;
    return a.package.name < b.package.name;
  });
  return out;
}

OsvDatabase OsvDatabase::load(const std::filesystem::path& path, const OsvLimits& limits) {
  namespace fs = std::filesystem;
  OsvDatabase db;
  std::uint64_t total = 0;
  std::size_t entries = 0;
  auto take = [&](std::size_t bytes) {
    total += bytes;
    if (++entries > limits.max_entries || total > limits.max_total_bytes)
      throw LimitError(fmt::format("the OSV database at {} exceeds {} entries or {} bytes", path.string(),
                                   limits.max_entries, limits.max_total_bytes));
  };
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_symlink() || !it->is_regular_file() || it->path().extension() != ".json") continue;
      std::uintmax_t size = it->file_size(ec);
      if (ec || size > limits.max_entry_bytes) {
        ++db.skipped_;
        continue;
      }
      std::ifstream in(it->path(), std::ios::binary);
      std::string text(static_cast<std::size_t>(size), '\0');
      in.read(text.data(), static_cast<std::streamsize>(size));
      text.resize(static_cast<std::size_t>(in.gcount()));
      take(text.size());
      db.add_json(text);
    }
    if (ec) throw ConfigError("", fmt::format("reading the OSV database {}: {}", path.string(), ec.message()));
    return db;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError("", fmt::format("the OSV database {} is neither a directory nor a readable file", path.string()));
  ReadFn read = [&in](std::span<std::uint8_t> buffer) {
    in.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    return static_cast<std::size_t>(in.gcount());
  };
  LayerLimits archive_limits;
  archive_limits.max_file_bytes = limits.max_entry_bytes;
  archive_limits.max_unpacked_bytes = limits.max_total_bytes;
  archive_limits.max_kept_bytes = limits.max_total_bytes;
  archive_limits.max_kept_files = limits.max_entries;
  archive_limits.max_entries = limits.max_entries;
  read_archive_files(
      read, archive_limits, [](std::string_view p) { return p.ends_with(".json"); },
      [&](const std::string&, std::string content) {
        take(content.size());
        db.add_json(content);
      });
  return db;
}

}  // namespace atcr::scan

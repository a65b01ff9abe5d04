// Package database parsers. dpkg's and apk's formats are line-oriented
// records; METADATA is RFC 822 headers; package.json is JSON (rapidjson,
// iterative, so nesting depth costs no stack).
#include "atcr/scan/packages.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "atcr/net/http_client.h"
#include "util/text.h"

namespace atcr::scan {

namespace {

// Calls visit(line) for each line (without its '\n').
template <typename Visit>
void for_each_line(std::string_view text, Visit visit) {
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    visit(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

// Names and versions go into SBOMs and reports: no control characters,
// and a sane length.
bool plausible(std::string_view s) {
  if (s.empty() || s.size() > 512) return false;
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

void add_if_complete(std::vector<Package>& out, Package p) {
  if (!plausible(p.name) || !plausible(p.version)) return;
  out.push_back(std::move(p));
}

}  // namespace

std::string Package::purl() const {
  std::string type, ns, qualifiers;
  std::string n = name;
  switch (ecosystem) {
    case Ecosystem::kDebian:
      type = "deb", ns = "debian/";
      break;
    case Ecosystem::kAlpine:
      type = "apk", ns = "alpine/";
      break;
    case Ecosystem::kPyPI:
      type = "pypi", n = normalize_pypi_name(name);
      break;
    case Ecosystem::kNpm:
      type = "npm";
      break;
    case Ecosystem::kOther:
      type = "generic";
      break;
  }
  std::string path;
  if (ecosystem == Ecosystem::kNpm && n.starts_with('@') && n.find('/') != std::string::npos) {
    std::size_t slash = n.find('/');
    path = net::url_encode(n.substr(0, slash)) + "/" + net::url_encode(n.substr(slash + 1));
  } else {
    path = net::url_encode(n);
  }
  if (!arch.empty() && (ecosystem == Ecosystem::kDebian || ecosystem == Ecosystem::kAlpine))
    qualifiers = "?arch=" + net::url_encode(arch);
  return "pkg:" + type + "/" + ns + path + "@" + net::url_encode(version) + qualifiers;
}

std::vector<Package> parse_dpkg_status(std::string_view text, std::string_view location) {
  std::vector<Package> out;
  // Distroless images' status.d files carry no Status line: each of their
  // paragraphs is an installed package.
  const bool status_d = location.find("status.d/") != std::string_view::npos;
  Package p;
  std::optional<bool> installed;
  auto flush = [&] {
    if (installed.value_or(status_d)) {
      p.ecosystem = Ecosystem::kDebian;
      p.location = std::string(location);
      add_if_complete(out, std::move(p));
    }
    p = Package{};
    installed.reset();
  };
  for_each_line(text, [&](std::string_view line) {
    if (util::trim(line).empty()) return flush();
    if (line.front() == ' ' || line.front() == '\t') return;  // a continuation
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string_view key = line.substr(0, colon), value = util::trim(line.substr(colon + 1));
    if (key == "Package") {
      p.name = value;
    } else if (key == "Version") {
      p.version = value;
    } else if (key == "Architecture") {
      p.arch = value;
    } else if (key == "Status") {
      // "want flag status": only "installed" packages are on disk whole.
      installed = value.ends_with(" installed");
    } else if (key == "Source") {
      // "Source: name" or "Source: name (version)" when it differs.
      std::size_t paren = value.find('(');
      p.source_name = util::trim(value.substr(0, paren));
      if (paren != std::string_view::npos) {
        std::size_t close = value.find(')', paren);
        if (close != std::string_view::npos)
          p.source_version = util::trim(value.substr(paren + 1, close - paren - 1));
      }
    }
  });
  flush();
  return out;
}

std::vector<Package> parse_apk_installed(std::string_view text, std::string_view location) {
  std::vector<Package> out;
  Package p;
  auto flush = [&] {
    p.ecosystem = Ecosystem::kAlpine;
    p.location = std::string(location);
    add_if_complete(out, std::move(p));
    p = Package{};
  };
  for_each_line(text, [&](std::string_view line) {
    line = util::trim(line);
    if (line.empty()) return flush();
    if (line.size() < 2 || line[1] != ':') return;
    std::string_view value = line.substr(2);
    switch (line[0]) {
      case 'P':
        p.name = value;
        break;
      case 'V':
        p.version = value;
        break;
      case 'A':
        p.arch = value;
        break;
      case 'o':
        p.source_name = value;
        break;
      case 'L':
        p.license = value;
        break;
      default:
        break;
    }
  });
  flush();
  return out;
}

std::optional<Package> parse_python_metadata(std::string_view text, std::string_view location) {
  Package p;
  p.ecosystem = Ecosystem::kPyPI;
  p.location = std::string(location);
  bool done = false;
  for_each_line(text, [&](std::string_view line) {
    if (done) return;
    if (util::trim(line).empty()) {
      done = true;  // the headers end; the description follows
      return;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.front() == ' ' || line.front() == '\t') return;
    std::string_view key = line.substr(0, colon), value = util::trim(line.substr(colon + 1));
    if (util::iequals_ascii(key, "Name") && p.name.empty())
      p.name = value;
    else if (util::iequals_ascii(key, "Version") && p.version.empty())
      p.version = value;
    else if (util::iequals_ascii(key, "License") && p.license.empty())
      p.license = value;
  });
  if (!plausible(p.name) || !plausible(p.version)) return std::nullopt;
  return p;
}

std::optional<Package> parse_npm_package_json(std::string_view text, std::string_view location) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  const rapidjson::Value& obj = doc;
  auto string_member = [&](const char* key) -> std::string {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return {};
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  Package p;
  p.ecosystem = Ecosystem::kNpm;
  p.location = std::string(location);
  p.name = string_member("name");
  p.version = string_member("version");
  p.license = string_member("license");
  if (!plausible(p.name) || !plausible(p.version)) return std::nullopt;
  return p;
}

std::string normalize_pypi_name(std::string_view name) {
  std::string out;
  bool pending_dash = false;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      pending_dash = !out.empty();
      continue;
    }
    if (pending_dash) out += '-';
    pending_dash = false;
    out += util::ascii_lower(c);
  }
  return out;
}

std::optional<DatabaseKind> database_kind(std::string_view path) {
  if (path == "var/lib/dpkg/status") return DatabaseKind::kDpkgStatus;
  if (path.starts_with("var/lib/dpkg/status.d/") && path.find('/', 23) == std::string_view::npos && path.size() > 23 &&
      !path.ends_with(".md5sums"))
    return DatabaseKind::kDpkgStatus;
  if (path == "lib/apk/db/installed") return DatabaseKind::kApkInstalled;
  std::size_t slash = path.rfind('/');
  std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::string_view dir = slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
  if (file == "METADATA" && dir.ends_with(".dist-info")) return DatabaseKind::kPythonMetadata;
  if (file == "PKG-INFO" && dir.ends_with(".egg-info")) return DatabaseKind::kPythonMetadata;
  if (file == "package.json") {
    // node_modules/<name>/package.json or node_modules/@scope/<name>/package.json
    std::size_t nm = dir.rfind("node_modules/");
    if (nm == std::string_view::npos || (nm > 0 && dir[nm - 1] != '/')) return std::nullopt;
    std::string_view rest = dir.substr(nm + 13);
    std::size_t slashes = static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '/'));
    if (rest.empty() || rest.front() == '/') return std::nullopt;
    if ((rest.front() == '@' && slashes == 1) || (rest.front() != '@' && slashes == 0))
      return DatabaseKind::kNpmPackageJson;
  }
  return std::nullopt;
}

std::vector<Package> packages_in(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<Package> all;
  for (const auto& [path, content] : files) {
    auto kind = database_kind(path);
    if (!kind) continue;
    switch (*kind) {
      case DatabaseKind::kDpkgStatus: {
        auto found = parse_dpkg_status(content, path);
        all.insert(all.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
        break;
      }
      case DatabaseKind::kApkInstalled: {
        auto found = parse_apk_installed(content, path);
        all.insert(all.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
        break;
      }
      case DatabaseKind::kPythonMetadata:
        if (auto p = parse_python_metadata(content, path)) all.push_back(std::move(*p));
        break;
      case DatabaseKind::kNpmPackageJson:
        if (auto p = parse_npm_package_json(content, path)) all.push_back(std::move(*p));
        break;
    }
  }
  auto key = [](const Package& p) { return std::tie(p.ecosystem, p.name, p.version); };
  std::stable_sort(all.begin(), all.end(), [&](const Package& a, const Package& b) { return key(a) < key(b); });
  all.erase(std::unique(all.begin(), all.end(), [&](const Package& a, const Package& b) { return key(a) == key(b); }),
            all.end());
  return all;
}

}  // namespace atcr::scan

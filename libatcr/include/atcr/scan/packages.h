// The packages an image carries, read from its package managers' own
// databases: dpkg's status file, apk's installed database, Python's
// *.dist-info/METADATA and npm's package.json under node_modules.
//
// Parsers take the file's text (already size-capped by the layer reader)
// and never throw on odd content: a paragraph without a name or version is
// skipped, a package.json that is not JSON yields nothing. Output is bounded
// by the input's size.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/scan/version.h"

namespace atcr::scan {

struct Package {
  std::string name;
  std::string version;
  Ecosystem ecosystem = Ecosystem::kOther;
  // dpkg: the source package and its version (advisories name sources);
  // apk: the origin. Empty when the same as name / version.
  std::string source_name;
  std::string source_version;
  std::string arch;
  std::string license;
  std::string location;  // the database it was found in, e.g. "var/lib/dpkg/status"

  // The package URL (purl spec): pkg:deb/debian/openssl@3.0.11-1?arch=amd64,
  // pkg:apk/alpine/musl@1.2.4-r2, pkg:pypi/requests@2.31.0,
  // pkg:npm/%40scope/name@1.0.0.
  std::string purl() const;
};

// Installed paragraphs ("Status: install ok installed") of a dpkg status
// file (or a file of /var/lib/dpkg/status.d/, as distroless images have).
std::vector<Package> parse_dpkg_status(std::string_view text, std::string_view location);
// lib/apk/db/installed: "P:name", "V:version", "A:arch", "o:origin", "L:license" records.
std::vector<Package> parse_apk_installed(std::string_view text, std::string_view location);
// A wheel's METADATA (or an egg's PKG-INFO): the Name and Version headers.
std::optional<Package> parse_python_metadata(std::string_view text, std::string_view location);
// A package.json under node_modules: "name" and "version".
std::optional<Package> parse_npm_package_json(std::string_view text, std::string_view location);

// PEP 503's normalised name ("Foo_Bar.baz" -> "foo-bar-baz"): how PyPI and
// OSV name a project.
std::string normalize_pypi_name(std::string_view name);

// Which parser reads the file at `path` (an image path without a leading
// "/"), or nullopt when the scanner has no use for it.
enum class DatabaseKind { kDpkgStatus, kApkInstalled, kPythonMetadata, kNpmPackageJson };
std::optional<DatabaseKind> database_kind(std::string_view path);

// Every package in the given files (path -> content), sorted by ecosystem,
// name and version, duplicates (same name, version, ecosystem) merged.
std::vector<Package> packages_in(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace atcr::scan

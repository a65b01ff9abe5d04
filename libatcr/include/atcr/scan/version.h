// Package version ordering, per ecosystem, as the vulnerability databases
// mean it: an OSV range "introduced 1:2.3-1, fixed 1:2.3-4" is only right
// if versions compare the way the distribution's own tools compare them.
//
//   scan::compare_versions(Ecosystem::kDebian, "1:1.0", "2.0") > 0   // epoch wins
//   scan::compare_versions(Ecosystem::kDebian, "1.0~rc1", "1.0") < 0  // ~ sorts first
//
// Every comparison is total and never throws: a version an ecosystem's
// grammar does not accept (hostile input, a typo in a database) is ordered
// by Debian's algorithm on the raw strings, which sorts any text sensibly.
// Comparisons run in time linear in the lengths (digit runs are compared as
// strings, never converted, so 2^200 does not overflow).
#pragma once

#include <string_view>

namespace atcr::scan {

enum class Ecosystem {
  kDebian,  // dpkg: [epoch:]upstream[-revision] (deb-version(7))
  kAlpine,  // apk: 1.2.3[a][_suffix[N]]...[-rN]
  kPyPI,    // PEP 440: [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]
  kNpm,     // semver 2.0.0 (a leading "v" or "=" tolerated)
  kOther,   // compared as kDebian
};

// OSV's name for an ecosystem ("Debian", "Alpine", "PyPI", "npm").
std::string_view ecosystem_name(Ecosystem ecosystem);
// From an OSV "ecosystem" ("Debian:12", "Alpine:v3.19" name a release; the
// part before ':' decides). kOther for anything else.
Ecosystem ecosystem_from_osv(std::string_view name);

// <0, 0, >0 as a sorts before, the same as, or after b.
int compare_versions(Ecosystem ecosystem, std::string_view a, std::string_view b);

int compare_debian(std::string_view a, std::string_view b);
int compare_apk(std::string_view a, std::string_view b);
int compare_pep440(std::string_view a, std::string_view b);
int compare_semver(std::string_view a, std::string_view b);

}  // namespace atcr::scan

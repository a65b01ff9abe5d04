// libFuzzer target: OSV entries and version strings. The input is tried as
// an OSV entry (parse_osv may only throw ParseError; a parsed entry is
// matched against versions cut from the input), and as versions separated
// by newlines, whose comparison in every ecosystem must be reflexive and
// antisymmetric, and must never throw.
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/error.h"
#include "atcr/scan/osv.h"
#include "atcr/scan/version.h"

using namespace atcr;
using namespace atcr::scan;

namespace {

int sign(int v) { return (v > 0) - (v < 0); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> versions;
  for (std::string_view rest = text; versions.size() < 8;) {
    std::size_t nl = rest.find('\n');
    versions.push_back(rest.substr(0, std::min<std::size_t>(nl, 256)));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  for (Ecosystem e : {Ecosystem::kDebian, Ecosystem::kAlpine, Ecosystem::kPyPI, Ecosystem::kNpm}) {
    for (std::string_view a : versions) {
      if (compare_versions(e, a, a) != 0) std::abort();
      for (std::string_view b : versions) {
        if (sign(compare_versions(e, a, b)) != -sign(compare_versions(e, b, a))) std::abort();
      }
    }
  }
  (void)cvss3_base_score(text);
  try {
    Vulnerability v = parse_osv(text);
    OsvDatabase db;
    db.add(v);
    std::vector<Package> packages;
    for (const OsvAffected& a : v.affected) {
      for (std::string_view version : versions) {
        (void)is_affected(a, version);
        Package p;
        p.ecosystem = a.ecosystem;
        p.name = a.name;
        p.version = version;
        packages.push_back(p);
      }
      if (packages.size() > 64) break;
    }
    (void)db.match(packages);
  } catch (const ParseError&) {
  }
  return 0;
}

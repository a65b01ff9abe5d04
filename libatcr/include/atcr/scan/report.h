// What a scan produces: an SPDX 2.3 JSON SBOM of the packages found, and a
// vulnerability report of the matches (media type
// application/vnd.atcr.vulnerabilities+json), both as atproto Values (the
// data model has no floats, so neither carries one).
//
// The report's shape, ours (ATCR's is Grype's JSON, unpublished):
//   {"image": {"repository", "digest", "userDid"},
//    "summary": {"critical", "high", "medium", "low", "total"},
//    "matches": [{"vulnerability": {"id", "severity", "aliases", "summary",
//                                   "fixedIn": [..]},
//                 "package": {"name", "version", "ecosystem", "purl",
//                             "location"}}],
//    "scanner": "atcr-scanner/<version>", "database": {"entries": N}}
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/data/value.h"
#include "atcr/scan/osv.h"
#include "atcr/scan/packages.h"

namespace atcr::scan {

struct ImageRef {
  std::string repository;
  std::string digest;  // the manifest's, "sha256:..."
  std::string user_did;
};

struct Summary {
  std::int64_t critical = 0, high = 0, medium = 0, low = 0, total = 0;  // total counts unknown severities too
};
Summary summarize(const std::vector<Match>& matches);

// SPDX 2.3: the document DESCRIBES one package per image package, each with
// a purl external reference and where it was found (sourceInfo).
// `created` is an RFC 3339 UTC time; `tool` names the creator
// ("atcr-scanner-0.1.0").
Value spdx_sbom(const ImageRef& image, const std::vector<Package>& packages, std::string_view created,
                std::string_view tool);

Value vulnerability_report(const ImageRef& image, const std::vector<Match>& matches, std::string_view tool,
                           std::size_t database_entries);

}  // namespace atcr::scan

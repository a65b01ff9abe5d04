#include "atcr/scan/report.h"

#include <fmt/core.h>

namespace atcr::scan {

namespace {

// SPDX identifiers allow letters, digits, '.' and '-' only.
std::string spdx_id(std::size_t index, std::string_view name) {
  std::string id = fmt::format("SPDXRef-Package-{}-", index);
  for (char c : name.substr(0, 64)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    id += ok ? c : '-';
  }
  return id;
}

}  // namespace

Summary summarize(const std::vector<Match>& matches) {
  Summary s;
  for (const Match& m : matches) {
    switch (m.vulnerability->severity) {
      case Severity::kCritical:
        ++s.critical;
        break;
      case Severity::kHigh:
        ++s.high;
        break;
      case Severity::kMedium:
        ++s.medium;
        break;
      case Severity::kLow:
        ++s.low;
        break;
      case Severity::kUnknown:
        break;
    }
    ++s.total;
  }
  return s;
}

Value spdx_sbom(const ImageRef& image, const std::vector<Package>& packages, std::string_view created,
                std::string_view tool) {
  Value::Array spdx_packages, relationships;
  for (std::size_t i = 0; i < packages.size(); ++i) {
    const Package& p = packages[i];
    std::string id = spdx_id(i + 1, p.name);
    Value::Map pkg{
        {"SPDXID", Value(id)},
        {"name", Value(p.name)},
        {"versionInfo", Value(p.version)},
        {"downloadLocation", Value("NOASSERTION")},
        {"filesAnalyzed", Value(false)},
        {"licenseConcluded", Value("NOASSERTION")},
        {"licenseDeclared", Value("NOASSERTION")},
        {"copyrightText", Value("NOASSERTION")},
        {"sourceInfo",
         Value(fmt::format("acquired package info from {} database: {}", ecosystem_name(p.ecosystem), p.location))},
        {"externalRefs", Value(Value::Array{Value(Value::Map{
                             {"referenceCategory", Value("PACKAGE-MANAGER")},
                             {"referenceType", Value("purl")},
                             {"referenceLocator", Value(p.purl())},
                         })})},
    };
    spdx_packages.emplace_back(std::move(pkg));
    relationships.emplace_back(Value::Map{
        {"spdxElementId", Value("SPDXRef-DOCUMENT")},
        {"relationshipType", Value("DESCRIBES")},
        {"relatedSpdxElement", Value(id)},
    });
  }
  return Value(Value::Map{
      {"spdxVersion", Value("SPDX-2.3")},
      {"dataLicense", Value("CC0-1.0")},
      {"SPDXID", Value("SPDXRef-DOCUMENT")},
      {"name", Value(fmt::format("{}@{}", image.repository, image.digest))},
      {"documentNamespace",
       Value(fmt::format("https://atcr.io/spdxdocs/{}/{}/{}", image.user_did, image.repository, image.digest))},
      {"creationInfo", Value(Value::Map{
                           {"created", Value(created)},
                           {"creators", Value(Value::Array{Value(fmt::format("Tool: {}", tool))})},
                       })},
      {"packages", Value(std::move(spdx_packages))},
      {"relationships", Value(std::move(relationships))},
  });
}

Value vulnerability_report(const ImageRef& image, const std::vector<Match>& matches, std::string_view tool,
                           std::size_t database_entries) {
  Value::Array list;
  for (const Match& m : matches) {
    const Vulnerability& v = *m.vulnerability;
    Value::Array aliases(v.aliases.begin(), v.aliases.end());
    Value::Array fixed(m.fixed_in.begin(), m.fixed_in.end());
    list.emplace_back(Value::Map{
        {"vulnerability", Value(Value::Map{
                              {"id", Value(v.id)},
                              {"severity", Value(severity_name(v.severity))},
                              {"aliases", Value(std::move(aliases))},
                              {"summary", Value(v.summary)},
                              {"fixedIn", Value(std::move(fixed))},
                          })},
        {"package", Value(Value::Map{
                        {"name", Value(m.package.name)},
                        {"version", Value(m.package.version)},
                        {"ecosystem", Value(ecosystem_name(m.package.ecosystem))},
                        {"purl", Value(m.package.purl())},
                        {"location", Value(m.package.location)},
                    })},
    });
  }
  Summary s = summarize(matches);
  return Value(Value::Map{
      {"image", Value(Value::Map{{"repository", Value(image.repository)},
                                 {"digest", Value(image.digest)},
                                 {"userDid", Value(image.user_did)}})},
      {"summary", Value(Value::Map{{"critical", Value(s.critical)},
                                   {"high", Value(s.high)},
                                   {"medium", Value(s.medium)},
                                   {"low", Value(s.low)},
                                   {"total", Value(s.total)}})},
      {"matches", Value(std::move(list))},
      {"scanner", Value(tool)},
      {"database", Value(Value::Map{{"entries", Value(static_cast<std::int64_t>(database_entries))}})},
  });
}

}  // namespace atcr::scan

// scan: version ordering per ecosystem, package database parsers, OSV
// matching, the SBOM and report shapes, the scanner protocol messages, and
// the layer reader against hostile archives.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "atcr/data/json.h"
#include "atcr/scan/layer.h"
#include "atcr/scan/osv.h"
#include "atcr/scan/packages.h"
#include "atcr/scan/protocol.h"
#include "atcr/scan/report.h"
#include "atcr/scan/version.h"
#include "tar_builder.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::scan;
using atcr::test::make_tar;
using atcr::test::TarEntry;

namespace {

// Every adjacent pair ascends strictly, and every pair compares consistently.
void check_ascending(Ecosystem e, const std::vector<std::string>& versions) {
  for (std::size_t i = 0; i < versions.size(); ++i) {
    for (std::size_t j = 0; j < versions.size(); ++j) {
      int c = compare_versions(e, versions[i], versions[j]);
      INFO(versions[i], " vs ", versions[j]);
      if (i < j) CHECK(c < 0);
      if (i == j) CHECK(c == 0);
      if (i > j) CHECK(c > 0);
    }
  }
}

}  // namespace

TEST_CASE("Debian version ordering: epochs, ~, revisions, digits") {
  check_ascending(Ecosystem::kDebian,
                  {"~~", "~~a", "~", "0", "1.0~rc1", "1.0~rc2", "1.0", "1.0-1", "1.0-1ubuntu1", "1.0-2", "1.0a",
                   "1.0+dfsg-1", "1.0.1", "1.2", "1.10", "2.0", "1:0.1", "1:1.0", "2:0"});
  CHECK(compare_debian("1.0", "1.0-0") == 0);  // an absent revision is "0"
  CHECK(compare_debian("0:1.0", "1.0") == 0);  // epoch 0 is no epoch
  CHECK(compare_debian("1.01", "1.1") == 0);   // digit runs compare as numbers
  CHECK(compare_debian("3.0.11-1~deb12u2", "3.0.11-1") < 0);
  CHECK(compare_debian("2.36-9+deb12u4", "2.36-9+deb12u10") < 0);
  // Huge digit runs do not overflow.
  CHECK(compare_debian(std::string(300, '9'), "1" + std::string(300, '0')) < 0);
}

TEST_CASE("apk version ordering") {
  check_ascending(Ecosystem::kAlpine, {"1.0_alpha1", "1.0_beta", "1.0_pre2", "1.0_rc1", "1.0", "1.0-r1", "1.0-r2",
                                       "1.0_p1", "1.0a", "1.0b", "1.0.1", "1.2.3-r0", "1.10"});
  CHECK(compare_apk("1.2.4-r2", "1.2.4-r10") < 0);
  CHECK(compare_apk("3.1.4-r5", "3.1.4-r5") == 0);
}

TEST_CASE("PEP 440 ordering") {
  check_ascending(Ecosystem::kPyPI, {"1.0.dev0", "1.0a1.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0",
                                     "1.0+local.1", "1.0.post1.dev1", "1.0.post1", "1.0.1", "1.1", "1!0.1"});
  CHECK(compare_pep440("1.0", "1.0.0") == 0);
  CHECK(compare_pep440("1.0ALPHA1", "1.0a1") == 0);
  CHECK(compare_pep440("v2.31.0", "2.31.0") == 0);
  CHECK(compare_pep440("1.0-1", "1.0.post1") == 0);
  CHECK(compare_pep440("1.0c1", "1.0rc1") == 0);
}

TEST_CASE("semver ordering") {
  check_ascending(Ecosystem::kNpm, {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                                    "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"});
  CHECK(compare_semver("v1.2.3", "1.2.3+build.5") == 0);
  // Not semver: ordered by the fallback, consistently.
  CHECK(compare_semver("banana", "1.0.0") == -compare_semver("1.0.0", "banana"));
}

TEST_CASE("dpkg status: installed paragraphs with source packages") {
  std::string status =
      "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n"
      "Version: 3.0.11-1~deb12u2\nDescription: SSL\n continuation line: not a field\n\n"
      "Package: removed\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
      "Package: zlib1g\nStatus: install ok installed\nSource: zlib (1:1.2.13.dfsg-1)\nVersion: 1:1.2.13.dfsg-1\n"
      "Architecture: amd64\n";
  auto pkgs = parse_dpkg_status(status, "var/lib/dpkg/status");
  REQUIRE(pkgs.size() == 2);
  CHECK(pkgs[0].name == "libssl3");
  CHECK(pkgs[0].source_name == "openssl");
  CHECK(pkgs[0].version == "3.0.11-1~deb12u2");
  CHECK(pkgs[0].purl() == "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64");
  CHECK(pkgs[1].source_version == "1:1.2.13.dfsg-1");
  CHECK(pkgs[1].purl() == "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64");
  // Distroless: no Status lines.
  CHECK(parse_dpkg_status("Package: base-files\nVersion: 12.4\n", "var/lib/dpkg/status.d/base").size() == 1);
}

TEST_CASE("apk, Python and npm databases") {
  auto apk = parse_apk_installed("C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\n\nP:busybox\nV:1.36.1-r5\n",
                                 "lib/apk/db/installed");
  REQUIRE(apk.size() == 2);
  CHECK(apk[0].purl() == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64");
  auto py = parse_python_metadata("Metadata-Version: 2.1\nName: Requests_Toolbelt\nVersion: 1.0.0\n\nName: ignored\n",
                                  "usr/lib/python3/site-packages/requests_toolbelt-1.0.0.dist-info/METADATA");
  REQUIRE(py);
  CHECK(py->name == "Requests_Toolbelt");
  CHECK(py->purl() == "pkg:pypi/requests-toolbelt@1.0.0");
  auto npm = parse_npm_package_json(R"({"name": "@babel/core", "version": "7.23.0", "nested": [[[1.5]]]})",
                                    "app/node_modules/@babel/core/package.json");
  REQUIRE(npm);
  CHECK(npm->purl() == "pkg:npm/%40babel/core@7.23.0");
  CHECK_FALSE(parse_npm_package_json("[", "x"));
  CHECK_FALSE(parse_npm_package_json(R"({"name": "x"})", "x"));
  CHECK_FALSE(parse_npm_package_json(std::string(100000, '['), "x"));  // deep nesting: no stack overflow
  CHECK(normalize_pypi_name("Foo__Bar.-baz") == "foo-bar-baz");
}

TEST_CASE("which files are package databases") {
  CHECK(database_kind("var/lib/dpkg/status") == DatabaseKind::kDpkgStatus);
  CHECK(database_kind("var/lib/dpkg/status.d/libc6") == DatabaseKind::kDpkgStatus);
  CHECK(database_kind("lib/apk/db/installed") == DatabaseKind::kApkInstalled);
  CHECK(database_kind("usr/lib/python3.11/site-packages/idna-3.4.dist-info/METADATA") == DatabaseKind::kPythonMetadata);
  CHECK(database_kind("app/node_modules/lodash/package.json") == DatabaseKind::kNpmPackageJson);
  CHECK(database_kind("app/node_modules/@types/node/package.json") == DatabaseKind::kNpmPackageJson);
  CHECK_FALSE(database_kind("app/node_modules/lodash/fp/package.json"));
  CHECK_FALSE(database_kind("app/package.json"));
  CHECK_FALSE(database_kind("etc/passwd"));
}

namespace {

const char* kOsvDebian = R"({
  "id": "DSA-0001-1", "aliases": ["CVE-2099-0001"], "summary": "openssl: a test flaw",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}]
})";

const char* kOsvPypi = R"({
  "id": "GHSA-test-0002", "database_specific": {"severity": "MODERATE"},
  "affected": [{"package": {"ecosystem": "PyPI", "name": "Requests"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"last_affected": "2.31.0"}]}]},
               {"package": {"ecosystem": "PyPI", "name": "urllib3"}, "versions": ["1.26.0", "1.26.1"]}]
})";

const char* kOsvNpm = R"({
  "id": "GHSA-test-0003", "database_specific": {"severity": "LOW"},
  "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "4.0.0"}, {"fixed": "4.17.21"}]},
                           {"type": "GIT", "repo": "x", "events": [{"introduced": "abc"}]}]}]
})";

Package pkg(Ecosystem e, std::string name, std::string version, std::string source = {}) {
  Package p;
  p.ecosystem = e;
  p.name = std::move(name);
  p.version = std::move(version);
  p.source_name = std::move(source);
  return p;
}

}  // namespace

TEST_CASE("CVSS v3 base scores") {
  CHECK(*cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == doctest::Approx(9.8));
  CHECK(*cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H") == doctest::Approx(10.0));
  CHECK(*cvss3_base_score("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N") == doctest::Approx(5.5));
  CHECK(*cvss3_base_score("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N") == doctest::Approx(3.1));
  CHECK_FALSE(cvss3_base_score("CVSS:2.0/AV:N"));
  CHECK_FALSE(cvss3_base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"));
}

TEST_CASE("OSV matching: ranges, versions, source packages, severities") {
  OsvDatabase db;
  CHECK(db.add_json(kOsvDebian));
  CHECK(db.add_json(kOsvPypi));
  CHECK(db.add_json(kOsvNpm));
  CHECK_FALSE(db.add_json(R"({"id": "X", "affected": [{"package": {"ecosystem": "Go", "name": "x"}}]})"));
  CHECK_FALSE(db.add_json("not json"));
  CHECK(db.size() == 3);
  CHECK(db.skipped() == 2);

  std::vector<Package> pkgs = {
      pkg(Ecosystem::kDebian, "libssl3", "3.0.11-1~deb12u2", "openssl"),  // affected via its source
      pkg(Ecosystem::kDebian, "openssl", "3.0.13-1~deb12u1"),             // the fixed version
      pkg(Ecosystem::kPyPI, "requests", "2.31.0"),                        // last_affected is inclusive
      pkg(Ecosystem::kPyPI, "urllib3", "1.26.1"),                         // listed version
      pkg(Ecosystem::kPyPI, "urllib3", "1.26.2"),
      pkg(Ecosystem::kNpm, "lodash", "4.17.20"),
      pkg(Ecosystem::kNpm, "lodash", "4.17.21"),
      pkg(Ecosystem::kAlpine, "openssl", "1.0"),  // another ecosystem's name
  };
  auto matches = db.match(pkgs);
  REQUIRE(matches.size() == 4);
  CHECK(matches[0].vulnerability->id == "DSA-0001-1");
  CHECK(matches[0].vulnerability->severity == Severity::kCritical);
  CHECK(matches[0].package.name == "libssl3");
  CHECK(matches[0].fixed_in == std::vector<std::string>{"3.0.13-1~deb12u1"});
  CHECK(matches[1].vulnerability->id == "GHSA-test-0002");
  CHECK(matches[2].vulnerability->id == "GHSA-test-0002");
  CHECK(matches[3].package.version == "4.17.20");
  Summary s = summarize(matches);
  CHECK(s.critical == 1);
  CHECK(s.medium == 2);
  CHECK(s.low == 1);
  CHECK(s.total == 4);

  // An epoch in the range: 1:0.9 is after 2.0 without one.
  OsvAffected a{
      Ecosystem::kDebian, "x", {OsvRange{false, {{OsvEvent::kIntroduced, "0"}, {OsvEvent::kFixed, "1:1.0"}}}}, {}};
  CHECK(is_affected(a, "5.0"));
  CHECK(is_affected(a, "1:0.9"));
  CHECK_FALSE(is_affected(a, "1:1.0"));
  CHECK(is_affected(a, "1:1.0~rc1"));
}

TEST_CASE("OSV database from a directory and a zip") {
  atcr::test::TempDir dir;
  auto write = [](const std::filesystem::path& p, std::string_view text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  };
  write(dir.path() / "debian" / "DSA-0001-1.json", kOsvDebian);
  write(dir.path() / "pypi" / "GHSA-test-0002.json", kOsvPypi);
  write(dir.path() / "junk.json", "{");
  write(dir.path() / "README", "not json, not counted");
  OsvDatabase db = OsvDatabase::load(dir.path());
  CHECK(db.size() == 2);
  CHECK(db.skipped() == 1);
  CHECK_THROWS_AS(OsvDatabase::load(dir.path() / "missing"), ConfigError);
}

TEST_CASE("SBOM: SPDX 2.3 with purls; the report and the protocol messages") {
  ImageRef image{"alice/app", "sha256:" + std::string(64, 'a'), "did:plc:alice"};
  std::vector<Package> pkgs = {pkg(Ecosystem::kDebian, "libc6", "2.36-9+deb12u4"),
                               pkg(Ecosystem::kNpm, "@scope/x y", "1.0.0")};
  Value sbom = spdx_sbom(image, pkgs, "2026-12-03T00:00:00Z", "atcr-scanner-0.1.0");
  CHECK(sbom.find("spdxVersion")->as_string() == "SPDX-2.3");
  CHECK(sbom.find("dataLicense")->as_string() == "CC0-1.0");
  CHECK(sbom.find("SPDXID")->as_string() == "SPDXRef-DOCUMENT");
  CHECK(sbom.find("documentNamespace")->as_string().starts_with("https://"));
  const auto& packages = sbom.find("packages")->as_array();
  REQUIRE(packages.size() == 2);
  CHECK(packages[1].find("SPDXID")->as_string() == "SPDXRef-Package-2--scope-x-y");
  CHECK(packages[1].find("externalRefs")->as_array()[0].find("referenceLocator")->as_string() ==
        "pkg:npm/%40scope/x%20y@1.0.0");
  CHECK(sbom.find("relationships")->as_array().size() == 2);
  CHECK(sbom.find("creationInfo")->find("creators")->as_array()[0].as_string() == "Tool: atcr-scanner-0.1.0");

  ScanJob job{.seq = 7,
              .digest = image.digest,
              .repository = image.repository,
              .tag = "latest",
              .user_did = image.user_did,
              .hold_did = "did:web:hold.example",
              .hold_endpoint = "https://hold.example",
              .priority = 1};
  ScanJob back = ScanJob::from_json(job.to_json());
  CHECK(back.seq == 7);
  CHECK(back.tag == "latest");
  CHECK(back.priority == 1);
  CHECK_THROWS_AS(ScanJob::from_json(R"({"type":"scan_job","seq":1})"), ParseError);
  CHECK_THROWS_AS(ScanJob::from_json(R"({"type":"scan_result"})"), ParseError);

  ScanResult result;
  result.seq = 7;
  result.digest = image.digest;
  result.summary = {1, 2, 3, 4, 10};
  result.sbom = Bytes{'{', '}'};
  result.scanner_version = "atcr-scanner-0.1.0";
  ScanResult r2 = ScanResult::from_json(result.to_json());
  CHECK(r2.summary.total == 10);
  CHECK(r2.sbom == result.sbom);
  CHECK_THROWS_AS(ScanResult::from_json(R"({"type":"scan_result","digest":"x","summary":{"high":-1}})"), ParseError);
}

TEST_CASE("layers: whiteouts, paths, links") {
  ImageFiles files([](std::string_view p) { return database_kind(p).has_value(); });
  files.apply_layer(make_tar({{TarEntry::kFile, "var/lib/dpkg/status", "Package: a\n"},
                              {TarEntry::kFile, "./usr/lib/python3/x-1.dist-info/METADATA", "Name: x\n"},
                              {TarEntry::kFile, "/app/node_modules/left/package.json", "{}"},
                              {TarEntry::kFile, "etc/passwd", "root:x:0:0"}},
                             true));
  CHECK(files.files().size() == 3);
  CHECK(files.files().contains("app/node_modules/left/package.json"));  // absolute: read from the root
  files.apply_layer(make_tar({{TarEntry::kFile, "usr/lib/python3/.wh.x-1.dist-info", ""},
                              {TarEntry::kFile, "app/.wh..wh..opq", ""},
                              {TarEntry::kFile, "var/lib/dpkg/status", "Package: b\n"}}));
  REQUIRE(files.files().size() == 1);
  CHECK(files.files().at("var/lib/dpkg/status") == "Package: b\n");
  // A symlink over the database removes it; nothing is followed.
  files.apply_layer(make_tar({{TarEntry::kSymlink, "var/lib/dpkg/status", "", "/etc/shadow"},
                              {TarEntry::kSymlink, "lib/apk/db/installed", "", "../../../../etc/shadow"},
                              {TarEntry::kHardlink, "lib/apk/db/installed", "", "etc/shadow"}}));
  CHECK(files.files().empty());
}

TEST_CASE("layers: hostile paths are dropped") {
  CHECK(clean_path("../etc/passwd") == std::nullopt);
  CHECK(clean_path("a/../../b") == std::nullopt);
  CHECK(clean_path("a/../b") == std::nullopt);
  CHECK(clean_path("//var///lib/./dpkg/status/") == "var/lib/dpkg/status");
  CHECK(clean_path("") == std::nullopt);
  CHECK(clean_path("/") == std::nullopt);
  CHECK(clean_path(std::string(5000, 'a')) == std::nullopt);
  ImageFiles files([](std::string_view) { return true; });
  files.apply_layer(make_tar({{TarEntry::kFile, "../../var/lib/dpkg/status", "x"},
                              {TarEntry::kFile, "var/../../lib/apk/db/installed", "x"},
                              {TarEntry::kFile, "ok", "y"}}));
  REQUIRE(files.files().size() == 1);
  CHECK(files.files().at("ok") == "y");
}

TEST_CASE("layers: bombs and huge files are bounded") {
  LayerLimits limits;
  limits.max_unpacked_bytes = 4 << 20;
  limits.max_file_bytes = 1 << 20;
  limits.max_entries = 100;
  auto all = [](std::string_view) { return true; };

  // A gzip bomb: 32 MiB of zeros in a few tens of KB.
  Bytes bomb = make_tar({{TarEntry::kFile, "var/lib/dpkg/status", "", "", 32 << 20}}, true);
  CHECK(bomb.size() < 200 * 1024);
  ImageFiles a(all, limits);
  CHECK_THROWS_AS(a.apply_layer(bomb), LimitError);
  CHECK(a.files().empty());

  // A file over max_file_bytes is skipped and noted, the rest is read.
  ImageFiles b(all, limits);
  b.apply_layer(make_tar({{TarEntry::kFile, "big", "", "", 2 << 20}, {TarEntry::kFile, "small", "s"}}, true));
  CHECK(b.files().size() == 1);
  REQUIRE(b.notes().size() == 1);
  CHECK(b.notes()[0].find("big") != std::string::npos);

  // Too many entries.
  std::vector<TarEntry> many;
  for (int i = 0; i < 150; ++i) many.push_back({TarEntry::kFile, "f" + std::to_string(i), ""});
  ImageFiles c(all, limits);
  CHECK_THROWS_AS(c.apply_layer(make_tar(many, true)), LimitError);

  // Garbage and truncated archives are ParseErrors, not crashes.
  ImageFiles d(all, limits);
  Bytes garbage(10000, 0x5a);
  CHECK_THROWS_AS(d.apply_layer(garbage), ParseError);
  Bytes good = make_tar({{TarEntry::kFile, "x", std::string(5000, 'x')}}, true);
  good.resize(good.size() / 2);
  CHECK_THROWS_AS(d.apply_layer(good), ParseError);
  // A reader that fails mid-layer: its own error comes through.
  CHECK_THROWS_WITH_AS(d.apply_layer([](std::span<std::uint8_t>) -> std::size_t { throw StorageError("link down"); }),
                       "link down", StorageError);
}

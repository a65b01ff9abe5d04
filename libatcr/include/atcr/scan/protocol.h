// ATCR's scanner protocol, io.atcr.hold.subscribeScanJobs, as both sides
// speak it.
//
// The scanner opens GET /xrpc/io.atcr.hold.subscribeScanJobs as a
// WebSocket with the operator's shared secret in `X-Scanner-Secret` (a
// wrong or missing one: 401 InvalidSecret before the upgrade). Messages
// are JSON text frames, one object each, told apart by `type` (the
// lexicon's union: #scanJob and #scanResult):
//   hold -> scanner  {"type": "scan_job", "seq", "digest", "repository",
//                     "tag"?, "userDid", "holdDid", "holdEndpoint", "priority"?,
//                     "manifest"?, "layers"?}
//   scanner -> hold  {"type": "scan_result", "seq"?, "digest",
//                     "summary": {"critical","high","medium","low","total"},
//                     "sbom": {"$bytes"}, "vulnReport": {"$bytes"},
//                     "scannerVersion", "error"?}
// (bytes in atproto JSON's {"$bytes": base64} form). The hold sends one job
// at a time and waits for its result; a job whose result never comes
// (scanner gone, or silent for the hold's job timeout) is handed out again.
// "manifest" (the manifest record's at-uri) and "layers" (the image's
// layers in the manifest's order: [{"digest", "size", "mediaType"}]) are
// ours too: the hold has them from notifyManifest, and with them a scanner
// needs nothing but the hold. `seq` in a result is ours (ATCR names the job by digest alone): it lets
// the hold tell a late result for an older job of the same digest apart.
//
// The lexicon's `cursor` parameter is accepted and ignored: the hold's jobs
// are a persistent queue (a job stays until its result is recorded), not a
// log to replay.
//
// The hold then writes io.atcr.hold.scan (rkey: the digest's hex, so a
// re-scan replaces the record) with the counts, status "ok" (or "failed"
// with `error` as the reason), and the SBOM and report as blobs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/value.h"
#include "atcr/scan/report.h"

namespace atcr::scan {

inline constexpr std::string_view kSubscribeScanJobs = "io.atcr.hold.subscribeScanJobs";
inline constexpr std::string_view kScanCollection = "io.atcr.hold.scan";
inline constexpr std::string_view kScannerSecretHeader = "X-Scanner-Secret";
inline constexpr std::string_view kSbomMediaType = "application/spdx+json";
inline constexpr std::string_view kVulnReportMediaType = "application/vnd.atcr.vulnerabilities+json";
// The largest result message a hold accepts (the lexicon allows 100 MB per
// byte field; SBOMs of real images are a few MB).
inline constexpr std::size_t kMaxResultMessageBytes = 96ULL << 20;

struct LayerRef {
  std::string digest;
  std::int64_t size = 0;
  std::string media_type;
};

struct ScanJob {
  std::int64_t seq = 0;
  std::string digest{};  // the manifest's
  std::string repository{};
  std::string tag{};  // may be empty
  std::string user_did{};
  std::string hold_did{};
  std::string hold_endpoint{};  // where to read blobs: <endpoint>/xrpc/com.atproto.sync.getBlob
  std::optional<std::int64_t> priority{};
  std::string manifest_uri{};
  std::vector<LayerRef> layers{};  // at most kMaxLayers

  static constexpr std::size_t kMaxLayers = 1000;

  std::string to_json() const;
  // ParseError naming the field for anything missing or malformed.
  static ScanJob from_json(std::string_view json);
};

struct ScanResult {
  std::optional<std::int64_t> seq;
  std::string digest;
  Summary summary;
  Bytes sbom;
  Bytes vuln_report;
  std::string scanner_version;
  std::string error;  // non-empty: the scan failed, and why (at most 1024 bytes)

  std::string to_json() const;
  // ParseError naming the field; byte fields over 100 MB are refused.
  static ScanResult from_json(std::string_view json);
};

// The "layers" field: to JSON, and from it (ParseError when malformed).
Value::Array layers_value(const std::vector<LayerRef>& layers);
std::vector<LayerRef> layers_from(const Value* list);

// "scan_job" / "scan_result" / "" for a message that is neither.
std::string message_type(const Value& message);

}  // namespace atcr::scan

// The hold's side of ATCR's scanner protocol (see atcr/scan/protocol.h):
// pushes by tiers with scanOnPush queue a job (notifyManifest calls
// queue_scan), io.atcr.hold.subscribeScanJobs hands jobs to a connected
// scanner one at a time, and each result becomes an io.atcr.hold.scan
// record (rkey: the manifest digest's hex) whose SBOM and vulnerability
// report are blobs in the hold's own store, served by
// com.atproto.sync.getBlob under their raw CIDs.
//
// The scanner authenticates with the shared secret (scanner.secret) in
// X-Scanner-Secret, compared in constant time (as digests, so not even its
// length shows); the same header lets it read blobs of a private hold.
#include <fmt/core.h>

#include "atcr/crypto/hmac.h"
#include "atcr/crypto/sha256.h"
#include "atcr/data/cid.h"
#include "atcr/data/datetime.h"
#include "atcr/data/json.h"
#include "atcr/log.h"
#include "atcr/scan/protocol.h"
#include "hold/hold_impl.h"

namespace atcr::hold {

namespace {

constexpr auto kPoll = std::chrono::seconds(1);

std::string_view as_text(const Sha256Digest& d) { return {reinterpret_cast<const char*>(d.data()), d.size()}; }

}  // namespace

bool Hold::Impl::scanner_authorized(const xrpc::ServerRequest& req) const {
  std::string given = req.header(scan::kScannerSecretHeader);
  if (config.scanner.secret.empty() || given.empty()) return false;
  return equal_constant_time(as_text(sha256(as_bytes(given))), as_text(sha256(as_bytes(config.scanner.secret))));
}

void Hold::Impl::queue_scan(const std::string& user, const std::string& repository, const std::string& tag,
                            const oci::Digest& digest, const std::string& manifest_uri,
                            const std::vector<oci::Descriptor>& layers, std::string_view tier) {
  if (!config.scanner.scans(tier) || layers.empty()) return;  // an index has no layers: its platforms are scanned
  std::vector<scan::LayerRef> refs;
  for (const oci::Descriptor& l : layers) refs.push_back({l.digest.str(), l.size, l.media_type});
  QueuedScan job;
  job.digest = digest.str();
  job.repository = repository;
  job.tag = tag;
  job.user_did = user;
  job.manifest_uri = manifest_uri;
  job.layers_json = json::serialize(Value(scan::layers_value(refs)));
  try {
    std::int64_t seq = scans->enqueue(job);
    log::info("hold", "scan {} queued for {}/{}@{}", seq, user, repository, digest.str());
  } catch (const StorageError& e) {
    // The push itself succeeded: a scan missed is not worth failing it.
    log::error("hold", "could not queue a scan of {}: {}", digest.str(), e.what());
    return;
  }
  scan_cv.notify_all();
}

void Hold::Impl::record_scan(const QueuedScan& job, const scan::ScanResult& result) {
  Value::Map m{
      {"$type", Value(scan::kScanCollection)},
      {"manifest", Value(job.manifest_uri)},
      {"repository", Value(job.repository)},
      {"userDid", Value(job.user_did)},
      {"critical", Value(result.summary.critical)},
      {"high", Value(result.summary.high)},
      {"medium", Value(result.summary.medium)},
      {"low", Value(result.summary.low)},
      {"total", Value(result.summary.total)},
      {"scannerVersion", Value(result.scanner_version.empty() ? "unknown" : result.scanner_version.substr(0, 64))},
      {"scannedAt", Value(now_datetime())},
      {"status", Value(result.error.empty() ? "ok" : "failed")},
  };
  if (!result.error.empty()) m["reason"] = Value(result.error.substr(0, 256));
  if (!result.sbom.empty()) m["sbomBlob"] = store_record_blob(result.sbom, scan::kSbomMediaType);
  if (!result.vuln_report.empty())
    m["vulnReportBlob"] = store_record_blob(result.vuln_report, scan::kVulnReportMediaType);
  std::string rkey(oci::Digest::parse(job.digest).hex());
  std::lock_guard lock(records_mu);
  auto current = pds->get_record(scan::kScanCollection, rkey);
  std::string collection(scan::kScanCollection);
  commit({current ? RecordWrite::update(collection, rkey, Value(std::move(m)))
                  : RecordWrite::create(collection, rkey, Value(std::move(m)))});
  log::info("hold", "scan {} of {}: {} ({} vulnerabilities, {} critical)", job.seq, job.digest,
            result.error.empty() ? "ok" : "failed", result.summary.total, result.summary.critical);
}

std::string Hold::Impl::scan_job_message(const QueuedScan& job) const {
  scan::ScanJob out;
  out.seq = job.seq;
  out.digest = job.digest;
  out.repository = job.repository;
  out.tag = job.tag;
  out.user_did = job.user_did;
  out.hold_did = pds->did();
  out.hold_endpoint = config.server.public_url;
  out.priority = job.priority;
  out.manifest_uri = job.manifest_uri;
  Value layers = json::parse(job.layers_json);
  out.layers = scan::layers_from(&layers);
  return out.to_json();
}

// Waits for the result of `job`; false when the scanner is gone or failed
// the protocol (the socket is closed and the job waits for another).
bool Hold::Impl::await_scan_result(xrpc::WebSocket& ws, const QueuedScan& job) {
  auto deadline = std::chrono::steady_clock::now() + config.scanner.job_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<std::string> message = ws.receive(kPoll);
    if (!message) {
      if (!ws.closed()) continue;
      scans->release(job.seq);
      return false;
    }
    scan::ScanResult result;
    try {
      result = scan::ScanResult::from_json(*message);
    } catch (const ParseError& e) {
      log::warn("hold", "scanner sent an invalid result for scan {}: {}", job.seq, log::escape(e.what()));
      scans->release(job.seq);
      ws.close(1008, "invalid scan_result");
      return false;
    }
    if (result.digest != job.digest || (result.seq && *result.seq != job.seq)) {
      log::warn("hold", "scanner answered for {} while scan {} of {} is out; ignored", log::escape(result.digest),
                job.seq, job.digest);
      continue;
    }
    record_scan(job, result);
    scans->remove(job.seq);
    return true;
  }
  log::warn("hold", "scan {} of {} timed out after {}s", job.seq, job.digest, config.scanner.job_timeout.count());
  ws.close(1008, "scan timed out");
  return false;
}

void Hold::Impl::serve_scanner(const xrpc::ServerRequest& req, xrpc::WebSocket& ws) {
  log::info("hold", "scanner connected from {}", req.remote_addr);
  while (!ws.closed()) {
    std::optional<QueuedScan> abandoned;
    std::optional<QueuedScan> job = scans->take(config.scanner.job_timeout, &abandoned);
    if (abandoned) {
      scan::ScanResult failed;
      failed.digest = abandoned->digest;
      failed.error = fmt::format("no scanner finished it in {} attempts", ScanQueue::kMaxAttempts);
      record_scan(*abandoned, failed);
      continue;
    }
    if (!job) {
      std::unique_lock lock(scan_mu);
      scan_cv.wait_for(lock, kPoll);
      continue;
    }
    if (!ws.send_text(scan_job_message(*job))) {
      scans->release(job->seq);
      break;
    }
    if (!await_scan_result(ws, *job)) break;
  }
  log::info("hold", "scanner from {} disconnected", req.remote_addr);
}

void Hold::Impl::register_scan_endpoints(xrpc::XrpcServer& server) {
  xrpc::SubscriptionOptions options;
  options.authorize = [this](const xrpc::ServerRequest& req) {
    if (config.scanner.secret.empty())
      throw xrpc::XrpcError(401, "InvalidSecret", "scanning is not enabled on this hold (scanner.secret)");
    if (!scanner_authorized(req)) throw xrpc::XrpcError(401, "InvalidSecret", "X-Scanner-Secret is missing or wrong");
  };
  options.max_incoming_bytes = scan::kMaxResultMessageBytes;
  server.subscription(
      scan::kSubscribeScanJobs, [this](const xrpc::ServerRequest& req, xrpc::WebSocket& ws) { serve_scanner(req, ws); },
      std::move(options));
}

}  // namespace atcr::hold

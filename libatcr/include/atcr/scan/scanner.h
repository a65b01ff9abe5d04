// The scanner: takes jobs from a hold over io.atcr.hold.subscribeScanJobs,
// reads each image's layers from the hold, and answers with an SPDX SBOM
// and the OSV matches (see scan/protocol.h for the messages).
//
//   scan::ScannerOptions options{.hold_url = "https://hold.example", .secret = "..."};
//   scan::Scanner scanner(options, scan::OsvDatabase::load("/var/lib/osv"));
//   scanner.run();  // until stop(), reconnecting
//
// Layers are fetched from the configured hold (never another host the job
// names: the secret goes to that hold only; a redirect to presigned storage
// is followed without it), held in memory up to max_layer_bytes each,
// checked against their digests, and read with the limits of
// scan/layer.h. A job the scanner cannot finish (a layer over a limit, not
// a tar, not on the hold) is answered as failed with the reason; only a
// broken connection ends a session.
//
// A job without `layers` (ATCR's holds send none: the field is ours) is
// read from the user's own records: the io.atcr.manifest record for the
// job's digest in their PDS (resolved through plc_url), or, when that
// record was summarised for size, its manifest blob (layers_from_pds).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "atcr/bytes.h"
#include "atcr/identity/resolver.h"
#include "atcr/net/http_client.h"
#include "atcr/scan/layer.h"
#include "atcr/scan/osv.h"
#include "atcr/scan/protocol.h"
#include "atcr/version.h"
#include "atcr/xrpc/websocket_client.h"

namespace atcr::scan {

inline constexpr std::string_view kScannerVersion = "atcr-scanner-" ATCR_VERSION;

struct ScannerOptions {
  std::string hold_url;  // http(s)://host[:port]
  std::string secret;    // the hold's scanner.secret
  LayerLimits limits;
  std::uint64_t max_layer_bytes = 2ULL << 30;  // one compressed layer, in memory
  std::chrono::seconds layer_timeout{600};
  std::chrono::seconds reconnect_delay{5};
  // For jobs without layers: where users' DIDs resolve, and whether their
  // PDS may be on loopback / plain-http did:web:localhost (development).
  std::string plc_url = "https://plc.directory";
  bool development = false;
};

// Everything a scan found, before it goes on the wire.
struct ImageScan {
  std::vector<Package> packages;
  std::vector<Match> matches;
  std::vector<std::string> notes;  // skipped layers and files
};

// Reads the layers (bottom first) through `fetch` and matches what they
// hold. Throws what `fetch` and the layer reader throw.
ImageScan scan_layers(const std::vector<LayerRef>& layers, const std::function<Bytes(const LayerRef&)>& fetch,
                      const OsvDatabase& db, const LayerLimits& limits);

// The layers of `job`'s image from the user's PDS (its io.atcr.manifest
// record for job.digest: the one job.manifest_uri names, else the first
// listRecords finds; the record's layers, or its manifest blob's when the
// record has none), bottom first. NotFoundError when there is no such
// record or it is an image index; VerifyError when what it names is not
// job.digest; identity, HTTP and XRPC errors as thrown.
std::vector<LayerRef> layers_from_pds(const ScanJob& job, identity::Resolver& resolver,
                                      std::shared_ptr<const net::HttpClient> http);

// The result message for `job` from a finished scan.
ScanResult result_for(const ScanJob& job, const ImageScan& scan, std::size_t database_entries);

class Scanner {
 public:
  Scanner(ScannerOptions options, OsvDatabase db);
  ~Scanner();

  // Connects and serves jobs until stop(), reconnecting after failures.
  void run();
  // One connection: serves jobs until the hold closes it, stop(), or
  // `max_jobs` are done; returns how many were. Throws net::HttpError when
  // it cannot connect (InvalidSecret: a 401).
  std::size_t serve_connection(std::optional<std::size_t> max_jobs = std::nullopt);
  // Any thread.
  void stop();

  // One job, start to finish (also for tests): never throws for the
  // image's faults, which become a failed result.
  ScanResult scan(const ScanJob& job);

 private:
  Bytes fetch_layer(const ScanJob& job, const LayerRef& layer) const;
  // job.layers, or layers_from_pds when the job lists none.
  std::vector<LayerRef> layers_of(const ScanJob& job);

  ScannerOptions options_;
  OsvDatabase db_;
  net::HttpClient http_;
  std::unique_ptr<identity::Resolver> resolver_;          // made at the first job without layers
  std::shared_ptr<const net::HttpClient> user_http_;  // users' PDSes
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  xrpc::WebSocketClient* current_ = nullptr;  // the connection stop() interrupts
};

}  // namespace atcr::scan

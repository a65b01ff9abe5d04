// A hold: ATCR's blob service. It stores OCI blobs on the operator's own
// storage (S3-compatible or a local filesystem), decides who may push and
// pull through its captain and crew records, and keeps those records, with
// per-layer and per-repository bookkeeping, in an embedded PDS of its own.
//
//   auto config = hold::HoldConfig::load("hold.toml");
//   hold::Hold hold(config);                 // first boot: keys, repo, captain
//   xrpc::XrpcServer server({.host = ..., .port = ...});
//   hold.register_endpoints(server);
//   server.start();
//   ...                                      // hold.housekeeping() now and then
//
// Endpoints (all XRPC): the embedded PDS's standard ones (sync.*, repo.*,
// server.describeServer, the firehose, /.well-known/did.json) plus ATCR's
// io.atcr.hold.* methods: initiateUpload, getPartUploadUrl, uploadPart,
// completeUpload, abortUpload, notifyManifest, getQuota, listTiers,
// requestCrew; and com.atproto.sync.getBlob, which serves OCI blobs by
// digest (a redirect to a presigned URL, or the bytes, with Range).
//
// With admin.enabled, the owner's web panel is at /admin (crew, settings,
// storage, garbage collection; signed in with ATProto OAuth).
//
// Callers authenticate with atproto service-auth tokens (minted by their
// PDS, aud = this hold's DID); see hold/crew.h for who may do what.
#pragma once

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/hold/config.h"
#include "atcr/hold/gc.h"
#include "atcr/identity/resolver.h"
#include "atcr/xrpc/metrics.h"
#include "atcr/xrpc/server.h"

namespace atcr::hold {

struct HoldOptions {
  // Resolves callers' DIDs to check their tokens. Default: a caching
  // DirectoryResolver on config.identity.plc_url. Must outlive the hold.
  identity::Resolver* resolver = nullptr;
};

class Hold {
 public:
  // Opens the hold's state under config.server.data_dir, creating it (and
  // the captain record and the owner's crew record) on first boot. Settings
  // the captain mirrors (public, allowAllCrew, ...) are synced from config
  // on every boot, except those the owner changed in the admin panel since
  // (until the config's value changes). Throws atcr::ConfigError if
  // config.validate() does, and other atcr::Error subclasses naming what
  // failed.
  explicit Hold(HoldConfig config, HoldOptions options = {});
  ~Hold();
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

  const std::string& did() const;
  const HoldConfig& config() const;

  // Registers every endpoint; call before server.start().
  void register_endpoints(xrpc::XrpcServer& server);

  // Reports the hold's gauges into `metrics` at each scrape (uploads in
  // flight, storage used per quota tier and in all, crew size, the firehose:
  // its newest seq, live subscribers and the slowest one's lag in events)
  // and each garbage collection's results (atcr_hold_gc_*). The registry
  // must outlive the hold. Call before serving.
  void instrument(xrpc::Metrics& metrics);

  // Expires upload sessions idle past uploads.session_ttl (with stray
  // upload data and scratch files as old: Uploads::expire) and trims the
  // firehose's event log to its retention; with gc.enabled, runs gc() every
  // gc.interval. (Unreachable repo blocks are collected by the embedded PDS
  // every few commits, and by gc().) Safe to call from a timer thread while
  // serving.
  void housekeeping();

  // Runs one garbage collection now, while serving (what it reclaims and
  // why nothing referenced goes: atcr/hold/gc.h), and returns its report,
  // which also goes to the history. A dry run deletes and marks nothing
  // and reports what a run would delete now. Blocks for the whole run
  // (a listRecords walk of every user's PDS, a listing of every blob).
  // One run at a time: ConflictError while another runs. Thread-safe.
  GcReport gc(bool dry_run = false);
  // The last runs' reports, newest first (at most 20; 50 items each).
  std::vector<GcReport> gc_history() const;

  // The file (0600, under data_dir) holding the secret that lets a program
  // on the hold's host call io.atcr.hold.runGarbageCollection and
  // getGarbageCollectionHistory on the running hold (header
  // X-Hold-Control-Secret), as `atcr-hold gc` does.
  static std::filesystem::path control_secret_path(const HoldConfig& config);

  // `atcr-hold gc`: a collection on the hold `config` describes. When that
  // hold is serving (server.host:server.port answers), the running hold
  // runs it (runGarbageCollection with the control secret), so it is
  // serialised with its pushes; when nothing answers there, this process
  // opens the hold and runs it itself. Throws what either way throws
  // (xrpc::XrpcError 409 GcRunning while a run is on).
  static GcReport run_gc(const HoldConfig& config, bool dry_run);

  // The hold's repo as a CAR (`atcr-hold repo export`).
  void export_car(std::ostream& out) const;
  // Upserts every record of the given repo CARs (e.g. another hold's
  // exports) into this hold's repo in one atomic commit, re-signed by this
  // hold; returns how many records were written. The captain record is
  // skipped: this hold's config governs its own. The CARs' blocks and MSTs
  // are verified; their signatures are not (the operator vouches for them).
  std::size_t import_cars(const std::vector<Bytes>& cars);

 private:
  struct Impl;
  friend class AdminPanel;  // internal: the admin panel's pages work on Impl
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::hold

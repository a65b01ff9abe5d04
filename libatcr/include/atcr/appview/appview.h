// The AppView: an OCI Distribution (v1.1) registry whose manifests and tags
// are records in their owners' PDSes and whose blobs live on holds.
//
//   auto config = appview::AppviewConfig::load("appview.toml");
//   appview::Appview registry(config);
//   xrpc::XrpcServer server({.host = config.server.host, .port = config.server.port});
//   registry.register_endpoints(server);
//   server.start();
//   ...                        // registry.housekeeping() now and then
//
// Names are "<handle-or-DID>/<repository>". The identity is resolved to a
// DID and its PDS (cached); manifests are uploaded to that PDS as blobs and
// described by io.atcr.manifest records (keyed by TID; oci/records.h says
// how one is found by digest), tags by io.atcr.tag records; a pulled manifest is re-hashed and refused unless it
// matches its digest. Blobs are pushed to the pusher's hold (their
// io.atcr.sailor.profile's defaultHold, else server.default_hold_did) and
// pulled from the hold named by the repository's manifests (307 to a
// presigned URL or to the hold; proxied for private holds).
//
// Endpoints: /v2/ and everything under it (manifests, blobs, uploads,
// tags/list, referrers, _catalog), and GET /auth/token (Basic credentials
// = handle or DID + app password -> registry JWT; anonymous -> pull-only).
// Errors are the distribution-spec's JSON bodies; every 401 carries
// WWW-Authenticate: Bearer realm="<public_url>/auth/token",service=...,scope=...
//
// State under server.data_dir: registry-token.key (P-256, 0600),
// appview.sqlite (users' PDS sessions, pushed repositories, upload sessions),
// index.sqlite (the network index: index/index.h; in the database when
// database.url names a shared PostgreSQL one)
// and uploads/ (each upload session's part being filled, at most
// uploads.part_size bytes; never memory). An upload in progress survives a
// restart: the client goes on with its next PATCH.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "atcr/appview/config.h"
#include "atcr/identity/resolver.h"
#include "atcr/index/index.h"
#include "atcr/index/ingest.h"
#include "atcr/net/http_client.h"
#include "atcr/xrpc/metrics.h"
#include "atcr/xrpc/server.h"

namespace atcr::appview {

struct AppviewOptions {
  // Resolves users and holds. Default: a caching DirectoryResolver on
  // config.identity.plc_url. Must outlive the AppView.
  identity::Resolver* resolver = nullptr;
  // For PDS, hold and S3 requests. Default: one with generous timeouts.
  std::shared_ptr<const net::HttpClient> http = nullptr;
  // Follow config.index's sources (firehoses, first-start backfill) on
  // threads of the AppView's own, from construction to destruction. false
  // for a process that only reads the index or runs `backfill`.
  bool follow_network = true;
};

class Appview {
 public:
  // Opens (or creates) data_dir's key and database. Throws atcr::Error
  // subclasses naming what failed.
  explicit Appview(AppviewConfig config, AppviewOptions options = {});
  ~Appview();
  Appview(const Appview&) = delete;
  Appview& operator=(const Appview&) = delete;

  const AppviewConfig& config() const;

  // Registers /v2/... and /auth/token; call before server.start(). The
  // server's max_body_bytes must admit a manifest (4 MiB); blob bodies
  // are streamed.
  void register_endpoints(xrpc::XrpcServer& server);

  // Aborts idle uploads (uploads.session_ttl, also those saved before a
  // restart), removes spill files no session owns, and trims caches. Safe to
  // call from a timer thread while serving.
  void housekeeping();

  // The network index the catalog and the web UI read (data_dir/index.sqlite,
  // or the shared database).
  index::Index& index();
  // Backfills every configured source from its start, in the calling
  // thread (`atcr-appview backfill`); `progress` after each repo. Resumable
  // via `cancel`. Sources that fail are logged and skipped.
  void backfill(const std::function<void(const index::BackfillProgress&)>& progress,
                const std::atomic<bool>* cancel = nullptr);

  // Reports the AppView's own gauges into `metrics` from now on (uploads
  // in flight, at each scrape) and keeps it for parts that set their own
  // (atcr_appview_firehose_lag_seconds, by the firehose consumer). The
  // registry must outlive the AppView. Call before serving.
  void instrument(xrpc::Metrics& metrics);

 private:
  struct Impl;  // src/appview/appview_impl.h, shared by the endpoint files
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::appview

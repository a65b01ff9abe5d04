#include "atcr/scan/scanner.h"

#include <fmt/core.h>

#include <thread>

#include "atcr/data/datetime.h"
#include "atcr/data/json.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/log.h"
#include "atcr/oci/digest.h"
#include "atcr/xrpc/websocket_client.h"
#include "util/text.h"

namespace atcr::scan {

namespace {

// Image layers are tars, compressed or not; anything else in `layers` (an
// artifact's files) has no packages to find.
bool is_tar_layer(std::string_view media_type) {
  return media_type.empty() || media_type.find(".tar") != std::string_view::npos ||
         media_type.find("rootfs.diff") != std::string_view::npos;
}

Bytes as_payload(const Value& v) {
  std::string text = json::serialize(v);
  return Bytes(text.begin(), text.end());
}

}  // namespace

ImageScan scan_layers(const std::vector<LayerRef>& layers, const std::function<Bytes(const LayerRef&)>& fetch,
                      const OsvDatabase& db, const LayerLimits& limits) {
  ImageScan out;
  ImageFiles files([](std::string_view path) { return database_kind(path).has_value(); }, limits);
  for (const LayerRef& layer : layers) {
    if (!is_tar_layer(layer.media_type)) {
      out.notes.push_back(fmt::format("{}: skipped ({} is not a layer tar)", layer.digest, layer.media_type));
      continue;
    }
    Bytes data = fetch(layer);
    try {
      files.apply_layer(data);
    } catch (const Error& e) {
      throw std::runtime_error(fmt::format("layer {}: {}", layer.digest, e.what()));
    }
  }
  out.notes.insert(out.notes.end(), files.notes().begin(), files.notes().end());
  out.packages = packages_in(files.file_list());
  out.matches = db.match(out.packages);
  return out;
}

ScanResult result_for(const ScanJob& job, const ImageScan& scan, std::size_t database_entries) {
  ImageRef image{job.repository, job.digest, job.user_did};
  ScanResult r;
  r.seq = job.seq;
  r.digest = job.digest;
  r.summary = summarize(scan.matches);
  r.scanner_version = std::string(kScannerVersion);
  r.sbom = as_payload(spdx_sbom(image, scan.packages, now_datetime(), kScannerVersion));
  r.vuln_report = as_payload(vulnerability_report(image, scan.matches, kScannerVersion, database_entries));
  return r;
}

Scanner::Scanner(ScannerOptions options, OsvDatabase db)
    : options_(std::move(options)), db_(std::move(db)), http_([&] {
        net::HttpOptions h;
        h.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options_.layer_timeout);
        h.stall_timeout = std::chrono::seconds(60);
        h.max_response_bytes = options_.max_layer_bytes;
        h.user_agent = std::string(kScannerVersion);
        return h;
      }()) {
  options_.hold_url = std::string(util::strip_trailing_slashes(options_.hold_url));
}

Scanner::~Scanner() = default;

Bytes Scanner::fetch_layer(const ScanJob& job, const LayerRef& layer) const {
  if (!oci::Digest::valid(layer.digest)) throw ParseError(fmt::format("layer digest {} is not a digest", layer.digest));
  std::string url = fmt::format("{}/xrpc/com.atproto.sync.getBlob?did={}&cid={}", options_.hold_url,
                                net::url_encode(job.hold_did), net::url_encode(layer.digest));
  net::HttpResponse r = http_.get(url, {{std::string(kScannerSecretHeader), options_.secret}});
  // A presigned storage URL: fetched without the secret.
  for (int hops = 0; r.status >= 300 && r.status < 400 && hops < 3; ++hops) {
    std::string location = r.header("location");
    if (!location.starts_with("http://") && !location.starts_with("https://"))
      throw NotFoundError(fmt::format("layer {}: the hold redirected to '{}'", layer.digest, log::escape(location)));
    r = http_.get(location);
  }
  if (!r.ok()) throw NotFoundError(fmt::format("layer {}: the hold answered {}", layer.digest, r.status));
  if (oci::Digest::of(r.body) != oci::Digest::parse(layer.digest))
    throw VerifyError(fmt::format("layer {}: the bytes do not match the digest", layer.digest));
  return std::move(r.body);
}

std::vector<LayerRef> Scanner::layers_of(const ScanJob& job) {
  if (!job.layers.empty()) return job.layers;
  if (!resolver_) {
    identity::ResolverOptions r;
    r.plc_directory = options_.plc_url;
    r.did_web.allow_http_localhost = options_.development;
    resolver_ = std::make_unique<identity::DirectoryResolver>(r);
    net::HttpOptions h;
    h.timeout = std::chrono::seconds(30);
    h.connect_timeout = std::chrono::seconds(5);
    h.max_response_bytes = 16 << 20;  // a manifest record page or blob
    h.user_agent = std::string(kScannerVersion);
    h.addresses = options_.development ? net::AddressPolicy::kPublicOrLoopback : net::AddressPolicy::kPublic;
    user_http_ = std::make_shared<const net::HttpClient>(h);
  }
  std::vector<LayerRef> layers = layers_from_pds(job, *resolver_, user_http_);
  log::info("scanner", "{}: the job lists no layers; {} read from {}'s manifest record", job.digest, layers.size(),
            job.user_did);
  return layers;
}

ScanResult Scanner::scan(const ScanJob& job) {
  try {
    ImageScan found = scan_layers(
        layers_of(job), [&](const LayerRef& layer) { return fetch_layer(job, layer); }, db_, options_.limits);
    for (const std::string& note : found.notes) log::info("scanner", "{}: {}", job.digest, log::escape(note));
    log::info("scanner", "{} {}@{}: {} packages, {} vulnerabilities", job.seq, job.repository, job.digest,
              found.packages.size(), found.matches.size());
    return result_for(job, found, db_.size());
  } catch (const std::exception& e) {
    log::warn("scanner", "{} {}@{} failed: {}", job.seq, job.repository, job.digest, log::escape(e.what()));
    ScanResult r;
    r.seq = job.seq;
    r.digest = job.digest;
    r.scanner_version = std::string(kScannerVersion);
    r.error = std::string(e.what()).substr(0, 1024);
    return r;
  }
}

std::size_t Scanner::serve_connection(std::optional<std::size_t> max_jobs) {
  xrpc::WebSocketOptions ws_options;
  ws_options.headers = {{std::string(kScannerSecretHeader), options_.secret}};
  ws_options.idle_timeout = std::chrono::seconds(120);
  auto ws = xrpc::WebSocketClient::connect(options_.hold_url + "/xrpc/" + std::string(kSubscribeScanJobs), ws_options);
  {
    std::lock_guard lock(mu_);
    current_ = ws.get();
    if (stopping_) ws->interrupt();
  }
  log::info("scanner", "connected to {}", options_.hold_url);
  std::size_t done = 0;
  try {
    while (!stopping_ && (!max_jobs || done < *max_jobs)) {
      auto message = ws->receive(std::chrono::seconds(1));
      if (!message) break;  // the hold closed
      if (message->kind == xrpc::WebSocketMessage::kTimeout) continue;
      ScanJob job;
      try {
        job = ScanJob::from_json(message->text());
      } catch (const ParseError& e) {
        log::warn("scanner", "ignored a message from the hold: {}", log::escape(e.what()));
        continue;
      }
      ws->send_text(scan(job).to_json());
      ++done;
    }
  } catch (...) {
    std::lock_guard lock(mu_);
    current_ = nullptr;
    throw;
  }
  ws->close();
  std::lock_guard lock(mu_);
  current_ = nullptr;
  return done;
}

void Scanner::run() {
  while (!stopping_) {
    try {
      serve_connection();
    } catch (const std::exception& e) {
      log::warn("scanner", "{}: {}", options_.hold_url, log::escape(e.what()));
    }
    for (auto waited = std::chrono::seconds(0); !stopping_ && waited < options_.reconnect_delay;
         waited += std::chrono::seconds(1))
      std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void Scanner::stop() {
  stopping_ = true;
  std::lock_guard lock(mu_);
  if (current_) current_->interrupt();
}

}  // namespace atcr::scan

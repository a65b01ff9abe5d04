// A scan job's layers when the job does not list them (see scanner.h,
// layers_from_pds): the user's io.atcr.manifest record, from their PDS.
#include <fmt/core.h>

#include "atcr/log.h"
#include "atcr/oci/manifest.h"
#include "atcr/oci/records.h"
#include "atcr/scan/scanner.h"
#include "atcr/xrpc/client.h"

namespace atcr::scan {

namespace {

constexpr std::size_t kMaxPages = 100;  // of 100 manifest records, looking for the job's digest

// The manifest record the job's at-uri names, when it names one of the
// user's io.atcr.manifest records.
std::optional<Value> record_by_uri(const xrpc::XrpcClient& pds, const ScanJob& job) {
  std::string prefix = fmt::format("at://{}/{}/", job.user_did, oci::kManifestCollection);
  if (!job.manifest_uri.starts_with(prefix)) return std::nullopt;
  std::string rkey = job.manifest_uri.substr(prefix.size());
  try {
    Value r = pds.query("com.atproto.repo.getRecord", xrpc::Params{{"repo", job.user_did},
                                                                    {"collection", std::string(oci::kManifestCollection)},
                                                                    {"rkey", rkey}});
    if (const Value* v = r.find("value")) return *v;
  } catch (const xrpc::XrpcError& e) {
    if (e.status() != 400 && e.status() != 404) throw;
  }
  return std::nullopt;
}

// The first of the user's manifest records for `digest`.
std::optional<Value> record_by_digest(const xrpc::XrpcClient& pds, const ScanJob& job) {
  std::optional<Value> found;
  xrpc::for_each_listed_record(pds, job.user_did, oci::kManifestCollection, kMaxPages,
                               [&](const std::string&, const Value& value) {
                                 const Value* digest = value.find("digest");
                                 if (digest && digest->is_string() && digest->as_string() == job.digest) found = value;
                                 return !found;
                               });
  return found;
}

}  // namespace

std::vector<LayerRef> layers_from_pds(const ScanJob& job, identity::Resolver& resolver,
                                      std::shared_ptr<const net::HttpClient> http) {
  auto endpoint = resolver.resolve_did(job.user_did).pds_endpoint();
  if (!endpoint) throw NotFoundError(fmt::format("{} names no PDS", job.user_did));
  xrpc::XrpcClient pds(*endpoint, http);
  std::optional<Value> value = record_by_uri(pds, job);
  if (!value) value = record_by_digest(pds, job);
  if (!value)
    throw NotFoundError(fmt::format("no io.atcr.manifest record of {} for {} in its PDS", job.user_did, job.digest));
  oci::ManifestRecord record = oci::ManifestRecord::from_value(*value);
  if (record.digest.str() != job.digest)
    throw VerifyError(fmt::format("the manifest record {} is for {}, not {}", job.manifest_uri, record.digest.str(),
                                  job.digest));
  if (!record.manifests.empty())
    throw NotFoundError(fmt::format("{} is an image index: its platforms' manifests are scanned, not it", job.digest));
  std::vector<oci::Descriptor> layers = record.layers;
  if (layers.empty() && record.manifest_blob) {
    // A record summarised for size: the manifest blob lists the layers.
    xrpc::XrpcResponse r = pds.query_raw("com.atproto.sync.getBlob",
                                         xrpc::Params{{"did", job.user_did}, {"cid", record.manifest_blob->to_string()}});
    if (oci::Digest::of(r.body).str() != job.digest)
      throw VerifyError(fmt::format("the manifest blob of {} does not match its digest", job.digest));
    layers = oci::Manifest::parse(BytesView(r.body), record.media_type).layers;
  }
  if (layers.size() > ScanJob::kMaxLayers)
    throw ParseError(fmt::format("{} has {} layers (at most {})", job.digest, layers.size(), ScanJob::kMaxLayers));
  std::vector<LayerRef> out;
  for (const oci::Descriptor& d : layers) out.push_back({d.digest.str(), d.size, d.media_type});
  return out;
}

}  // namespace atcr::scan

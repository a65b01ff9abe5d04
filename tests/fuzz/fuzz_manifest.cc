// libFuzzer target: OCI manifests as a registry receives them. The first
// input byte picks the Content-Type; the rest is the body. Parsing must
// only ever throw RegistryError(MANIFEST_INVALID); whatever parses must
// (1) have a digest equal to sha256 of the body, (2) re-parse with its own
// effective media type as Content-Type to the same manifest, (3) survive
// the record mapping through DAG-CBOR unchanged (or, for a record too large
// for a PDS write, as the documented summary), and the notifyManifest one
// as each distinct layer without annotations.
#include <cstdlib>
#include <optional>
#include <set>
#include <string_view>

#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/error.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/hold_records.h"
#include "atcr/oci/manifest.h"
#include "atcr/oci/records.h"

using namespace atcr;
using namespace atcr::oci;

namespace {

constexpr std::string_view kContentTypes[] = {
    "",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/json",
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    "text/plain",
};

bool same(const Manifest& a, const Manifest& b) {
  return a.digest == b.digest && a.kind == b.kind && a.media_type == b.media_type && a.config == b.config &&
         a.layers == b.layers && a.manifests == b.manifests && a.subject == b.subject &&
         a.artifact_type == b.artifact_type && a.annotations == b.annotations;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view content_type = kContentTypes[data[0] % std::size(kContentTypes)];
  BytesView body(data + 1, size - 1);
  std::optional<Manifest> parsed;
  try {
    parsed = Manifest::parse(body, content_type);
  } catch (const RegistryError& e) {
    if (e.code() != ErrorCode::kManifestInvalid) std::abort();
    return 0;
  }
  const Manifest& m = *parsed;
  if (m.digest != Digest::of(body)) std::abort();
  if (!same(Manifest::parse(body, m.media_type), m)) std::abort();

  Value record = manifest_record(m, "fuzz/app", m.digest, "did:web:hold.example.com", Value(),
                                 "2026-01-01T00:00:00Z");
  ManifestRecord back = ManifestRecord::from_value(cbor::decode(cbor::encode(record)));
  if (back.digest != m.digest || back.subject.has_value() != m.subject.has_value()) std::abort();
  // Exact unless the record had to shrink to fit a PDS write (records.h),
  // which a manifest this small never needs.
  bool small = body.size() * 8 + 4096 < kMaxManifestRecordJson;
  if (small && (back.config != m.config || back.layers != m.layers || back.manifests != m.manifests ||
       back.subject != m.subject || back.annotations != m.annotations))
    std::abort();
  if (json::serialize(record).size() > kMaxManifestRecordJson && !back.layers.empty()) std::abort();
  // notifyManifest's object: each distinct layer once, without annotations.
  ManifestInfo info = ManifestInfo::from_value(cbor::decode(cbor::encode(manifest_info(m))));
  if (info.config != m.config || info.manifests != m.manifests) std::abort();
  std::set<Digest> distinct;
  for (const Descriptor& d : m.layers) distinct.insert(d.digest);
  if (info.layers.size() != distinct.size()) std::abort();
  for (const Descriptor& d : info.layers)
    if (!d.annotations.empty() || !distinct.count(d.digest)) std::abort();
  return 0;
}

// libFuzzer target: verify's parsers and decisions (atcr/verify/verify.h).
// The first byte picks the input: 0, an image reference; 1, a repo CAR in
// which the tag app:latest of the fuzz DID and the manifest record it names
// are proven (signature with the fuzz key, MST paths), then checked against
// each other and against the CAR's own bytes as the "served" manifest.
// It must only ever throw atcr errors.
#include <string_view>

#include "atcr/error.h"
#include "atcr/oci/records.h"
#include "atcr/verify/verify.h"
#include "fuzz_key.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace atcr;
  static const PublicKey key = fuzz::firehose_key().public_key();
  if (size == 0) return 0;
  BytesView rest(data + 1, size - 1);
  try {
    if (data[0] == 0) {
      auto ref = verify::ImageRef::parse(std::string_view(reinterpret_cast<const char*>(rest.data()), rest.size()));
      (void)ref.str();
    } else if (data[0] == 1) {
      static const auto ref = verify::ImageRef::parse("registry.example/fuzz.example/app:latest");
      auto tag = verify::prove_record(rest, fuzz::kFirehoseDid, key, oci::kTagCollection, "app:latest");
      std::string rkey = verify::manifest_rkey_for(oci::TagRecord::from_value(tag.value), fuzz::kFirehoseDid);
      auto manifest = verify::prove_record(rest, fuzz::kFirehoseDid, key, oci::kManifestCollection, rkey);
      auto record = verify::check_records(ref, tag, manifest, rkey);
      verify::check_served_manifest(rest, record.digest);
    }
  } catch (const Error&) {
  }
  return 0;
}

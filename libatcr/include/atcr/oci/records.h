// ATCR's records in the user's PDS: io.atcr.manifest and io.atcr.tag
// (atcr-protocol.md §1.1, §1.2), as atcr::Value (the PDS client encodes
// them as DAG-CBOR), plus the descriptor sub-objects they share with the
// hold's records (hold_records.h).
//
// Descriptors inside records (#blobReference for config/layers/subject,
// #manifestReference for index entries) use the OCI descriptor's own field
// names: mediaType, digest, size, urls?, annotations?, artifactType?, and
// platform? {architecture, os, "os.version"?, "os.features"?, variant?}.
// The lexicon's sub-defs are unconfirmed (§1.1), so readers also accept
// "osVersion"/"osFeatures".
//
// Record keys (documented choices, both deterministic so a re-push upserts
// instead of piling up duplicates):
//  - manifest: the digest's hex (the lexicon says "tid", but keys are
//    "any" in practice and the hold's scan records already key by digest
//    hex). Readers must not rely on it: resolve manifests by the record's
//    `digest` field.
//  - tag: the repository with '/' spelled '~', then ':', then the tag,
//    e.g. "team~app:v1.0". Injective: neither the repository nor the tag
//    grammar admits ':' or '~', so the ':' splits the key unambiguously and
//    '~' maps back to '/'. At most 255 + 1 + 128 = 384 characters, all in
//    the record-key alphabet, and never "." or "..".
//
// Builders throw ParseError (or RegistryError from the name/tag checks) on
// arguments that would make an invalid record; readers (from_value) are
// lenient about what older writers left out but throw ParseError, naming the
// field, on a present field of the wrong type or an invalid digest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/data/cid.h"
#include "atcr/data/value.h"
#include "atcr/oci/digest.h"
#include "atcr/oci/manifest.h"

namespace atcr::oci {

inline constexpr std::string_view kManifestCollection = "io.atcr.manifest";
inline constexpr std::string_view kTagCollection = "io.atcr.tag";

// A descriptor as a record sub-object, and back. Reading needs a valid
// digest and a non-negative integer size; mediaType may be missing ("").
// `where` names the field in errors ("layers[2]").
Value descriptor_value(const Descriptor& descriptor);
Descriptor descriptor_from_value(const Value& value, std::string_view where);

// ---- io.atcr.manifest --------------------------------------------------

// The JSON size a manifest record keeps under: a PDS takes at most about
// 1 MB of JSON per write (the reference PDS: 1,000,000 bytes for
// applyWrites, which also carries the tag record).
inline constexpr std::size_t kMaxManifestRecordJson = 256 * 1024;

// The io.atcr.manifest record for a manifest pushed to `repository`.
// `manifest_blob_ref` is the blob the raw bytes were uploaded as
// ({$type: blob, ref, mimeType, size}; null omits the field). hold_did
// must be a DID; created_at an atproto datetime.
// The exact manifest is always the blob; the record's copy of its fields
// is for browsing. A record over kMaxManifestRecordJson drops the
// annotations (the manifest's and its descriptors'), then, if still over,
// the layers/manifests lists (the lexicon requires neither); config,
// subject and artifactType always stay.
Value manifest_record(const Manifest& manifest, std::string_view repository, const Digest& digest,
                      std::string_view hold_did, Value manifest_blob_ref, std::string created_at);

struct ManifestRecord {
  Digest digest;
  std::string repository{};
  std::string media_type{};        // "" if an old record lacks it
  std::int64_t schema_version = 2;
  std::string created_at{};
  std::string hold_did{};          // "" for legacy records that have only...
  std::string hold_endpoint{};     // ...this deprecated URL
  std::optional<Cid> manifest_blob{};  // the raw manifest's blob CID
  std::optional<Descriptor> config{};
  std::vector<Descriptor> layers{};
  std::vector<Descriptor> manifests{};
  std::optional<Descriptor> subject{};
  std::string artifact_type{};
  Annotations annotations{};

  // The config's media type (the referrers API reports it as the
  // artifactType when the manifest has none); "" without a config.
  std::string config_media_type() const { return config ? config->media_type : std::string(); }

  static ManifestRecord from_value(const Value& record);
};

// The manifest record's key: "<repository>:<digest hex>", with '/' in the
// repository written as '~' (as in tag_rkey). Deterministic, so a re-push
// upserts, and per repository: the same image pushed to two repositories
// is two records (a record names its repository; one key per digest would
// let the second push take the first one's manifest away).
std::string manifest_rkey(std::string_view repository, const Digest& digest);
// at://<did>/io.atcr.manifest/<manifest_rkey>
std::string manifest_uri(std::string_view did, std::string_view repository, const Digest& digest);

// ---- io.atcr.tag --------------------------------------------------------

// {$type, repository, tag, manifest (AT-URI), manifestDigest (for readers of
// the older lexicon), createdAt, updatedAt}. updated_at "" = created_at.
Value tag_record(std::string_view repository, std::string_view tag, std::string_view manifest_uri,
                 const Digest& manifest_digest, std::string created_at, std::string updated_at = {});

struct TagRecord {
  std::string repository;
  std::string tag;
  std::string manifest_uri;              // "" for records with only manifestDigest
  std::optional<Digest> manifest_digest; // the field as written, if any
  std::string created_at;                // either may be "" (the lexicon
  std::string updated_at;                //  versions require one or the other)

  // The digest the tag points at: manifestDigest if present, else the
  // digest hex at the end of the manifest URI's record key (manifest_rkey's
  // convention); nullopt when neither says.
  std::optional<Digest> digest() const;

  static TagRecord from_value(const Value& record);
};

// Throws RegistryError if the repository or tag is invalid.
std::string tag_rkey(std::string_view repository, std::string_view tag);

}  // namespace atcr::oci

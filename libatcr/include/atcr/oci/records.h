// ATCR's records in the user's PDS: io.atcr.manifest and io.atcr.tag
// (atcr-protocol.md §1.1, §1.2), as atcr::Value (sent to the PDS as JSON by
// xrpc::Session; the PDS stores them as DAG-CBOR), plus the descriptor sub-objects they share with the
// hold's records (hold_records.h).
//
// Descriptors inside records (#blobReference for config/layers/subject,
// #manifestReference for index entries) use the OCI descriptor's own field
// names: mediaType, digest, size, urls?, annotations?, artifactType?, and
// platform? {architecture, os, "os.version"?, "os.features"?, variant?}.
// The published lexicon (tests/fixtures/lexicons) spells the platform's
// dotted names "osVersion"/"osFeatures"; writers here use the OCI spelling,
// readers accept both.
//
// Record keys, as the lexicons declare them:
//  - manifest: a TID (the lexicon's key type "tid"), chosen when the record
//    is first written. A manifest is found by its digest through the tag's
//    `manifest` AT-URI, the AppView's own memory of the keys it wrote or
//    saw, or the record's `digest` field in a listRecords scan. Older atcr
//    versions keyed by legacy_manifest_rkey(); those records are still
//    read, and re-keyed to TIDs when their owner logs in.
//  - tag ("any"): the repository with '/' spelled '~', then ':', then the tag,
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

// The key older atcr versions gave manifest records: "<repository>:<digest
// hex>", with '/' in the repository written as '~' (as in tag_rkey). Not a
// TID, so no longer written; readers still look there.
std::string legacy_manifest_rkey(std::string_view repository, const Digest& digest);
// at://<did>/io.atcr.manifest/<rkey>. Throws ParseError for a bad DID or key.
std::string manifest_uri(std::string_view did, std::string_view rkey);
// The record key of a manifest AT-URI of `did` (a tag's `manifest`);
// nullopt when the URI names another repo or collection.
std::optional<std::string> manifest_rkey_of(std::string_view uri, std::string_view did);

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

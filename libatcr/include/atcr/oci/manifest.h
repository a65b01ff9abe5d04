// OCI image manifests and indexes, and their Docker schema 2 counterparts,
// parsed and validated from the bytes a client PUTs.
//
//   auto m = Manifest::parse(body, request.header("Content-Type"));
//   m.kind;                    // ManifestKind::kImageManifest, ...
//   m.referenced_blobs();      // what must already be on the hold
//   m.referenced_manifests();  // what an index points at
//
// Validation follows the OCI image-spec (manifest.md, image-index.md,
// descriptor.md) and distribution-spec v1.1:
//  - at most kMaxBytes (4 MiB), valid UTF-8 JSON whose top level is an
//    object; duplicate keys in the fields read here are refused (parsers
//    that pick the first and the last would disagree on what was pushed);
//  - schemaVersion is the integer 2;
//  - the media type is known and consistent: the body's mediaType, when
//    present, must equal the Content-Type (parameters such as "; charset="
//    ignored). OCI manifests may omit mediaType; then the Content-Type
//    decides, and without a usable one the shape does ("manifests" means an
//    index, otherwise an image manifest). Docker schema 2 requires the field.
//    "application/json", "application/octet-stream" and "" count as no
//    Content-Type. Schema 1 and unknown types are refused;
//  - an image manifest has a config and no "manifests"; an index has
//    "manifests" and no config or layers (a missing "layers" is taken as
//    empty, as docker/distribution does);
//  - every descriptor has a valid RFC 6838 mediaType, a valid digest (see
//    digest.h) and a size that is a non-negative 64-bit integer; urls are
//    URIs; annotations map strings to strings; platform has string
//    architecture and os.
// Unknown fields are ignored, as the image-spec requires of consumers. Not
// enforced: the image-spec's producer-side SHOULDs (artifactType with an
// empty config, at least one layer) and embedded `data` (not read).
//
// Every failure is a RegistryError with code MANIFEST_INVALID (status 413
// for an oversized body) whose message names the offending field
// ("layers[2].digest: ...") and whose detail is {"field": "..."}.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/oci/digest.h"

namespace atcr::oci {

using Annotations = std::map<std::string, std::string>;

// The platform of an index entry (image-index.md). Field names in JSON are
// "os.version" and "os.features".
struct Platform {
  std::string architecture;
  std::string os;
  std::string os_version;                // "" when absent
  std::vector<std::string> os_features;
  std::string variant;                   // "" when absent
  friend bool operator==(const Platform&, const Platform&) = default;
};

// A content descriptor (descriptor.md). Empty strings and empty containers
// stand for absent optional fields.
struct Descriptor {
  std::string media_type{};
  Digest digest;
  std::int64_t size = 0;
  std::vector<std::string> urls{};
  Annotations annotations{};
  std::string artifact_type{};
  std::optional<Platform> platform{};
  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

// A layer that need not be in the registry (distribution-spec: registries
// must not require non-distributable layers to be present): a Docker
// foreign or OCI non-distributable media type, or any layer with `urls`
// (the client fetches it from there).
bool is_non_distributable(const Descriptor& layer) noexcept;

enum class ManifestKind {
  kImageManifest,       // application/vnd.oci.image.manifest.v1+json
  kImageIndex,          // application/vnd.oci.image.index.v1+json
  kDockerManifest,      // application/vnd.docker.distribution.manifest.v2+json
  kDockerManifestList,  // application/vnd.docker.distribution.manifest.list.v2+json
};

std::string_view kind_media_type(ManifestKind kind) noexcept;

struct Manifest {
  static constexpr std::size_t kMaxBytes = 4 * 1024 * 1024;

  // Throws RegistryError (MANIFEST_INVALID). `content_type` is the request's
  // Content-Type header, "" when absent.
  static Manifest parse(BytesView raw, std::string_view content_type);
  static Manifest parse(std::string_view raw, std::string_view content_type) {
    return parse(as_bytes(raw), content_type);
  }

  Digest digest;               // sha256 of the exact bytes parsed
  ManifestKind kind{};
  std::string media_type{};      // the effective type (always set)
  bool media_type_in_body = false;
  int schema_version = 2;
  std::optional<Descriptor> config{};   // image manifests only
  std::vector<Descriptor> layers{};     // image manifests only
  std::vector<Descriptor> manifests{};  // indexes only
  std::optional<Descriptor> subject{};  // OCI only (referrers)
  std::string artifact_type{};
  Annotations annotations{};

  bool is_index() const noexcept {
    return kind == ManifestKind::kImageIndex || kind == ManifestKind::kDockerManifestList;
  }

  // The blobs that must exist before the manifest is accepted: config and
  // layers, minus non-distributable ones (is_non_distributable). Empty for
  // indexes.
  std::vector<Descriptor> referenced_blobs() const;
  // The manifests an index lists (which must exist before it is accepted).
  // Empty for image manifests. The subject is not included: the
  // distribution-spec lets a manifest name a subject that is not (yet)
  // in the registry.
  std::vector<Descriptor> referenced_manifests() const;
};

// The media type part of a Content-Type value: parameters and whitespace
// stripped, lowercased ("Application/JSON; charset=utf-8" -> "application/json").
std::string content_type_media_type(std::string_view content_type);

}  // namespace atcr::oci

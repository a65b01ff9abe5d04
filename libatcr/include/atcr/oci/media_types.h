// Media types of OCI and Docker images (OCI image-spec media-types.md,
// Docker Image Manifest V2 Schema 2).
//
// Manifests and indexes are what the registry parses and stores as records;
// everything else (configs, layers, artifacts) is an opaque blob.
#pragma once

#include <string_view>

namespace atcr::oci::media_type {

// OCI image-spec.
inline constexpr std::string_view kImageManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kImageIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kImageConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kImageLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kImageLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kImageLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
// Deprecated in image-spec 1.1 but still found in the wild.
inline constexpr std::string_view kImageLayerNondistributable =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kImageLayerNondistributableGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kImageLayerNondistributableZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
// The empty descriptor's type ("{}"), for artifacts without a config.
inline constexpr std::string_view kEmptyJson = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kImageLayout = "application/vnd.oci.layout.header.v1+json";

// Docker Image Manifest V2, Schema 2.
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayer =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view kDockerPluginConfig = "application/vnd.docker.plugin.v1+json";
// Schema 1 is refused (signed with JWS, long deprecated); named so the
// refusal can say so.
inline constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

// A single-image manifest: OCI image manifest or Docker schema 2.
bool is_manifest_media_type(std::string_view type) noexcept;
// A list of manifests: OCI index or Docker manifest list.
bool is_index_media_type(std::string_view type) noexcept;
// Either of the above: something PUT /v2/<name>/manifests/<ref> accepts.
inline bool is_any_manifest_media_type(std::string_view type) noexcept {
  return is_manifest_media_type(type) || is_index_media_type(type);
}
// Layers that registries traditionally do not store when they carry
// `urls` (Docker foreign layers, OCI non-distributable layers).
bool is_foreign_layer_media_type(std::string_view type) noexcept;

// RFC 6838 §4.2 syntax: type "/" subtype, each 1-127 restricted-name
// characters starting with a letter or digit. No parameters.
bool is_valid_media_type(std::string_view type) noexcept;

}  // namespace atcr::oci::media_type

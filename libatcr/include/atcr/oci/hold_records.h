// What the hold keeps about pushed images: the `manifest` object of
// io.atcr.hold.notifyManifest (#manifestInfo), io.atcr.hold.layer records
// and the key of io.atcr.hold.stats records (atcr-protocol.md §1.8, §1.9,
// §1.12). Descriptors use records.h's mapping.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/data/value.h"
#include "atcr/oci/manifest.h"

namespace atcr::oci {

// The collections of a hold's repo, for the hold that writes them and the
// AppView and index that read them.
inline constexpr std::string_view kCaptainCollection = "io.atcr.hold.captain";
inline constexpr std::string_view kCrewCollection = "io.atcr.hold.crew";
inline constexpr std::string_view kLayerCollection = "io.atcr.hold.layer";
inline constexpr std::string_view kStatsCollection = "io.atcr.hold.stats";

// #manifestInfo: {mediaType, config?, layers[], manifests[]} — the fields
// the hold needs to write layer records and check quota (layers: each
// distinct digest once, without annotations). Its sub-def is
// unconfirmed (§1.12); this is the shape both sides of atcr agree on.
Value manifest_info(const Manifest& manifest);

struct ManifestInfo {
  std::string media_type;
  std::optional<Descriptor> config;
  std::vector<Descriptor> layers;
  std::vector<Descriptor> manifests;

  // Throws ParseError naming the field (this arrives over XRPC).
  static ManifestInfo from_value(const Value& value);
};

// io.atcr.hold.layer, the union of both lexicon versions: digest, size,
// mediaType, repository, userDid, userHandle (omitted when ""), manifest
// (AT-URI of the manifest record), createdAt.
Value layer_record(const Descriptor& layer, std::string_view repository, std::string_view user_did,
                   std::string_view user_handle, std::string_view manifest_uri, std::string created_at);

struct LayerRecord {
  Digest digest;
  std::int64_t size = 0;
  std::string media_type{};
  std::string repository{};   // "" in records of the newer lexicon
  std::string user_did{};
  std::string user_handle{};  // optional
  std::string manifest_uri{}; // "" in records of the older lexicon
  std::string created_at{};

  static LayerRecord from_value(const Value& record);
};

// The io.atcr.hold.stats record key: RFC 4648 base32, lowercase, no
// padding, of the first 16 bytes of sha256(owner_did + "/" + repository)
// — 26 characters.
std::string stats_rkey(std::string_view owner_did, std::string_view repository);

}  // namespace atcr::oci

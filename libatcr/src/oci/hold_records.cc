#include "atcr/oci/hold_records.h"

#include <fmt/core.h>

#include <set>

#include "atcr/crypto/sha256.h"
#include "atcr/data/syntax.h"
#include "atcr/encoding/base32.h"
#include "atcr/error.h"
#include "atcr/oci/records.h"
#include "record_fields.h"

namespace atcr::oci {

using detail::bad_field;
using detail::digest_field;
using detail::integer_field;
using detail::record_map;
using detail::required_string;
using detail::string_field;

namespace {

Value descriptor_list(const std::vector<Descriptor>& items) {
  Value::Array out;
  out.reserve(items.size());
  for (const Descriptor& d : items) out.push_back(descriptor_value(d));
  return Value(std::move(out));
}

std::vector<Descriptor> descriptors_from(const Value& m, std::string_view key) {
  std::vector<Descriptor> out;
  const Value* v = m.find(key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) bad_field("manifest", key, "must be an array");
  const auto& items = v->as_array();
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    out.push_back(descriptor_from_value(items[i], fmt::format("manifest.{}[{}]", key, i)));
  return out;
}

}  // namespace

Value manifest_info(const Manifest& manifest) {
  // One entry per distinct blob, without annotations: all the hold uses
  // (a 4 MiB manifest listing one layer many times stays small).
  std::vector<Descriptor> layers;
  std::set<Digest> seen;
  for (const Descriptor& layer : manifest.layers) {
    if (!seen.insert(layer.digest).second) continue;
    layers.push_back(layer);
    layers.back().annotations.clear();
  }
  Value::Map out{{"mediaType", Value(manifest.media_type)},
                 {"layers", descriptor_list(layers)},
                 {"manifests", descriptor_list(manifest.manifests)}};
  if (manifest.config) out.emplace("config", descriptor_value(*manifest.config));
  return Value(std::move(out));
}

ManifestInfo ManifestInfo::from_value(const Value& v) {
  record_map(v, "manifest");
  ManifestInfo info;
  info.media_type = string_field(v, "mediaType", "manifest");
  if (const Value* c = v.find("config"); c && !c->is_null()) info.config = descriptor_from_value(*c, "manifest.config");
  info.layers = descriptors_from(v, "layers");
  info.manifests = descriptors_from(v, "manifests");
  return info;
}

Value layer_record(const Descriptor& layer, std::string_view repository, std::string_view user_did,
                   std::string_view user_handle, std::string_view manifest_uri, std::string created_at) {
  syntax::validate_did(user_did);
  syntax::validate_at_uri(manifest_uri);
  syntax::validate_datetime(created_at);
  Value::Map r{{"$type", Value(kLayerCollection)},
               {"digest", Value(layer.digest.str())},
               {"size", Value(layer.size)},
               {"mediaType", Value(layer.media_type)},
               {"repository", Value(repository)},
               {"userDid", Value(user_did)},
               {"manifest", Value(manifest_uri)},
               {"createdAt", Value(std::move(created_at))}};
  if (!user_handle.empty()) r.emplace("userHandle", Value(user_handle));
  return Value(std::move(r));
}

LayerRecord LayerRecord::from_value(const Value& v) {
  record_map(v, "io.atcr.hold.layer");
  auto size = integer_field(v, "size", "");
  if (!size) bad_field("", "size", "is required");
  if (*size < 0) bad_field("", "size", "must not be negative");
  LayerRecord r{.digest = digest_field(v, "digest", ""), .size = *size};
  r.media_type = string_field(v, "mediaType", "");
  r.repository = string_field(v, "repository", "");
  r.user_did = required_string(v, "userDid", "");
  r.user_handle = string_field(v, "userHandle", "");
  r.manifest_uri = string_field(v, "manifest", "");
  r.created_at = string_field(v, "createdAt", "");
  return r;
}

std::string stats_rkey(std::string_view owner_did, std::string_view repository) {
  std::string input = fmt::format("{}/{}", owner_did, repository);
  Sha256Digest hash = sha256(as_bytes(input));
  return base32::encode(BytesView(hash.data(), 16));
}

}  // namespace atcr::oci

#include "atcr/oci/records.h"

#include <fmt/core.h>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/error.h"
#include "atcr/oci/reference.h"
#include "record_fields.h"

namespace atcr::oci {

using detail::bad_field;
using detail::digest_field;
using detail::integer_field;
using detail::record_map;
using detail::required_string;
using detail::string_field;

namespace {

Value string_list(const std::vector<std::string>& items) {
  Value::Array out;
  out.reserve(items.size());
  for (const std::string& s : items) out.emplace_back(s);
  return Value(std::move(out));
}

Value annotations_value(const Annotations& annotations) {
  Value::Map out;
  out.reserve(annotations.size());
  for (const auto& [k, v] : annotations) out.emplace(k, Value(v));
  return Value(std::move(out));
}

// Annotations are string to string; a non-map is an error, a non-string
// value is skipped (it cannot have come from a valid OCI manifest, and one
// odd annotation should not make the whole record unreadable).
Annotations annotations_from(const Value& m, std::string_view where) {
  Annotations out;
  const Value* v = m.find("annotations");
  if (!v || v->is_null()) return out;
  if (!v->is_map()) bad_field(where, "annotations", "must be a map");
  for (const auto& [k, item] : v->as_map())
    if (item.is_string()) out.emplace(k, item.as_string());
  return out;
}

std::vector<std::string> strings_from(const Value* v, std::string_view where, std::string_view key) {
  std::vector<std::string> out;
  if (!v) return out;
  if (!v->is_array()) bad_field(where, key, "must be an array of strings");
  for (const Value& item : v->as_array()) {
    if (!item.is_string()) bad_field(where, key, "must be an array of strings");
    out.push_back(item.as_string());
  }
  return out;
}

Value platform_value(const Platform& p) {
  Value::Map out{{"architecture", Value(p.architecture)}, {"os", Value(p.os)}};
  if (!p.os_version.empty()) out.emplace("os.version", Value(p.os_version));
  if (!p.os_features.empty()) out.emplace("os.features", string_list(p.os_features));
  if (!p.variant.empty()) out.emplace("variant", Value(p.variant));
  return Value(std::move(out));
}

// Either spelling of the dotted OCI names.
const Value* either(const Value& m, std::string_view oci, std::string_view camel) {
  const Value* v = m.find(oci);
  return v ? v : m.find(camel);
}

Platform platform_from(const Value& v, std::string_view where) {
  record_map(v, where);
  Platform p;
  p.architecture = string_field(v, "architecture", where);
  p.os = string_field(v, "os", where);
  if (const Value* ver = either(v, "os.version", "osVersion")) {
    if (!ver->is_string()) bad_field(where, "os.version", "must be a string");
    p.os_version = ver->as_string();
  }
  p.os_features = strings_from(either(v, "os.features", "osFeatures"), where, "os.features");
  p.variant = string_field(v, "variant", where);
  return p;
}

std::vector<Descriptor> descriptors_from(const Value& m, std::string_view key, std::string_view where) {
  std::vector<Descriptor> out;
  const Value* v = m.find(key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) bad_field(where, key, "must be an array");
  const auto& items = v->as_array();
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    out.push_back(descriptor_from_value(items[i], fmt::format("{}[{}]", key, i)));
  return out;
}

std::optional<Descriptor> optional_descriptor(const Value& m, std::string_view key) {
  const Value* v = m.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return descriptor_from_value(*v, key);
}

Value descriptor_list(const std::vector<Descriptor>& items) {
  Value::Array out;
  out.reserve(items.size());
  for (const Descriptor& d : items) out.push_back(descriptor_value(d));
  return Value(std::move(out));
}

// The CID of a blob ref: {$type: blob, ref: <link>, ...}, or the legacy
// {cid: "<cid>", mimeType} form older atproto records used.
std::optional<Cid> blob_cid(const Value& record) {
  const Value* blob = record.find("manifestBlob");
  if (!blob || blob->is_null()) return std::nullopt;
  record_map(*blob, "manifestBlob");
  if (const Value* ref = blob->find("ref")) {
    if (!ref->is_link()) bad_field("manifestBlob", "ref", "must be a link");
    return ref->as_link();
  }
  if (const Value* cid = blob->find("cid")) {
    if (!cid->is_string()) bad_field("manifestBlob", "cid", "must be a string");
    try {
      return Cid::parse(cid->as_string());
    } catch (const ParseError& e) {
      bad_field("manifestBlob", "cid", e.what());
    }
  }
  bad_field("", "manifestBlob", "has neither ref nor cid");
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

Value descriptor_value(const Descriptor& d) {
  Value::Map out{{"mediaType", Value(d.media_type)}, {"digest", Value(d.digest.str())}, {"size", Value(d.size)}};
  if (!d.urls.empty()) out.emplace("urls", string_list(d.urls));
  if (!d.annotations.empty()) out.emplace("annotations", annotations_value(d.annotations));
  if (!d.artifact_type.empty()) out.emplace("artifactType", Value(d.artifact_type));
  if (d.platform) out.emplace("platform", platform_value(*d.platform));
  return Value(std::move(out));
}

Descriptor descriptor_from_value(const Value& v, std::string_view where) {
  record_map(v, where);
  auto size = integer_field(v, "size", where);
  if (!size) bad_field(where, "size", "is required");
  if (*size < 0) bad_field(where, "size", "must not be negative");
  Descriptor d{.media_type = string_field(v, "mediaType", where), .digest = digest_field(v, "digest", where),
               .size = *size};
  d.urls = strings_from(v.find("urls"), where, "urls");
  d.annotations = annotations_from(v, where);
  d.artifact_type = string_field(v, "artifactType", where);
  if (const Value* p = v.find("platform"); p && !p->is_null())
    d.platform = platform_from(*p, std::string(where) + ".platform");
  return d;
}

namespace {

std::vector<Descriptor> without_annotations(std::vector<Descriptor> list) {
  for (Descriptor& d : list) d.annotations.clear();
  return list;
}

// How much of the manifest a record carries (see kMaxManifestRecordJson).
enum class RecordDetail { kFull, kNoAnnotations, kSummary };

Value manifest_record_at(const Manifest& manifest, std::string_view repository, const Digest& digest,
                         std::string_view hold_did, const Value& manifest_blob_ref, const std::string& created_at,
                         RecordDetail detail) {
  Manifest m = manifest;
  if (detail != RecordDetail::kFull) {
    m.annotations.clear();
    m.layers = without_annotations(std::move(m.layers));
    m.manifests = without_annotations(std::move(m.manifests));
    if (m.config) m.config->annotations.clear();
    if (m.subject) m.subject->annotations.clear();
  }
  if (detail == RecordDetail::kSummary) {
    m.layers.clear();
    m.manifests.clear();
  }
  Value::Map r{{"$type", Value(kManifestCollection)},
               {"repository", Value(repository)},
               {"digest", Value(digest.str())},
               {"mediaType", Value(manifest.media_type)},
               {"schemaVersion", Value(manifest.schema_version)},
               {"createdAt", Value(created_at)},
               {"holdDid", Value(hold_did)}};
  if (m.config) r.emplace("config", descriptor_value(*m.config));
  if (detail != RecordDetail::kSummary) {
    if (m.is_index())
      r.emplace("manifests", descriptor_list(m.manifests));
    else
      r.emplace("layers", descriptor_list(m.layers));
  }
  if (m.subject) r.emplace("subject", descriptor_value(*m.subject));
  if (!m.artifact_type.empty()) r.emplace("artifactType", Value(m.artifact_type));
  if (!m.annotations.empty()) r.emplace("annotations", annotations_value(m.annotations));
  if (!manifest_blob_ref.is_null()) r.emplace("manifestBlob", manifest_blob_ref);
  return Value(std::move(r));
}

}  // namespace

Value manifest_record(const Manifest& manifest, std::string_view repository, const Digest& digest,
                      std::string_view hold_did, Value manifest_blob_ref, std::string created_at) {
  validate_repository(repository);
  syntax::validate_did(hold_did);
  syntax::validate_datetime(created_at);
  Value record;
  for (RecordDetail detail : {RecordDetail::kFull, RecordDetail::kNoAnnotations, RecordDetail::kSummary}) {
    record = manifest_record_at(manifest, repository, digest, hold_did, manifest_blob_ref, created_at, detail);
    if (detail == RecordDetail::kSummary || json::serialize(record).size() <= kMaxManifestRecordJson) break;
  }
  return record;
}

ManifestRecord ManifestRecord::from_value(const Value& v) {
  record_map(v, "io.atcr.manifest");
  ManifestRecord r{.digest = digest_field(v, "digest", ""), .repository = required_string(v, "repository", "")};
  r.media_type = string_field(v, "mediaType", "");
  r.schema_version = integer_field(v, "schemaVersion", "").value_or(2);
  r.created_at = string_field(v, "createdAt", "");
  r.hold_did = string_field(v, "holdDid", "");
  r.hold_endpoint = string_field(v, "holdEndpoint", "");
  r.manifest_blob = blob_cid(v);
  r.config = optional_descriptor(v, "config");
  r.layers = descriptors_from(v, "layers", "");
  r.manifests = descriptors_from(v, "manifests", "");
  r.subject = optional_descriptor(v, "subject");
  r.artifact_type = string_field(v, "artifactType", "");
  r.annotations = annotations_from(v, "");
  return r;
}

std::string legacy_manifest_rkey(std::string_view repository, const Digest& digest) {
  validate_repository(repository);
  std::string key(repository);
  for (char& c : key)
    if (c == '/') c = '~';
  return key + ":" + std::string(digest.hex());
}

std::string manifest_uri(std::string_view did, std::string_view rkey) {
  syntax::validate_did(did);
  if (!syntax::is_valid_record_key(rkey)) throw ParseError(fmt::format("'{}' is not a record key", rkey.substr(0, 80)));
  return fmt::format("at://{}/{}/{}", did, kManifestCollection, rkey);
}

std::optional<std::string> manifest_rkey_of(std::string_view uri, std::string_view did) {
  std::string prefix = fmt::format("at://{}/{}/", did, kManifestCollection);
  if (!uri.starts_with(prefix)) return std::nullopt;
  std::string_view rkey = uri.substr(prefix.size());
  if (!syntax::is_valid_record_key(rkey)) return std::nullopt;
  return std::string(rkey);
}

Value tag_record(std::string_view repository, std::string_view tag, std::string_view manifest_uri,
                 const Digest& manifest_digest, std::string created_at, std::string updated_at) {
  validate_repository(repository);
  validate_tag(tag);
  syntax::validate_at_uri(manifest_uri);
  syntax::validate_datetime(created_at);
  if (updated_at.empty()) updated_at = created_at;
  syntax::validate_datetime(updated_at);
  return Value(Value::Map{{"$type", Value(kTagCollection)},
                          {"repository", Value(repository)},
                          {"tag", Value(tag)},
                          {"manifest", Value(manifest_uri)},
                          {"manifestDigest", Value(manifest_digest.str())},
                          {"createdAt", Value(std::move(created_at))},
                          {"updatedAt", Value(std::move(updated_at))}});
}

std::optional<Digest> TagRecord::digest() const {
  if (manifest_digest) return manifest_digest;
  std::string_view rkey = manifest_uri;
  rkey = rkey.substr(rkey.rfind('/') == std::string_view::npos ? rkey.size() : rkey.rfind('/') + 1);
  // legacy_manifest_rkey's "<repository>:<hex>", or a bare hex from older writers.
  if (auto colon = rkey.rfind(':'); colon != std::string_view::npos) rkey = rkey.substr(colon + 1);
  if (is_sha256_hex(rkey)) return Digest::parse("sha256:" + std::string(rkey));
  return std::nullopt;
}

TagRecord TagRecord::from_value(const Value& v) {
  record_map(v, "io.atcr.tag");
  TagRecord t;
  t.repository = required_string(v, "repository", "");
  t.tag = required_string(v, "tag", "");
  t.manifest_uri = string_field(v, "manifest", "");
  if (v.find("manifestDigest")) t.manifest_digest = digest_field(v, "manifestDigest", "");
  t.created_at = string_field(v, "createdAt", "");
  t.updated_at = string_field(v, "updatedAt", "");
  return t;
}

std::string tag_rkey(std::string_view repository, std::string_view tag) {
  validate_repository(repository);
  validate_tag(tag);
  std::string key(repository);
  for (char& c : key)
    if (c == '/') c = '~';
  return key + ":" + std::string(tag);
}

}  // namespace atcr::oci

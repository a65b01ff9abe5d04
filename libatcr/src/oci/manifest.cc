#include "atcr/oci/manifest.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <fmt/core.h>

#include <set>

#include "atcr/data/syntax.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/media_types.h"
#include "util/text.h"

namespace atcr::oci {

namespace {

using Json = rapidjson::Value;

[[noreturn]] void invalid(const std::string& field, const std::string& why) {
  Value detail = field.empty() ? Value() : Value(Value::Map{{"field", Value(field)}});
  throw RegistryError(ErrorCode::kManifestInvalid, field.empty() ? why : field + ": " + why, std::move(detail));
}

std::string_view text(const Json& j) { return {j.GetString(), j.GetStringLength()}; }

// RapidJSON validates the UTF-8 of the input, but decodes an escaped lone
// low surrogate ("\udc00") into the bytes ED B0 80, which are not UTF-8. A
// validated input cannot contain ED A0..BF itself, so that pair only ever
// comes from such an escape. Strings kept from a manifest go into records
// (DAG-CBOR text must be valid UTF-8), so they are checked here.
bool has_surrogate(std::string_view s) {
  for (std::size_t i = 0; i + 1 < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) == 0xED && static_cast<unsigned char>(s[i + 1]) >= 0xA0) return true;
  return false;
}

std::string join(const std::string& path, std::string_view key);

// The string's text, refused if it decodes to invalid UTF-8.
std::string kept(const Json& j, const std::string& path) {
  std::string_view s = text(j);
  if (has_surrogate(s)) invalid(path, "contains an unpaired UTF-16 surrogate escape");
  return std::string(s);
}

// For error paths and messages: a hostile key or value shown as printable
// ASCII, truncated, so messages stay short, valid UTF-8 and free of
// control bytes.
std::string printable(std::string_view s, std::size_t limit) {
  std::string out(s.substr(0, limit));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return out;
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? printable(key, 100) : path + "." + printable(key, 100);
}

// Refuses an object that names a key twice: JSON leaves the meaning open,
// and a registry that reads one copy while a client or scanner reads the
// other would store something different from what they see. A set keeps
// this O(n log n) however many keys a hostile body holds.
void require_object(const Json& j, const std::string& path) {
  if (!j.IsObject()) invalid(path, "must be a JSON object");
  std::set<std::string_view> seen;
  for (const auto& m : j.GetObject())
    if (!seen.insert(text(m.name)).second)
      invalid(join(path, text(m.name)), "duplicate key");
}

const Json* member(const Json& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string string_field(const Json& obj, const char* key, const std::string& path, bool required) {
  const Json* v = member(obj, key);
  if (!v) {
    if (required) invalid(join(path, key), "is required");
    return {};
  }
  if (!v->IsString()) invalid(join(path, key), "must be a string");
  return kept(*v, join(path, key));
}

std::string media_type_field(const Json& obj, const char* key, const std::string& path, bool required) {
  std::string type = string_field(obj, key, path, required);
  if (member(obj, key) && !media_type::is_valid_media_type(type))
    invalid(join(path, key), fmt::format("'{}' is not a valid media type", printable(type, 140)));
  return type;
}

std::vector<std::string> string_array(const Json& j, const std::string& path) {
  if (!j.IsArray()) invalid(path, "must be an array of strings");
  std::vector<std::string> out;
  out.reserve(j.Size());
  for (rapidjson::SizeType i = 0; i < j.Size(); ++i) {
    if (!j[i].IsString()) invalid(fmt::format("{}[{}]", path, i), "must be a string");
    out.push_back(kept(j[i], fmt::format("{}[{}]", path, i)));
  }
  return out;
}

Annotations annotations_field(const Json& obj, const std::string& path) {
  Annotations out;
  const Json* v = member(obj, "annotations");
  if (!v) return out;
  std::string here = join(path, "annotations");
  require_object(*v, here);
  for (const auto& m : v->GetObject()) {
    std::string key = kept(m.name, here);
    if (!m.value.IsString()) invalid(join(here, key), "annotation values must be strings");
    out.emplace(key, kept(m.value, join(here, key)));
  }
  return out;
}

Platform parse_platform(const Json& j, const std::string& path) {
  require_object(j, path);
  Platform p;
  p.architecture = string_field(j, "architecture", path, true);
  p.os = string_field(j, "os", path, true);
  p.os_version = string_field(j, "os.version", path, false);
  if (const Json* f = member(j, "os.features")) p.os_features = string_array(*f, join(path, "os.features"));
  p.variant = string_field(j, "variant", path, false);
  return p;
}

Descriptor parse_descriptor(const Json& j, const std::string& path) {
  require_object(j, path);
  std::string type = media_type_field(j, "mediaType", path, true);
  std::string digest = string_field(j, "digest", path, true);
  if (!Digest::valid(digest)) {
    try {
      Digest::parse(digest);
    } catch (const ParseError& e) {
      invalid(join(path, "digest"), e.what());
    }
  }
  const Json* size = member(j, "size");
  if (!size) invalid(join(path, "size"), "is required");
  if (!size->IsInt64() || size->GetInt64() < 0)
    invalid(join(path, "size"), "must be a non-negative 64-bit integer");
  Descriptor d{.media_type = std::move(type), .digest = Digest::parse(digest), .size = size->GetInt64()};
  if (const Json* urls = member(j, "urls")) {
    d.urls = string_array(*urls, join(path, "urls"));
    for (std::size_t i = 0; i < d.urls.size(); ++i)
      if (!syntax::is_valid_uri(d.urls[i])) invalid(fmt::format("{}.urls[{}]", path, i), "must be a URI");
  }
  d.annotations = annotations_field(j, path);
  d.artifact_type = media_type_field(j, "artifactType", path, false);
  if (const Json* p = member(j, "platform")) d.platform = parse_platform(*p, join(path, "platform"));
  return d;
}

std::vector<Descriptor> descriptor_array(const Json& j, const std::string& path) {
  if (!j.IsArray()) invalid(path, "must be an array of descriptors");
  std::vector<Descriptor> out;
  out.reserve(j.Size());
  for (rapidjson::SizeType i = 0; i < j.Size(); ++i) out.push_back(parse_descriptor(j[i], fmt::format("{}[{}]", path, i)));
  return out;
}

// Content-Types that say nothing about which manifest this is: clients
// such as curl send them by default.
bool uninformative(std::string_view type) {
  return type.empty() || type == "application/json" || type == "application/octet-stream";
}

// Decides the manifest's media type from the body's field, the request's
// Content-Type and, failing both, the body's shape.
std::string effective_media_type(const Json& doc, std::string_view content_type, bool& in_body) {
  std::string body_type = string_field(doc, "mediaType", "", false);
  in_body = member(doc, "mediaType") != nullptr;
  if (in_body && body_type.empty()) invalid("mediaType", "must not be empty");
  std::string header = content_type_media_type(content_type);
  if (uninformative(header)) header.clear();
  if (in_body && !header.empty() && body_type != header)
    invalid("mediaType",
            fmt::format("'{}' does not match the Content-Type '{}'", printable(body_type, 140), printable(header, 140)));
  std::string type = in_body ? body_type : header;
  if (type.empty()) type = member(doc, "manifests") ? media_type::kImageIndex : media_type::kImageManifest;
  if (type == media_type::kDockerSchema1 || type == media_type::kDockerSchema1Signed)
    invalid("mediaType", "Docker schema 1 manifests are not supported; push schema 2 or OCI");
  if (!media_type::is_any_manifest_media_type(type))
    invalid("mediaType", fmt::format("'{}' is not a manifest media type", printable(type, 140)));
  bool docker = type == media_type::kDockerManifest || type == media_type::kDockerManifestList;
  if (docker && !in_body) invalid("mediaType", "is required in Docker schema 2 manifests");
  return type;
}

ManifestKind kind_of(std::string_view type) {
  if (type == media_type::kImageManifest) return ManifestKind::kImageManifest;
  if (type == media_type::kImageIndex) return ManifestKind::kImageIndex;
  if (type == media_type::kDockerManifest) return ManifestKind::kDockerManifest;
  return ManifestKind::kDockerManifestList;
}

void parse_image_fields(const Json& doc, Manifest& m) {
  if (member(doc, "manifests")) invalid("manifests", "an image manifest must not list manifests");
  const Json* config = member(doc, "config");
  if (!config) invalid("config", "is required in an image manifest");
  m.config = parse_descriptor(*config, "config");
  if (const Json* layers = member(doc, "layers")) m.layers = descriptor_array(*layers, "layers");
}

void parse_index_fields(const Json& doc, Manifest& m) {
  if (member(doc, "config")) invalid("config", "an index must not have a config");
  if (member(doc, "layers")) invalid("layers", "an index must not have layers");
  const Json* manifests = member(doc, "manifests");
  if (!manifests) invalid("manifests", "is required in an index");
  m.manifests = descriptor_array(*manifests, "manifests");
}

}  // namespace

std::string_view kind_media_type(ManifestKind kind) noexcept {
  switch (kind) {
    case ManifestKind::kImageManifest: return media_type::kImageManifest;
    case ManifestKind::kImageIndex: return media_type::kImageIndex;
    case ManifestKind::kDockerManifest: return media_type::kDockerManifest;
    case ManifestKind::kDockerManifestList: return media_type::kDockerManifestList;
  }
  return media_type::kImageManifest;
}

std::string content_type_media_type(std::string_view content_type) {
  return util::ascii_lower(util::trim(content_type.substr(0, content_type.find(';')), " \t"));
}

Manifest Manifest::parse(BytesView raw, std::string_view content_type) {
  if (raw.size() > kMaxBytes)
    throw RegistryError(ErrorCode::kManifestInvalid,
                        fmt::format("manifest is {} bytes, over the limit of {}", raw.size(), kMaxBytes),
                        Value(Value::Map{{"limit", Value(static_cast<std::int64_t>(kMaxBytes))}}), 413);
  rapidjson::Document doc;
  // Iterative parsing keeps hostile nesting off the C++ stack; encoding
  // validation refuses invalid UTF-8.
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag |
                              rapidjson::kParseValidateEncodingFlag;
  doc.Parse<kFlags>(reinterpret_cast<const char*>(raw.data()), raw.size());
  if (doc.HasParseError())
    invalid("", fmt::format("not valid JSON: {} at offset {}", rapidjson::GetParseError_En(doc.GetParseError()),
                            doc.GetErrorOffset()));
  if (!doc.IsObject()) invalid("", "the top level must be a JSON object");
  require_object(doc, "");

  const Json* version = member(doc, "schemaVersion");
  if (!version) invalid("schemaVersion", "is required");
  if (!version->IsInt() || version->GetInt() != 2) invalid("schemaVersion", "must be 2");

  bool in_body = false;
  std::string type = effective_media_type(doc, content_type, in_body);
  Manifest m{.digest = Digest::of(raw), .kind = kind_of(type), .media_type = type, .media_type_in_body = in_body};
  if (m.is_index())
    parse_index_fields(doc, m);
  else
    parse_image_fields(doc, m);
  if (const Json* subject = member(doc, "subject")) m.subject = parse_descriptor(*subject, "subject");
  m.artifact_type = media_type_field(doc, "artifactType", "", false);
  m.annotations = annotations_field(doc, "");
  return m;
}

std::vector<Descriptor> Manifest::referenced_blobs() const {
  std::vector<Descriptor> out;
  if (is_index()) return out;
  if (config) out.push_back(*config);
  for (const Descriptor& layer : layers)
    if (!is_non_distributable(layer)) out.push_back(layer);
  return out;
}

bool is_non_distributable(const Descriptor& layer) noexcept {
  return media_type::is_foreign_layer_media_type(layer.media_type) || !layer.urls.empty();
}

std::vector<Descriptor> Manifest::referenced_manifests() const { return is_index() ? manifests : std::vector<Descriptor>{}; }

}  // namespace atcr::oci

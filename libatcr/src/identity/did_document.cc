#include "atcr/identity/did_document.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "atcr/data/syntax.h"
#include "atcr/encoding/base58.h"

namespace atcr::identity {

namespace {

constexpr std::string_view kMultikey = "Multikey";
constexpr std::string_view kLegacyK256 = "EcdsaSecp256k1VerificationKey2019";
constexpr std::string_view kLegacyP256 = "EcdsaSecp256r1VerificationKey2019";

[[noreturn]] void fail(std::string_view did, std::string_view what) {
  if (did.empty()) throw ParseError(fmt::format("DID document: {}", what));
  throw ParseError(fmt::format("DID document of {}: {}", did, what));
}

std::string_view str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

// The member `name` of `object`, or nullptr. A document naming a field
// twice is refused: JSON parsers disagree on which copy wins, and a
// signature or a cache must not see a different document than we do.
const rapidjson::Value* member(const rapidjson::Value& object, std::string_view name,
                               std::string_view did, std::string_view where) {
  const rapidjson::Value* found = nullptr;
  for (const auto& m : object.GetObject()) {
    if (str(m.name) != name) continue;
    if (found) fail(did, fmt::format("{}\"{}\" appears twice", where, name));
    found = &m.value;
  }
  return found;
}

const rapidjson::Value* string_member(const rapidjson::Value& object, std::string_view name,
                                      std::string_view did, std::string_view where) {
  const rapidjson::Value* v = member(object, name, did, where);
  if (v && !v->IsString()) fail(did, fmt::format("{}\"{}\" must be a string", where, name));
  return v;
}

// The fragment of a method or service id that belongs to `did`: "#frag"
// or "<did>#frag". Ids of other DIDs have none.
std::optional<std::string> fragment_of(std::string_view id, std::string_view did) {
  if (id.starts_with(did) && id.size() > did.size() && id[did.size()] == '#') id.remove_prefix(did.size());
  if (id.size() < 2 || id[0] != '#') return std::nullopt;
  return std::string(id.substr(1));
}

// The key of a Multikey or legacy method; ParseError if it does not decode.
PublicKey decode_key(std::string_view type, std::string_view multibase) {
  if (type == kMultikey) return PublicKey::from_multikey(multibase);
  // Legacy: "z" + base58btc of a bare SEC1 point, no multicodec. The spec
  // describes uncompressed points; compressed ones occur too.
  if (!multibase.starts_with('z')) throw ParseError("publicKeyMultibase must start with 'z' (base58btc)");
  Bytes point = base58::decode(multibase.substr(1));
  return PublicKey::from_sec1(type == kLegacyK256 ? KeyType::kSecp256k1 : KeyType::kP256, point);
}

// One verificationMethod entry. Returns nothing for methods atproto cannot
// use; throws for a broken `#atproto` method (see the header).
std::optional<VerificationMethod> parse_method(const rapidjson::Value& m, std::string_view did,
                                               std::size_t index) {
  std::string where = fmt::format("verificationMethod[{}]: ", index);
  if (!m.IsObject()) fail(did, where + "must be an object");
  const rapidjson::Value* id = string_member(m, "id", did, where);
  if (!id) fail(did, where + "has no \"id\"");
  std::optional<std::string> frag = fragment_of(str(*id), did);
  bool required = str(*id).ends_with("#atproto");
  auto skip_or_fail = [&](std::string_view why) -> std::optional<VerificationMethod> {
    if (required) fail(did, fmt::format("{}\"{}\" {}", where, str(*id), why));
    return std::nullopt;
  };
  if (!frag) return skip_or_fail("belongs to another DID");

  const rapidjson::Value* type = member(m, "type", did, where);
  const rapidjson::Value* controller = member(m, "controller", did, where);
  const rapidjson::Value* multibase = member(m, "publicKeyMultibase", did, where);
  if (!type || !type->IsString()) return skip_or_fail("has no \"type\" string");
  std::string_view t = str(*type);
  if (t != kMultikey && t != kLegacyK256 && t != kLegacyP256)
    return skip_or_fail(fmt::format("has unsupported type \"{}\"", t));
  if (!controller || !controller->IsString()) return skip_or_fail("has no \"controller\" string");
  if (str(*controller) != did)
    return skip_or_fail(fmt::format("is controlled by \"{}\", not the DID", str(*controller)));
  if (!multibase || !multibase->IsString()) return skip_or_fail("has no \"publicKeyMultibase\" string");
  try {
    return VerificationMethod{std::move(*frag), decode_key(t, str(*multibase))};
  } catch (const ParseError& e) {
    return skip_or_fail(fmt::format("has an unusable key: {}", e.what()));
  }
}

std::optional<Service> parse_service(const rapidjson::Value& s, std::string_view did, std::size_t index) {
  std::string where = fmt::format("service[{}]: ", index);
  if (!s.IsObject()) fail(did, where + "must be an object");
  const rapidjson::Value* id = string_member(s, "id", did, where);
  if (!id) fail(did, where + "has no \"id\"");
  const rapidjson::Value* type = string_member(s, "type", did, where);
  const rapidjson::Value* endpoint = member(s, "serviceEndpoint", did, where);
  std::optional<std::string> frag = fragment_of(str(*id), did);
  // DID Core also allows maps and sets of endpoints; atproto uses none.
  if (!frag || !type || !endpoint || !endpoint->IsString()) return std::nullopt;
  return Service{std::move(*frag), std::string(str(*type)), std::string(str(*endpoint))};
}

}  // namespace

std::optional<std::string> DidDocument::handle() const {
  for (const std::string& aka : also_known_as) {
    std::string_view rest = aka;
    if (!rest.starts_with("at://")) continue;
    rest.remove_prefix(5);
    if (syntax::is_valid_handle(rest)) return syntax::normalize_handle(rest);
  }
  return std::nullopt;
}

std::optional<PublicKey> DidDocument::key(std::string_view method_id) const {
  for (const VerificationMethod& m : verification_methods)
    if (m.id == method_id) return m.key;
  return std::nullopt;
}

std::optional<Service> DidDocument::service(std::string_view service_id, std::string_view type) const {
  for (const Service& s : services)
    if (s.id == service_id && (type.empty() || s.type == type)) return s;
  return std::nullopt;
}

std::optional<std::string> DidDocument::pds_endpoint() const {
  std::optional<Service> pds = service("atproto_pds", "AtprotoPersonalDataServer");
  if (!pds) return std::nullopt;
  std::string_view e = pds->endpoint;
  if (!e.starts_with("https://") && !e.starts_with("http://")) return std::nullopt;
  if (!syntax::is_valid_uri(e)) return std::nullopt;
  return pds->endpoint;
}

DidDocument DidDocument::parse(std::string_view json) {
  if (json.size() > kMaxDidDocumentBytes)
    fail({}, fmt::format("{} bytes, over the {}-byte limit", json.size(), kMaxDidDocumentBytes));
  rapidjson::Document j;
  // Iterative: hostile nesting must not exhaust the stack.
  j.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (j.HasParseError())
    fail({}, fmt::format("not JSON: {} at offset {}", rapidjson::GetParseError_En(j.GetParseError()),
                         j.GetErrorOffset()));
  if (!j.IsObject()) fail({}, "must be a JSON object");

  DidDocument doc;
  const rapidjson::Value* id = string_member(j, "id", {}, "");
  if (!id) fail({}, "has no \"id\"");
  if (!syntax::is_valid_did(str(*id))) {
    std::string_view shown = str(*id).substr(0, 80);
    fail({}, fmt::format("\"id\" is not a valid DID: \"{}\"", shown));
  }
  doc.id = std::string(str(*id));

  if (const rapidjson::Value* aka = member(j, "alsoKnownAs", doc.id, "")) {
    if (!aka->IsArray()) fail(doc.id, "\"alsoKnownAs\" must be an array");
    for (const auto& entry : aka->GetArray()) {
      if (!entry.IsString()) fail(doc.id, "\"alsoKnownAs\" entries must be strings");
      doc.also_known_as.emplace_back(str(entry));
    }
  }
  if (const rapidjson::Value* methods = member(j, "verificationMethod", doc.id, "")) {
    if (!methods->IsArray()) fail(doc.id, "\"verificationMethod\" must be an array");
    std::size_t i = 0;
    for (const auto& m : methods->GetArray())
      if (auto method = parse_method(m, doc.id, i++)) doc.verification_methods.push_back(std::move(*method));
  }
  if (const rapidjson::Value* services = member(j, "service", doc.id, "")) {
    if (!services->IsArray()) fail(doc.id, "\"service\" must be an array");
    std::size_t i = 0;
    for (const auto& s : services->GetArray())
      if (auto service = parse_service(s, doc.id, i++)) doc.services.push_back(std::move(*service));
  }
  return doc;
}

std::string DidDocument::to_json() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto string = [&](std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };

  w.StartObject();
  w.Key("@context");
  w.StartArray();
  string("https://www.w3.org/ns/did/v1");
  string("https://w3id.org/security/multikey/v1");
  string("https://w3id.org/security/suites/secp256k1-2019/v1");
  w.EndArray();
  w.Key("id");
  string(id);
  w.Key("alsoKnownAs");
  w.StartArray();
  for (const std::string& aka : also_known_as) string(aka);
  w.EndArray();
  w.Key("verificationMethod");
  w.StartArray();
  for (const VerificationMethod& m : verification_methods) {
    w.StartObject();
    w.Key("id");
    string(id + "#" + m.id);
    w.Key("type");
    string(kMultikey);
    w.Key("controller");
    string(id);
    w.Key("publicKeyMultibase");
    string(m.key.multikey());
    w.EndObject();
  }
  w.EndArray();
  w.Key("service");
  w.StartArray();
  for (const Service& s : services) {
    w.StartObject();
    w.Key("id");
    string("#" + s.id);
    w.Key("type");
    string(s.type);
    w.Key("serviceEndpoint");
    string(s.endpoint);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace atcr::identity

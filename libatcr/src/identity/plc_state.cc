#include <fmt/format.h>

#include <set>

#include "atcr/data/syntax.h"
#include "atcr/identity/plc.h"
#include "plc_internal.h"

namespace atcr::identity {

namespace {

[[noreturn]] void invalid(std::string_view what) { throw ParseError(fmt::format("PLC state: {}", what)); }

void check_name(std::string_view kind, std::string_view name) {
  if (name.empty() || name.find('#') != std::string_view::npos)
    invalid(fmt::format("{} name \"{}\" must be non-empty and without '#'", kind, name));
}

void check_did_key(std::string_view what, std::string_view did_key) {
  try {
    PublicKey::from_did_key(did_key);
  } catch (const ParseError& e) {
    invalid(fmt::format("{} is not a usable did:key: {}", what, e.what()));
  }
}

}  // namespace

bool is_plc_did(std::string_view did) noexcept {
  constexpr std::string_view kPrefix = "did:plc:";
  if (did.size() != kPrefix.size() + 24 || !did.starts_with(kPrefix)) return false;
  for (char c : did.substr(kPrefix.size()))
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  return true;
}

PlcState PlcState::atproto(std::vector<std::string> rotation_keys, const PublicKey& signing_key,
                           std::string_view handle, std::string_view pds_endpoint) {
  PlcState s;
  s.rotation_keys = std::move(rotation_keys);
  s.verification_methods.emplace("atproto", signing_key.did_key());
  s.also_known_as.push_back("at://" + syntax::normalize_handle(handle));
  s.services.emplace("atproto_pds", PlcService{"AtprotoPersonalDataServer", std::string(pds_endpoint)});
  return s;
}

void PlcState::validate() const {
  if (rotation_keys.empty() || rotation_keys.size() > kPlcMaxRotationKeys)
    invalid(fmt::format("{} rotation keys; 1 to {} are allowed", rotation_keys.size(), kPlcMaxRotationKeys));
  std::set<std::string_view> seen;
  for (const std::string& key : rotation_keys) {
    if (!seen.insert(key).second) invalid(fmt::format("rotation key {} is listed twice", key));
    check_did_key("rotation key " + key, key);
  }
  if (verification_methods.size() > kPlcMaxVerificationMethods)
    invalid(fmt::format("{} verification methods; at most {} are allowed", verification_methods.size(),
                        kPlcMaxVerificationMethods));
  for (const auto& [name, key] : verification_methods) {
    check_name("verification method", name);
    check_did_key("verification method " + name, key);
  }
  for (const auto& [name, service] : services) {
    check_name("service", name);
    if (service.type.empty() || service.endpoint.empty())
      invalid(fmt::format("service {} needs a type and an endpoint", name));
  }
}

DidDocument PlcState::to_document(std::string_view did) const {
  DidDocument doc;
  doc.id = std::string(did);
  doc.also_known_as = also_known_as;
  for (const auto& [name, key] : verification_methods) {
    try {
      doc.verification_methods.push_back({name, PublicKey::from_did_key(key)});
    } catch (const ParseError& e) {
      // Other methods may hold keys of curves atproto does not use.
      if (name == "atproto") throw ParseError(fmt::format("PLC state of {}: #atproto key: {}", did, e.what()));
    }
  }
  for (const auto& [name, service] : services) doc.services.push_back({name, service.type, service.endpoint});
  return doc;
}

namespace detail {

PlcState plc_state_from_value(const Value& map) {
  PlcState s;
  for (const Value& key : map.at("rotationKeys").as_array()) s.rotation_keys.push_back(key.as_string());
  for (const auto& [name, key] : map.at("verificationMethods").as_map())
    s.verification_methods.emplace(name, key.as_string());
  for (const Value& aka : map.at("alsoKnownAs").as_array()) s.also_known_as.push_back(aka.as_string());
  for (const auto& [name, service] : map.at("services").as_map())
    s.services.emplace(name, PlcService{service.at("type").as_string(), service.at("endpoint").as_string()});
  return s;
}

}  // namespace detail

}  // namespace atcr::identity

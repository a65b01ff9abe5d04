#include <fmt/format.h>

#include <algorithm>

#include "atcr/crypto/sha256.h"
#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/encoding/base32.h"
#include "atcr/encoding/base64.h"
#include "atcr/identity/plc.h"
#include "plc_internal.h"

namespace atcr::identity {

namespace {

constexpr std::string_view kTypeOperation = "plc_operation";
constexpr std::string_view kTypeTombstone = "plc_tombstone";
constexpr std::string_view kTypeCreate = "create";
// Far above any op the directory accepts (7500 bytes of CBOR), so a
// legitimate op always fits and a hostile one costs little.
constexpr std::size_t kMaxOperationJson = 64 * 1024;

[[noreturn]] void malformed(std::string_view what) { throw ParseError(fmt::format("PLC operation: {}", what)); }

Value state_value(const PlcState& state, const std::optional<Cid>& prev) {
  Value::Array rotation(state.rotation_keys.begin(), state.rotation_keys.end());
  Value::Map methods;
  for (const auto& [name, key] : state.verification_methods) methods.emplace(name, key);
  Value::Array aka(state.also_known_as.begin(), state.also_known_as.end());
  Value::Map services;
  for (const auto& [name, s] : state.services)
    services.emplace(name, Value::Map{{"type", s.type}, {"endpoint", s.endpoint}});
  return Value::Map{
      {"type", kTypeOperation},
      {"rotationKeys", std::move(rotation)},
      {"verificationMethods", std::move(methods)},
      {"alsoKnownAs", std::move(aka)},
      {"services", std::move(services)},
      // Explicitly null for a genesis op: absent would change the hash.
      {"prev", prev ? Value(prev->to_string()) : Value(nullptr)},
  };
}

// The legacy form stored bare handles and service hosts; the directory
// normalises them like this when presenting the state.
std::string with_at_prefix(std::string_view handle) {
  if (handle.starts_with("at://")) return std::string(handle);
  if (handle.starts_with("http://")) handle.remove_prefix(7);
  else if (handle.starts_with("https://")) handle.remove_prefix(8);
  return "at://" + std::string(handle);
}

std::string with_http_prefix(std::string_view service) {
  if (service.starts_with("http://") || service.starts_with("https://")) return std::string(service);
  return "https://" + std::string(service);
}

Value::Map without_sig(const Value& op) {
  Value::Map m = op.as_map();
  m.erase("sig");
  return m;
}

}  // namespace

PlcOperation PlcOperation::genesis(const PlcState& state) {
  state.validate();
  return PlcOperation(state_value(state, std::nullopt));
}

PlcOperation PlcOperation::update(const PlcState& state, const PlcOperation& previous) {
  state.validate();
  return PlcOperation(state_value(state, previous.cid()));
}

PlcOperation PlcOperation::tombstone(const PlcOperation& previous) {
  return PlcOperation(Value::Map{{"type", kTypeTombstone}, {"prev", previous.cid().to_string()}});
}

PlcOperation PlcOperation::from_json(std::string_view json) {
  if (json.size() > kMaxOperationJson)
    malformed(fmt::format("{} bytes of JSON, over the {}-byte limit", json.size(), kMaxOperationJson));
  return from_value(json::parse(json));
}

PlcOperation PlcOperation::from_value(Value value) {
  if (!value.is_map()) malformed("not an object");
  const Value* type = value.find("type");
  if (!type || !type->is_string()) malformed("no \"type\" string");
  const Value* prev = value.find("prev");
  if (!prev) malformed("no \"prev\" (a genesis op carries an explicit null)");
  if (const Value* sig = value.find("sig"); sig && (!sig->is_string() || sig->as_string().empty()))
    malformed("\"sig\" must be a non-empty string");
  try {
    if (!prev->is_null()) Cid::parse(prev->as_string());
    const std::string& t = type->as_string();
    if (t == kTypeOperation) {
      detail::plc_state_from_value(value);
    } else if (t == kTypeTombstone) {
      if (prev->is_null()) malformed("a tombstone needs a \"prev\"");
    } else if (t == kTypeCreate) {
      if (!prev->is_null()) malformed("a legacy create op must be a genesis op");
      for (const char* field : {"signingKey", "recoveryKey", "handle", "service"}) value.at(field).as_string();
    } else {
      malformed(fmt::format("unknown type \"{}\"", t.substr(0, 64)));
    }
  } catch (const ParseError& e) {
    std::string_view what = e.what();
    if (what.starts_with("PLC operation:")) throw;
    malformed(what);
  }
  return PlcOperation(std::move(value));
}

PlcOperation::Type PlcOperation::type() const {
  const std::string& t = value_.at("type").as_string();
  if (t == kTypeOperation) return Type::kOperation;
  if (t == kTypeTombstone) return Type::kTombstone;
  return Type::kLegacyCreate;
}

std::optional<Cid> PlcOperation::prev() const {
  const Value& prev = value_.at("prev");
  if (prev.is_null()) return std::nullopt;
  return Cid::parse(prev.as_string());
}

bool PlcOperation::is_signed() const { return value_.find("sig") != nullptr; }

std::string_view PlcOperation::sig() const {
  const Value* sig = value_.find("sig");
  return sig ? std::string_view(sig->as_string()) : std::string_view();
}

std::optional<PlcState> PlcOperation::state() const {
  switch (type()) {
    case Type::kOperation: return detail::plc_state_from_value(value_);
    case Type::kTombstone: return std::nullopt;
    case Type::kLegacyCreate: {
      const std::string& signing = value_.at("signingKey").as_string();
      PlcState s;
      s.rotation_keys = {value_.at("recoveryKey").as_string(), signing};
      s.verification_methods.emplace("atproto", signing);
      s.also_known_as.push_back(with_at_prefix(value_.at("handle").as_string()));
      s.services.emplace("atproto_pds", PlcService{"AtprotoPersonalDataServer",
                                                   with_http_prefix(value_.at("service").as_string())});
      return s;
    }
  }
  return std::nullopt;
}

std::vector<std::string> PlcOperation::rotation_keys() const {
  std::optional<PlcState> s = state();
  return s ? std::move(s->rotation_keys) : std::vector<std::string>{};
}

void PlcOperation::sign(const PrivateKey& key) {
  Value::Map m = without_sig(value_);
  if (is_genesis()) {
    std::vector<std::string> keys = rotation_keys();
    if (std::find(keys.begin(), keys.end(), key.public_key().did_key()) == keys.end())
      throw VerifyError("PLC operation: a genesis op must be signed by one of its own rotation keys");
  }
  Bytes signature = key.sign(cbor::encode(Value(m)));
  m["sig"] = base64::encode_url(signature);
  Value signed_op(std::move(m));
  std::size_t size = cbor::encode(signed_op).size();
  if (size > kPlcMaxOperationBytes)
    malformed(fmt::format("{} bytes signed, over the {}-byte limit", size, kPlcMaxOperationBytes));
  value_ = std::move(signed_op);
}

std::optional<std::size_t> PlcOperation::verify(std::span<const std::string> keys) const {
  if (!is_signed()) return std::nullopt;
  Bytes signature;
  try {
    // Strict: no padding, no stray characters, zero trailing bits, so a
    // signature has exactly one accepted spelling.
    signature = base64::decode_url(sig());
  } catch (const ParseError&) {
    return std::nullopt;
  }
  Bytes message = unsigned_bytes();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::optional<PublicKey> key;
    try {
      key = PublicKey::from_did_key(keys[i]);
    } catch (const ParseError&) {
      continue;  // a key that does not parse signed nothing
    }
    if (key->verify(message, signature)) return i;
  }
  return std::nullopt;
}

Bytes PlcOperation::unsigned_bytes() const { return cbor::encode(Value(without_sig(value_))); }

Bytes PlcOperation::signed_bytes() const {
  if (!is_signed()) throw VerifyError("PLC operation: not signed");
  return cbor::encode(value_);
}

Cid PlcOperation::cid() const { return Cid::compute(Codec::kDagCbor, signed_bytes()); }

std::string PlcOperation::did() const {
  if (!is_genesis()) throw VerifyError("PLC operation: only a genesis op defines a DID");
  Sha256Digest digest = sha256(signed_bytes());
  return "did:plc:" + base32::encode(digest).substr(0, 24);
}

std::string PlcOperation::to_json() const { return json::serialize(value_); }

}  // namespace atcr::identity

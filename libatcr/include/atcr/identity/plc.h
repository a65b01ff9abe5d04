// did:plc operations: building, signing, hashing and verifying them, and
// verifying a DID's whole audit log. (The directory's HTTP API is in
// plc_client.h.)
//
// An operation is kept as its data-model map, exactly as it was built or
// received, so that signatures and CIDs are computed over precisely the
// fields that were signed, whatever the type:
//   - "plc_operation": sets the DID's whole state (PlcState);
//   - "plc_tombstone": deactivates the DID;
//   - "create": the legacy genesis form, read and verified, never built.
//
// The signature is ECDSA (low-S, 64-byte r||s) over the DAG-CBOR encoding
// of the op without its `sig` field, in base64url without padding. The
// op's CID is CIDv1 dag-cbor sha256 of the signed encoding; a genesis op's
// DID is "did:plc:" + the first 24 characters of base32(sha256(signed)).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/data/cid.h"
#include "atcr/data/value.h"
#include "atcr/error.h"
#include "atcr/identity/did_document.h"

namespace atcr::identity {

// Limits the directory enforces on new operations.
inline constexpr std::size_t kPlcMaxOperationBytes = 7500;  // signed DAG-CBOR
inline constexpr std::size_t kPlcMaxRotationKeys = 5;
inline constexpr std::size_t kPlcMaxVerificationMethods = 10;

// True for "did:plc:" + 24 characters of [a-z2-7].
bool is_plc_did(std::string_view did) noexcept;

struct PlcService {
  std::string type;      // e.g. "AtprotoPersonalDataServer"
  std::string endpoint;  // e.g. "https://pds.example.com"

  friend bool operator==(const PlcService&, const PlcService&) = default;
};

// What a "plc_operation" sets: the DID's whole state. Also what the
// directory's /data endpoint returns.
struct PlcState {
  std::vector<std::string> rotation_keys;                   // did:key, highest authority first
  std::map<std::string, std::string> verification_methods;  // "atproto" -> did:key
  std::vector<std::string> also_known_as;                   // "at://alice.example.com"
  std::map<std::string, PlcService> services;               // "atproto_pds" -> {...}

  // The usual account: `signing_key` as #atproto, one handle, one PDS.
  static PlcState atproto(std::vector<std::string> rotation_keys, const PublicKey& signing_key,
                          std::string_view handle, std::string_view pds_endpoint);

  // The rules for new operations: 1-5 distinct rotation keys and at most 10
  // verification methods, all valid k256/p256 did:keys; method and service
  // names non-empty without '#'; service type and endpoint non-empty.
  // Throws ParseError naming the first violation. (Historical operations
  // may break these rules; verification does not apply them.)
  void validate() const;

  // The DID document this state renders as, the way the directory renders
  // it. A verification method whose did:key atcr cannot use is left out,
  // except #atproto, which must be usable (ParseError).
  DidDocument to_document(std::string_view did) const;

  friend bool operator==(const PlcState&, const PlcState&) = default;
};

class PlcOperation {
 public:
  enum class Type { kOperation, kTombstone, kLegacyCreate };

  // New unsigned operations; sign() them before use. Each checks
  // state.validate(). `previous` must be signed: its CID becomes `prev`.
  static PlcOperation genesis(const PlcState& state);
  static PlcOperation update(const PlcState& state, const PlcOperation& previous);
  static PlcOperation tombstone(const PlcOperation& previous);

  // A received operation of any type, signed or not. Throws ParseError for
  // a malformed one: unknown type, a field of the wrong shape, `prev`
  // missing (it must be present, null for a genesis op) or not a CID. JSON
  // over 64 KiB is refused.
  static PlcOperation from_json(std::string_view json);
  static PlcOperation from_value(Value value);

  Type type() const;
  bool is_genesis() const { return !prev(); }
  // The CID of the previous operation; nullopt for a genesis op.
  std::optional<Cid> prev() const;
  bool is_signed() const;
  // The base64url signature, "" when unsigned.
  std::string_view sig() const;

  // The state this operation sets: its own fields for a plc_operation, the
  // equivalent plc_operation state for a legacy create (rotation keys
  // [recoveryKey, signingKey]); nullopt for a tombstone.
  std::optional<PlcState> state() const;
  // The keys that may sign the next operation (empty after a tombstone).
  std::vector<std::string> rotation_keys() const;

  // Signs in place (replacing any signature). For a genesis op the key
  // must be one of its own rotation keys (VerifyError); for later ops it
  // must be one of the previous op's, which only the directory can check.
  // ParseError if the signed op would exceed kPlcMaxOperationBytes.
  void sign(const PrivateKey& key);

  // The index into `keys` (did:key strings) of the first key whose
  // signature this is, or nullopt: unsigned, a signature that is not
  // strict base64url or not a 64-byte low-S r||s, or no key matches. Keys
  // that do not parse are skipped.
  std::optional<std::size_t> verify(std::span<const std::string> keys) const;

  // DAG-CBOR without `sig`: the bytes that are signed.
  Bytes unsigned_bytes() const;
  // DAG-CBOR of the whole op. VerifyError if unsigned.
  Bytes signed_bytes() const;
  // CIDv1 (dag-cbor, sha256) of signed_bytes(): what the next op's `prev`
  // and the audit log's `cid` name. VerifyError if unsigned.
  Cid cid() const;
  // The DID a signed genesis op creates. VerifyError for other ops.
  std::string did() const;

  const Value& value() const { return value_; }
  std::string to_json() const;

  friend bool operator==(const PlcOperation&, const PlcOperation&) = default;

 private:
  explicit PlcOperation(Value&& value) : value_(std::move(value)) {}
  Value value_;
};

// One entry of the directory's audit log (GET /<did>/log/audit).
struct PlcLogEntry {
  std::string did;
  PlcOperation operation;
  std::string cid;  // as the directory states it; checked by verification
  bool nullified = false;
  std::string created_at;  // RFC 3339, e.g. "2024-01-01T00:00:00.000Z"
};

// Parses an audit log document (a JSON array of entries). ParseError.
std::vector<PlcLogEntry> parse_plc_audit_log(std::string_view json);

// Verifies a DID's audit log, entries in the directory's (creation) order,
// nullified ones included:
//   - every entry is for `did` and its `cid` is its operation's CID;
//   - the first is a genesis op (plc_operation or legacy create) that
//     derives `did` and is signed by one of its own rotation keys;
//   - every later op names an earlier, not nullified op as `prev`, is
//     signed by one of that op's rotation keys, and is newer than it;
//   - an op whose `prev` already has a successor is a recovery fork: it
//     must be signed by a key of higher authority (lower index) than the
//     successor it replaces, arrive within 72 hours of `prev`, and be newer
//     than the latest op; the replaced ops become nullified;
//   - each entry's `nullified` flag agrees with the above.
// Returns the DID's current operation. Throws VerifyError naming the first
// entry that fails (and ParseError for a malformed timestamp).
PlcOperation verify_plc_audit_log(std::string_view did, std::span<const PlcLogEntry> entries);

}  // namespace atcr::identity

// DID documents as atproto reads and writes them.
//
// Parsing keeps what atproto uses: the DID, `alsoKnownAs` handles, the
// verification methods whose keys atproto can use (Multikey, or the legacy
// EcdsaSecp256k1VerificationKey2019 / EcdsaSecp256r1VerificationKey2019
// forms real documents still carry, with compressed or uncompressed
// points), and services such as `#atproto_pds` or a hold's `#atcr_hold`.
// Relative ("#atproto") and absolute ("did:...#atproto") ids are both
// accepted; ids are stored as the bare fragment.
//
// What a document may carry beyond that is ignored: unknown fields, other
// key types (Ed25519, JsonWebKey2020...), methods controlled by someone
// else, services whose endpoint is not a string. The one exception is the
// `#atproto` method: a broken one is a ParseError rather than a silently
// missing key, so "bad key" and "no key" stay distinguishable.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/error.h"

namespace atcr::identity {

// Largest document parse() accepts, in bytes.
inline constexpr std::size_t kMaxDidDocumentBytes = 64 * 1024;

struct Service {
  std::string id;        // fragment without '#', e.g. "atproto_pds"
  std::string type;      // e.g. "AtprotoPersonalDataServer"
  std::string endpoint;  // serviceEndpoint URL

  friend bool operator==(const Service&, const Service&) = default;
};

struct VerificationMethod {
  std::string id;  // fragment without '#', e.g. "atproto"
  PublicKey key;

  friend bool operator==(const VerificationMethod&, const VerificationMethod&) = default;
};

struct DidDocument {
  std::string id;                          // the DID
  std::vector<std::string> also_known_as;  // raw entries, e.g. "at://alice.example.com"
  std::vector<VerificationMethod> verification_methods;
  std::vector<Service> services;

  // The first entry of alsoKnownAs that is "at://" + a syntactically valid
  // handle, lowercased. Not verified: see Resolver::resolve().
  std::optional<std::string> handle() const;
  // The key of the first method with this id fragment.
  std::optional<PublicKey> key(std::string_view id) const;
  // The `#atproto` signing key, if present.
  std::optional<PublicKey> signing_key() const { return key("atproto"); }
  // The first service with this id fragment (and type, when non-empty).
  std::optional<Service> service(std::string_view id, std::string_view type = {}) const;
  // The endpoint of the `#atproto_pds` AtprotoPersonalDataServer service,
  // if present and an http(s) URL.
  std::optional<std::string> pds_endpoint() const;

  // Parses a DID document (JSON). Throws ParseError naming the problem:
  // not JSON, over kMaxDidDocumentBytes, `id` missing or not a valid DID,
  // a known field of the wrong JSON type, a broken `#atproto` method.
  static DidDocument parse(std::string_view json);
  // Serialises as JSON with the atproto @context, Multikey methods with
  // absolute ids ("did:...#atproto") and services with relative ones
  // ("#atproto_pds"), the way the PLC directory renders documents.
  std::string to_json() const;

  friend bool operator==(const DidDocument&, const DidDocument&) = default;
};

}  // namespace atcr::identity

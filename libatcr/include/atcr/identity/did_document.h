// DID documents as atproto reads and writes them.
//
// Parsing keeps what atproto uses: the DID, `alsoKnownAs` handles, the
// `#atproto` signing key (Multikey, or the legacy
// EcdsaSecp256k1VerificationKey2019 / EcdsaSecp256r1VerificationKey2019
// forms real documents still carry), and services such as `#atproto_pds`
// or a hold's `#atcr_hold`. Relative ("#atproto") and absolute
// ("did:...#atproto") ids are both accepted.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/crypto/keys.h"

namespace atcr::identity {

struct Service {
  std::string id;        // fragment without '#', e.g. "atproto_pds"
  std::string type;      // e.g. "AtprotoPersonalDataServer"
  std::string endpoint;  // serviceEndpoint URL
};

struct VerificationMethod {
  std::string id;  // fragment without '#', e.g. "atproto"
  PublicKey key;
};

struct DidDocument {
  std::string id;                                  // the DID
  std::vector<std::string> also_known_as;          // raw entries, e.g. "at://alice.example.com"
  std::vector<VerificationMethod> verification_methods;
  std::vector<Service> services;

  // The first syntactically valid handle in alsoKnownAs (lowercased), if any.
  std::optional<std::string> handle() const;
  // The `#atproto` signing key, if present.
  std::optional<PublicKey> signing_key() const;
  // The service with this id fragment (and type, when non-empty).
  std::optional<Service> service(std::string_view id, std::string_view type = {}) const;
  // The `#atproto_pds` endpoint, if present.
  std::optional<std::string> pds_endpoint() const;

  // Parses a DID document (JSON). Throws ParseError naming the problem.
  // Documents over 64 KiB are rejected.
  static DidDocument parse(std::string_view json);
  // Serialises as JSON with the atproto @context, Multikey methods.
  std::string to_json() const;
};

}  // namespace atcr::identity

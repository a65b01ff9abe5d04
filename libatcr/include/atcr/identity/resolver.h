// Identity resolution: handle -> DID -> DID document -> PDS and keys.
//
// Resolver is the interface identity-dependent code (service auth, the
// appview) takes; DirectoryResolver is the real one: did:plc from a PLC
// directory, did:web over HTTPS, handles by DNS and HTTPS, all cached.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/error.h"
#include "atcr/identity/did_document.h"

namespace atcr::identity {

// The identity does not exist or cannot be resolved (after the network
// answered): unknown DID, tombstoned DID, handle without a DID, handle
// whose DID document does not list it.
class ResolutionError : public Error {
 public:
  using Error::Error;
};

// A resolved, bidirectionally verified identity.
struct Identity {
  std::string did;
  std::optional<std::string> handle;  // absent if the document's handle does not verify
  DidDocument document;
};

// What identity-dependent code (service auth, the appview) needs. Tests can
// substitute their own.
class Resolver {
 public:
  virtual ~Resolver() = default;
  // The DID document of `did`. `fresh` bypasses caches (e.g. to pick up a
  // rotated key after a signature failed). Throws ResolutionError.
  virtual DidDocument resolve_did(std::string_view did, bool fresh = false) = 0;
  // The DID a handle claims (not yet checked against the document).
  virtual std::string resolve_handle(std::string_view handle, bool fresh = false) = 0;
  // Handle or DID -> verified Identity.
  virtual Identity resolve(std::string_view handle_or_did, bool fresh = false) = 0;
};

}  // namespace atcr::identity

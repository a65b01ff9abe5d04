// Internal: keeps an EmbeddedPds's did:plc in line with its configuration.
#pragma once

#include <filesystem>
#include <string>

#include "atcr/crypto/keys.h"
#include "atcr/identity/did_document.h"
#include "atcr/identity/plc.h"
#include "atcr/pds/embedded_pds.h"
#include "pds/pds_state.h"

namespace atcr::pds {

class PlcIdentity {
 public:
  // Loads or generates the rotation key at `rotation_key_path`.
  PlcIdentity(const PdsConfig& config, const std::filesystem::path& rotation_key_path);

  // Returns the DID, after making the directory agree with `wanted` (our
  // signing key, handle and services):
  //   - no DID yet (neither in `state` nor config.plc_did): build and sign a
  //     genesis op, record it in `state` and save `state_path` *before*
  //     submitting, so a crash after the submit still knows the DID, and a
  //     crash before it re-submits the same op on the next boot;
  //   - otherwise read the DID's state from the directory (re-submitting our
  //     recorded genesis op if the directory does not know the DID) and, if
  //     it differs from `wanted`, submit an update op signed by the rotation
  //     key. Other methods, services and rotation keys are kept.
  // Throws ConfigError if our rotation key cannot update the DID.
  std::string ensure(PdsState& state, const std::filesystem::path& state_path,
                     const identity::DidDocument& wanted);

  // The state `have` should move to so it matches `wanted`.
  static identity::PlcState desired(const identity::PlcState& have, const identity::DidDocument& wanted);

 private:
  const PdsConfig& config_;
  PrivateKey rotation_key_;
};

}  // namespace atcr::pds

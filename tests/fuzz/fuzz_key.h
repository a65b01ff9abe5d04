// The fixed signing key the firehose seeds are signed with (make_corpus)
// and the fuzz target verifies against, so mutated seeds get past the
// signature into the MST checks. A test key; never a real one.
#pragma once

#include "atcr/crypto/keys.h"

namespace atcr::fuzz {

inline const PrivateKey& firehose_key() {
  static const PrivateKey key = [] {
    Bytes secret(32, 0x5a);
    return PrivateKey::from_bytes(KeyType::kSecp256k1, secret);
  }();
  return key;
}

inline constexpr const char* kFirehoseDid = "did:plc:fuzzfuzzfuzzfuzzfuzzfuzz";

}  // namespace atcr::fuzz

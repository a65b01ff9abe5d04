// HMAC-SHA256 (OpenSSL), for AWS SigV4 request signing.
#pragma once

#include "atcr/bytes.h"
#include "atcr/crypto/sha256.h"

namespace atcr {

Sha256Digest hmac_sha256(BytesView key, BytesView data);

}  // namespace atcr

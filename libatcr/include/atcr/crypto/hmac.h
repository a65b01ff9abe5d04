// HMAC-SHA256 (OpenSSL), for AWS SigV4 request signing, and comparing
// secrets without leaking where they differ.
#pragma once

#include <string_view>

#include "atcr/bytes.h"
#include "atcr/crypto/sha256.h"

namespace atcr {

Sha256Digest hmac_sha256(BytesView key, BytesView data);

// a == b without stopping at the first difference, so the time taken says
// nothing about how much of a forged signature or token was right. (The
// length may show: compare digests when it is secret too.)
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace atcr

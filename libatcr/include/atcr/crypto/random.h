// Cryptographically secure random bytes (OpenSSL's CSPRNG).
#pragma once

#include <cstdint>

#include "atcr/bytes.h"

namespace atcr {

Bytes random_bytes(std::size_t n);
std::uint64_t random_u64();

}  // namespace atcr

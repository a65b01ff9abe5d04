#include "atcr/crypto/random.h"

#include <openssl/rand.h>

#include <cstring>

#include "atcr/error.h"

namespace atcr {

Bytes random_bytes(std::size_t n) {
  Bytes out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1)
    throw Error("random: OpenSSL RAND_bytes failed");
  return out;
}

std::uint64_t random_u64() {
  auto b = random_bytes(sizeof(std::uint64_t));
  std::uint64_t v;
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}

}  // namespace atcr

#include "atcr/crypto/hmac.h"

#include <openssl/evp.h>

#include "atcr/error.h"

namespace atcr {

Sha256Digest hmac_sha256(BytesView key, BytesView data) {
  Sha256Digest out;
  std::size_t len = 0;
  static const std::uint8_t kEmpty = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.empty() ? &kEmpty : key.data(), key.size(),
                 data.data(), data.size(), out.data(), out.size(), &len) ||
      len != out.size())
    throw Error("hmac-sha256: OpenSSL EVP_Q_mac failed");
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace atcr

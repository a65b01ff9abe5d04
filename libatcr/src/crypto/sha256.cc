#include "atcr/crypto/sha256.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "atcr/error.h"

namespace atcr {

Sha256Digest sha256(BytesView data) {
  Sha256Digest out;
  SHA256(data.data(), data.size(), out.data());
  return out;
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
  void reset() {
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
      throw Error("sha256: cannot initialise OpenSSL digest");
  }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) { impl_->reset(); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(BytesView data) {
  if (EVP_DigestUpdate(impl_->ctx, data.data(), data.size()) != 1)
    throw Error("sha256: digest update failed");
}

Sha256Digest Sha256::finish() {
  Sha256Digest out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, out.data(), &len) != 1 || len != out.size())
    throw Error("sha256: digest finalisation failed");
  impl_->reset();
  return out;
}

}  // namespace atcr

// SHA-256 for the MST's hot paths (key heights, node CIDs).
//
// A stopgap: atcr::sha256() uses OpenSSL's one-shot SHA256(), which in
// OpenSSL 3 looks the algorithm up again on every call (~1.5 us for a short
// key, against ~0.3 us with the lookup done once). The MST hashes every key
// and every node, so that lookup alone was half the cost of build(). Once
// crypto/sha256 caches its EVP_MD this file can go and callers can use
// atcr::sha256 / Cid::compute directly again.
#pragma once

#include <openssl/evp.h>

#include "atcr/bytes.h"
#include "atcr/crypto/sha256.h"
#include "atcr/data/cid.h"
#include "atcr/error.h"

namespace atcr::mst::internal {

class FastSha256 {
 public:
  FastSha256() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {
    if (!md_ || !ctx_) throw Error("mst: cannot set up SHA-256");
  }
  ~FastSha256() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  FastSha256(const FastSha256&) = delete;
  FastSha256& operator=(const FastSha256&) = delete;

  Sha256Digest digest(BytesView data) {
    Sha256Digest out;
    unsigned int len = 0;
    if (EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 || EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1 || len != out.size()) {
      throw Error("mst: SHA-256 failed");
    }
    return out;
  }

 private:
  EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

// One hasher per thread: the context is reused, never shared.
inline Sha256Digest sha256(BytesView data) {
  thread_local FastSha256 hasher;
  return hasher.digest(data);
}

inline Cid dag_cbor_cid(BytesView block) { return Cid::from_sha256(Codec::kDagCbor, sha256(block)); }

}  // namespace atcr::mst::internal

#include "atcr/crypto/sha256.h"

#include <openssl/evp.h>

#include "atcr/error.h"

namespace atcr {

namespace {

// OpenSSL 3 looks an algorithm up by name on every EVP_sha256()/SHA256()
// call (about 1.5 us for a short input, several times the hashing itself).
// Fetch it once per process, and keep one reusable context per thread for
// one-shot hashing: MST keys and nodes are hashed by the hundred thousand.
const EVP_MD* sha256_md() {
  static EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (!m) throw Error("sha256: OpenSSL has no SHA256 implementation");
    return m;
  }();
  return md;
}

class Context {
 public:
  Context() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_) throw Error("sha256: out of memory");
  }
  ~Context() { EVP_MD_CTX_free(ctx_); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  EVP_MD_CTX* get() const { return ctx_; }

  void init() {
    if (EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr) != 1) throw Error("sha256: cannot initialise digest");
  }
  void update(BytesView data) {
    if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) throw Error("sha256: digest update failed");
  }
  Sha256Digest finish() {
    Sha256Digest out;
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1 || len != out.size())
      throw Error("sha256: digest finalisation failed");
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace

Sha256Digest sha256(BytesView data) {
  thread_local Context ctx;  // reused, never shared between threads
  ctx.init();
  ctx.update(data);
  return ctx.finish();
}

struct Sha256::Impl {
  Context ctx;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) { impl_->ctx.init(); }
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(BytesView data) { impl_->ctx.update(data); }

Sha256Digest Sha256::finish() {
  Sha256Digest out = impl_->ctx.finish();
  impl_->ctx.init();
  return out;
}

}  // namespace atcr

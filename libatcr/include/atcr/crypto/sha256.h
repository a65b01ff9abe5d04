// SHA-256, one-shot and incremental (OpenSSL underneath).
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "atcr/bytes.h"

namespace atcr {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest sha256(BytesView data);

// Incremental hashing for data that arrives in pieces (blob uploads).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(BytesView data);
  // Returns the digest; the hasher is reset and may be reused.
  Sha256Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr

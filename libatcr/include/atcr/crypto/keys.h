// Signing keys for atproto: ECDSA over secp256k1 ("k256", JWT alg ES256K)
// and NIST P-256 ("p256", JWT alg ES256).
//
// atproto has exactly one signature format on both curves, and this API
// produces and accepts only that one:
//   - ECDSA with SHA-256 over the message bytes, hashed once, here. Callers
//     pass the message itself, never a digest.
//   - 64 bytes, r || s, each 32-byte big-endian ("compact", IEEE P1363).
//     DER is never accepted.
//   - low-S: sign() always emits s <= n/2 and verify() rejects s > n/2, so a
//     signature cannot be rewritten into a second valid one.
//
// Public keys travel as did:key ("did:key:zQ3s..." / "did:key:zDna...") or
// as the bare Multikey form ("zQ3s...") used in DID documents: base58btc of
// a multicodec varint (secp256k1-pub e7 01, p256-pub 80 24) followed by the
// 33-byte compressed point.
//
// Both classes are immutable values. Copies share the underlying key, and a
// moved-from key stays valid (moves copy), so there is no empty state. All
// const methods may be called from any number of threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "atcr/bytes.h"

namespace atcr {

enum class KeyType { kSecp256k1, kP256 };

// "ES256K" or "ES256".
std::string_view jwt_alg(KeyType type);
// The inverse of jwt_alg(); throws ParseError for any other alg (including
// "none", HS256, RS256...), so a JWT header can be checked in one call.
KeyType key_type_from_jwt_alg(std::string_view alg);

class PublicKey {
 public:
  // Declaring the copies suppresses the implicit moves, so a moved-from key
  // is a copy rather than an empty shell.
  PublicKey(const PublicKey&) = default;
  PublicKey& operator=(const PublicKey&) = default;

  // "did:key:z..." with a secp256k1-pub or p256-pub multicodec prefix and a
  // compressed point. Throws ParseError for anything else: other codecs,
  // uncompressed or invalid points, bad base58, trailing bytes.
  static PublicKey from_did_key(std::string_view did);
  // The Multikey "publicKeyMultibase" form: the did:key without "did:key:".
  static PublicKey from_multikey(std::string_view multibase);
  // A raw SEC1 point: 33-byte compressed (02/03 || X) or 65-byte
  // uncompressed (04 || X || Y, found in legacy DID documents). Throws
  // ParseError if the point is malformed or not on the curve.
  static PublicKey from_sec1(KeyType type, BytesView point);

  KeyType type() const;
  std::string did_key() const;   // "did:key:z..."
  std::string multikey() const;  // "z..."
  Bytes compressed() const;      // 33 bytes
  Bytes uncompressed() const;    // 65 bytes: 04 || X || Y (e.g. for a JWK)

  // True iff `signature` is a valid 64-byte low-S r||s signature of
  // sha256(message) by this key. Never throws for a bad signature; use this
  // for repo commits, PLC operations and anything else that is stored.
  bool verify(BytesView message, BytesView signature) const;

  // Like verify() but also accepts high-S signatures. The TypeScript
  // reference verifies inter-service JWTs this way (allowMalleableSig), so a
  // receiver of service-auth tokens may need it for interop. A JWT is
  // short-lived and not content-addressed, so malleability does no harm
  // there. The 64-byte r||s format is still required: DER is never accepted.
  bool verify_lenient(BytesView message, BytesView signature) const;

  // Same curve and same point.
  friend bool operator==(const PublicKey& a, const PublicKey& b);

  struct Impl;  // opaque; defined in keys.cc

 private:
  explicit PublicKey(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
  friend class PrivateKey;
};

class PrivateKey {
 public:
  PrivateKey(const PrivateKey&) = default;
  PrivateKey& operator=(const PrivateKey&) = default;

  // A fresh key from OpenSSL's CSPRNG.
  static PrivateKey generate(KeyType type);
  // A 32-byte big-endian secret scalar. Throws ParseError unless it has 32
  // bytes and lies in [1, n-1] for the curve.
  static PrivateKey from_bytes(KeyType type, BytesView secret);

  // Key files hold one line, "<type> <64 lowercase hex digits>\n", with
  // type "secp256k1" or "p256", e.g.
  //   secp256k1 9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c
  //
  // save() creates the file with mode 0600, atomically (a temporary file in
  // the same directory, fsync, then link into place, then fsync of the
  // directory), so a crash never leaves a truncated key behind. It refuses
  // to replace an existing file (StorageError): losing a signing key is not
  // something to do by accident. Delete the old file first to replace it.
  void save(const std::string& path) const;

  // Reads a file written by save(). Throws NotFoundError if it does not
  // exist, StorageError if it cannot be read or if its permissions give
  // group or others any access (like OpenSSH, we refuse to use a key that
  // may have leaked; fix with chmod 600), and ParseError if the content is
  // not exactly the format above. Symlinks are followed (mounted secrets).
  static PrivateKey load(const std::string& path);

  // load(path) if the file exists, otherwise generate a key of `type` and
  // save it there. If two processes race, both end up with the key that
  // reached the disk first. An existing file of another type is returned
  // as is: the file, not the argument, decides.
  static PrivateKey load_or_generate(const std::string& path, KeyType type);

  KeyType type() const;
  PublicKey public_key() const;
  // The 32-byte secret scalar. Handle with care.
  Bytes secret() const;

  // 64-byte r||s low-S ECDSA signature of sha256(message). Deterministic
  // (RFC 6979) on secp256k1, randomised on P-256.
  Bytes sign(BytesView message) const;

  struct Impl;  // opaque; defined in keys.cc

 private:
  explicit PrivateKey(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace atcr

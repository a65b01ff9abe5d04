#include "atcr/crypto/keys.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <openssl/param_build.h>
#include <secp256k1.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/base58.h"
#include "atcr/encoding/hex.h"
#include "atcr/encoding/varint.h"
#include "atcr/error.h"
#include "util/private_file.h"

namespace atcr {

namespace {

constexpr std::size_t kSecretSize = 32;
constexpr std::size_t kCompressedSize = 33;
constexpr std::size_t kUncompressedSize = 65;
constexpr std::size_t kSignatureSize = 64;

// Multicodec codes of the two public key types (written as varints).
constexpr std::uint64_t kCodecSecp256k1Pub = 0xe7;
constexpr std::uint64_t kCodecP256Pub = 0x1200;

// P-256 group order n and floor(n/2), big-endian. libsecp256k1 enforces
// low-S by itself; OpenSSL does not, so P-256 needs these.
constexpr std::array<std::uint8_t, 32> kP256Order = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
constexpr std::array<std::uint8_t, 32> kP256HalfOrder = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

// Key file type names; also used in error messages.
std::string_view file_name_of(KeyType type) {
  return type == KeyType::kSecp256k1 ? "secp256k1" : "p256";
}

// ---- OpenSSL plumbing ------------------------------------------------------

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using SecretBnPtr = std::unique_ptr<BIGNUM, Deleter<BN_clear_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX_free>>;
using PointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamsPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;

// OpenSSL keeps a per-thread error queue. Every failure path drops it, so a
// rejected signature cannot leave stale errors for unrelated code to find.
[[noreturn]] void openssl_failure(const std::string& what) {
  ERR_clear_error();
  throw Error("keys: OpenSSL failure: " + what);
}

// The group is read-only once built, so one instance serves all threads.
const EC_GROUP* p256_group() {
  static const EC_GROUP* group = [] {
    EC_GROUP* g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    if (!g) openssl_failure("cannot build the P-256 group");
    return g;
  }();
  return group;
}

// A P-256 EVP_PKEY from an uncompressed point and, optionally, the secret.
// Built once per key: the result is never modified afterwards, which is what
// makes sharing it between threads safe.
PkeyPtr make_p256_pkey(const std::array<std::uint8_t, kUncompressedSize>& point,
                       const std::uint8_t* secret) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld) openssl_failure("OSSL_PARAM_BLD_new");
  SecretBnPtr priv;
  if (!OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size()))
    openssl_failure("building P-256 key parameters");
  if (secret) {
    priv.reset(BN_secure_new());
    if (!priv || !BN_bin2bn(secret, kSecretSize, priv.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()))
      openssl_failure("building P-256 private key parameters");
  }
  ParamsPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, secret ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params.get()) != 1)
    openssl_failure("importing a P-256 key");
  return PkeyPtr(raw);
}

// ---- libsecp256k1 ----------------------------------------------------------

// One context for the whole process. libsecp256k1 functions take it as
// const, so concurrent use is safe; only randomisation mutates it, and that
// happens here, once, before anyone else can see it. It is never destroyed:
// threads may still be signing while static destructors run.
const secp256k1_context* k256_ctx() {
  static const secp256k1_context* ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!c) throw Error("keys: cannot create a secp256k1 context");
    // Blinding against side channels while signing.
    Bytes seed = random_bytes(32);
    int ok = secp256k1_context_randomize(c, seed.data());
    OPENSSL_cleanse(seed.data(), seed.size());
    if (!ok) throw Error("keys: cannot randomise the secp256k1 context");
    return c;
  }();
  return ctx;
}

bool secret_in_range(KeyType type, const std::uint8_t* secret) {
  if (type == KeyType::kSecp256k1) return secp256k1_ec_seckey_verify(k256_ctx(), secret) == 1;
  // 1 <= d < n. Equal-length big-endian strings compare like the numbers.
  bool zero = std::all_of(secret, secret + kSecretSize, [](std::uint8_t b) { return b == 0; });
  return !zero && std::memcmp(secret, kP256Order.data(), kSecretSize) < 0;
}

}  // namespace

// ---- KeyType -----------------------------------------------------------------

std::string_view jwt_alg(KeyType type) {
  return type == KeyType::kSecp256k1 ? "ES256K" : "ES256";
}

KeyType key_type_from_jwt_alg(std::string_view alg) {
  if (alg == "ES256K") return KeyType::kSecp256k1;
  if (alg == "ES256") return KeyType::kP256;
  throw ParseError("keys: unsupported JWT alg '" + std::string(alg) + "'");
}

// ---- PublicKey -----------------------------------------------------------------

struct PublicKey::Impl {
  KeyType type{};
  std::array<std::uint8_t, kCompressedSize> compressed{};
  std::array<std::uint8_t, kUncompressedSize> uncompressed{};
  secp256k1_pubkey k256{};  // parsed form, when type == kSecp256k1
  PkeyPtr p256;             // when type == kP256
};

namespace {

std::shared_ptr<const PublicKey::Impl> make_public_impl(KeyType type, BytesView point) {
  // Both libraries would also take the "hybrid" 06/07 encoding; nothing in
  // atproto uses it, so only the two standard forms get through.
  bool compressed_form =
      point.size() == kCompressedSize && (point[0] == 0x02 || point[0] == 0x03);
  bool uncompressed_form = point.size() == kUncompressedSize && point[0] == 0x04;
  if (!compressed_form && !uncompressed_form)
    throw ParseError("keys: a " + std::string(file_name_of(type)) +
                     " public key must be a 33-byte compressed or 65-byte uncompressed SEC1 "
                     "point, got " +
                     std::to_string(point.size()) + " bytes");

  auto impl = std::make_shared<PublicKey::Impl>();
  impl->type = type;
  if (type == KeyType::kSecp256k1) {
    const secp256k1_context* ctx = k256_ctx();
    if (!secp256k1_ec_pubkey_parse(ctx, &impl->k256, point.data(), point.size()))
      throw ParseError("keys: invalid secp256k1 public key point");
    std::size_t len = impl->compressed.size();
    secp256k1_ec_pubkey_serialize(ctx, impl->compressed.data(), &len, &impl->k256,
                                  SECP256K1_EC_COMPRESSED);
    len = impl->uncompressed.size();
    secp256k1_ec_pubkey_serialize(ctx, impl->uncompressed.data(), &len, &impl->k256,
                                  SECP256K1_EC_UNCOMPRESSED);
  } else {
    const EC_GROUP* group = p256_group();
    PointPtr pt(EC_POINT_new(group));
    BnCtxPtr bn_ctx(BN_CTX_new());
    if (!pt || !bn_ctx) openssl_failure("allocating a P-256 point");
    // oct2point checks coordinates < p and that the point is on the curve.
    if (EC_POINT_oct2point(group, pt.get(), point.data(), point.size(), bn_ctx.get()) != 1) {
      ERR_clear_error();
      throw ParseError("keys: invalid P-256 public key point");
    }
    if (EC_POINT_point2oct(group, pt.get(), POINT_CONVERSION_COMPRESSED, impl->compressed.data(),
                           impl->compressed.size(), bn_ctx.get()) != kCompressedSize ||
        EC_POINT_point2oct(group, pt.get(), POINT_CONVERSION_UNCOMPRESSED,
                           impl->uncompressed.data(), impl->uncompressed.size(),
                           bn_ctx.get()) != kUncompressedSize)
      openssl_failure("encoding a P-256 point");
    impl->p256 = make_p256_pkey(impl->uncompressed, nullptr);
  }
  return impl;
}

bool k256_verify(const PublicKey::Impl& key, BytesView message, BytesView signature, bool strict) {
  const secp256k1_context* ctx = k256_ctx();
  secp256k1_ecdsa_signature sig;
  // Fails if r or s >= n.
  if (!secp256k1_ecdsa_signature_parse_compact(ctx, &sig, signature.data())) return false;
  // secp256k1_ecdsa_verify itself rejects high-S; lenient mode lowers S first.
  if (!strict) secp256k1_ecdsa_signature_normalize(ctx, &sig, &sig);
  Sha256Digest digest = sha256(message);
  return secp256k1_ecdsa_verify(ctx, &sig, digest.data(), &key.k256) == 1;
}

bool p256_verify(const PublicKey::Impl& key, BytesView message, BytesView signature, bool strict) {
  if (strict && std::memcmp(signature.data() + 32, kP256HalfOrder.data(), 32) > 0) return false;
  // OpenSSL only verifies DER, so re-encode r||s. The DER is ours, hence
  // canonical; OpenSSL rejects r or s equal to 0 or >= n.
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BnPtr r(BN_bin2bn(signature.data(), 32, nullptr));
  BnPtr s(BN_bin2bn(signature.data() + 32, 32, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1)
    openssl_failure("building an ECDSA signature");
  r.release();  // now owned by sig
  s.release();
  std::array<unsigned char, 80> der;  // at most 72 bytes for 256-bit r and s
  if (i2d_ECDSA_SIG(sig.get(), nullptr) > static_cast<int>(der.size()))
    openssl_failure("DER-encoding an ECDSA signature");
  unsigned char* end = der.data();
  int der_len = i2d_ECDSA_SIG(sig.get(), &end);
  if (der_len <= 0) openssl_failure("DER-encoding an ECDSA signature");

  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.p256.get()) != 1)
    openssl_failure("initialising ECDSA verification");
  int rc = EVP_DigestVerify(md.get(), der.data(), static_cast<std::size_t>(der_len),
                            message.data(), message.size());
  if (rc != 1) ERR_clear_error();
  return rc == 1;
}

std::string encode_multikey(const PublicKey::Impl& key) {
  Bytes raw = varint::encode(key.type == KeyType::kSecp256k1 ? kCodecSecp256k1Pub : kCodecP256Pub);
  raw.insert(raw.end(), key.compressed.begin(), key.compressed.end());
  return "z" + base58::encode(raw);
}

}  // namespace

PublicKey::PublicKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

PublicKey PublicKey::from_did_key(std::string_view did) {
  constexpr std::string_view kPrefix = "did:key:";
  if (did.substr(0, kPrefix.size()) != kPrefix)
    throw ParseError("keys: did:key must start with 'did:key:'");
  return from_multikey(did.substr(kPrefix.size()));
}

PublicKey PublicKey::from_multikey(std::string_view multibase) {
  if (multibase.empty() || multibase[0] != 'z')
    throw ParseError("keys: multikey must be base58btc, starting with 'z'");
  // A key is 35 bytes, 48 characters; the cap keeps hostile input cheap.
  Bytes raw = base58::decode(multibase.substr(1), 64);
  varint::Decoded codec = varint::decode(raw);
  KeyType type;
  if (codec.value == kCodecSecp256k1Pub) {
    type = KeyType::kSecp256k1;
  } else if (codec.value == kCodecP256Pub) {
    type = KeyType::kP256;
  } else {
    char code[24];
    std::snprintf(code, sizeof code, "0x%llx", static_cast<unsigned long long>(codec.value));
    throw ParseError(std::string("keys: unsupported multicodec ") + code +
                     " in multikey (want secp256k1-pub 0xe7 or p256-pub 0x1200)");
  }
  BytesView point = BytesView(raw).subspan(codec.length);
  // did:key always carries the compressed form.
  if (point.size() != kCompressedSize)
    throw ParseError("keys: multikey point must be 33 bytes (compressed), got " +
                     std::to_string(point.size()));
  return PublicKey(make_public_impl(type, point));
}

PublicKey PublicKey::from_sec1(KeyType type, BytesView point) {
  return PublicKey(make_public_impl(type, point));
}

KeyType PublicKey::type() const { return impl_->type; }

std::string PublicKey::did_key() const { return "did:key:" + multikey(); }

std::string PublicKey::multikey() const { return encode_multikey(*impl_); }

Bytes PublicKey::compressed() const {
  return Bytes(impl_->compressed.begin(), impl_->compressed.end());
}

Bytes PublicKey::uncompressed() const {
  return Bytes(impl_->uncompressed.begin(), impl_->uncompressed.end());
}

bool PublicKey::verify(BytesView message, BytesView signature) const {
  if (signature.size() != kSignatureSize) return false;
  return impl_->type == KeyType::kSecp256k1 ? k256_verify(*impl_, message, signature, true)
                                            : p256_verify(*impl_, message, signature, true);
}

bool PublicKey::verify_lenient(BytesView message, BytesView signature) const {
  if (signature.size() != kSignatureSize) return false;
  return impl_->type == KeyType::kSecp256k1 ? k256_verify(*impl_, message, signature, false)
                                            : p256_verify(*impl_, message, signature, false);
}

bool operator==(const PublicKey& a, const PublicKey& b) {
  return a.impl_->type == b.impl_->type && a.impl_->compressed == b.impl_->compressed;
}

// ---- PrivateKey ----------------------------------------------------------------

struct PrivateKey::Impl {
  Impl(KeyType t, const std::uint8_t* s, PublicKey public_key) : type(t), pub(std::move(public_key)) {
    std::memcpy(secret.data(), s, kSecretSize);
  }
  ~Impl() { OPENSSL_cleanse(secret.data(), secret.size()); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  KeyType type;
  std::array<std::uint8_t, kSecretSize> secret{};
  PublicKey pub;
  PkeyPtr p256;  // key pair, when type == kP256
};

PrivateKey::PrivateKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

PrivateKey PrivateKey::from_bytes(KeyType type, BytesView secret) {
  if (secret.size() != kSecretSize)
    throw ParseError("keys: a private key must be 32 bytes, got " + std::to_string(secret.size()));
  if (!secret_in_range(type, secret.data()))
    throw ParseError("keys: private key is out of range for " + std::string(file_name_of(type)));

  if (type == KeyType::kSecp256k1) {
    const secp256k1_context* ctx = k256_ctx();
    secp256k1_pubkey pub;
    if (!secp256k1_ec_pubkey_create(ctx, &pub, secret.data()))
      throw Error("keys: cannot derive the secp256k1 public key");
    std::array<std::uint8_t, kCompressedSize> point;
    std::size_t len = point.size();
    secp256k1_ec_pubkey_serialize(ctx, point.data(), &len, &pub, SECP256K1_EC_COMPRESSED);
    return PrivateKey(
        std::make_shared<Impl>(type, secret.data(), PublicKey(make_public_impl(type, point))));
  }

  const EC_GROUP* group = p256_group();
  SecretBnPtr d(BN_secure_new());
  PointPtr q(EC_POINT_new(group));
  BnCtxPtr bn_ctx(BN_CTX_secure_new());
  std::array<std::uint8_t, kUncompressedSize> point;
  if (!d || !q || !bn_ctx || !BN_bin2bn(secret.data(), kSecretSize, d.get()) ||
      EC_POINT_mul(group, q.get(), d.get(), nullptr, nullptr, bn_ctx.get()) != 1 ||
      EC_POINT_point2oct(group, q.get(), POINT_CONVERSION_UNCOMPRESSED, point.data(), point.size(),
                         bn_ctx.get()) != kUncompressedSize)
    openssl_failure("deriving the P-256 public key");
  auto impl = std::make_shared<Impl>(type, secret.data(), PublicKey(make_public_impl(type, point)));
  impl->p256 = make_p256_pkey(point, impl->secret.data());
  return PrivateKey(std::move(impl));
}

PrivateKey PrivateKey::generate(KeyType type) {
  // Rejection sampling keeps the scalar uniform. A retry is needed with
  // probability below 2^-32 (P-256) or 2^-127 (secp256k1).
  for (;;) {
    Bytes candidate = random_bytes(kSecretSize);
    bool ok = secret_in_range(type, candidate.data());
    std::optional<PrivateKey> key;
    if (ok) key.emplace(from_bytes(type, candidate));
    OPENSSL_cleanse(candidate.data(), candidate.size());
    if (key) return *key;
  }
}

KeyType PrivateKey::type() const { return impl_->type; }

PublicKey PrivateKey::public_key() const { return impl_->pub; }

Bytes PrivateKey::secret() const { return Bytes(impl_->secret.begin(), impl_->secret.end()); }

Bytes PrivateKey::sign(BytesView message) const {
  Bytes out(kSignatureSize);
  if (impl_->type == KeyType::kSecp256k1) {
    const secp256k1_context* ctx = k256_ctx();
    Sha256Digest digest = sha256(message);
    secp256k1_ecdsa_signature sig;
    // Default nonce function: RFC 6979. The output is always low-S.
    if (!secp256k1_ecdsa_sign(ctx, &sig, digest.data(), impl_->secret.data(), nullptr, nullptr))
      throw Error("keys: secp256k1 signing failed");
    secp256k1_ecdsa_signature_serialize_compact(ctx, out.data(), &sig);
    return out;
  }

  MdCtxPtr md(EVP_MD_CTX_new());
  std::array<unsigned char, 128> der;
  std::size_t der_len = der.size();
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, impl_->p256.get()) != 1 ||
      EVP_DigestSign(md.get(), der.data(), &der_len, message.data(), message.size()) != 1)
    openssl_failure("P-256 signing");
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) openssl_failure("decoding OpenSSL's ECDSA signature");
  const BIGNUM* r = ECDSA_SIG_get0_r(sig.get());
  const BIGNUM* s = ECDSA_SIG_get0_s(sig.get());
  // OpenSSL emits either S; atproto accepts only the low one. n - s is an
  // equally valid signature.
  BnPtr half(BN_bin2bn(kP256HalfOrder.data(), 32, nullptr));
  BnPtr low_s(BN_new());
  if (!half || !low_s) openssl_failure("allocating bignums");
  if (BN_cmp(s, half.get()) > 0) {
    BnPtr order(BN_bin2bn(kP256Order.data(), 32, nullptr));
    if (!order || BN_sub(low_s.get(), order.get(), s) != 1) openssl_failure("normalising S");
  } else if (!BN_copy(low_s.get(), s)) {
    openssl_failure("copying S");
  }
  if (BN_bn2binpad(r, out.data(), 32) != 32 || BN_bn2binpad(low_s.get(), out.data() + 32, 32) != 32)
    openssl_failure("encoding r||s");
  return out;
}

// ---- Key files -----------------------------------------------------------------

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Zeroes a string holding secret material when it goes out of scope.
struct Wipe {
  std::string& s;
  ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
};

// "<type> <64 hex>\n", built in place so no stray copy of the secret is
// left in a discarded temporary.
std::string key_file_content(KeyType type, const std::array<std::uint8_t, kSecretSize>& secret) {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string_view name = file_name_of(type);
  std::string out;
  out.reserve(name.size() + 2 + 2 * kSecretSize);
  out.append(name);
  out.push_back(' ');
  for (std::uint8_t b : secret) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  out.push_back('\n');
  return out;
}

// Parses "<type> <64 hex>" with an optional final "\n", and nothing else.
PrivateKey parse_key_file(std::string_view text, const std::string& path) {
  auto bad = [&](const std::string& why) {
    return ParseError("keys: " + path + ": " + why +
                      " (expected one line: 'secp256k1 <64 hex digits>' or 'p256 <64 hex "
                      "digits>')");
  };
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::size_t space = text.find(' ');
  if (space == std::string_view::npos) throw bad("no key type");
  std::string_view name = text.substr(0, space);
  std::string_view digits = text.substr(space + 1);
  KeyType type;
  if (name == file_name_of(KeyType::kSecp256k1)) {
    type = KeyType::kSecp256k1;
  } else if (name == file_name_of(KeyType::kP256)) {
    type = KeyType::kP256;
  } else {
    throw bad("unknown key type");
  }
  if (digits.size() != 2 * kSecretSize) throw bad("the key must be 64 hex digits");
  Bytes secret;
  try {
    secret = hex::decode(digits);
  } catch (const ParseError&) {
    throw bad("the key is not hexadecimal");
  }
  try {
    PrivateKey key = PrivateKey::from_bytes(type, secret);
    OPENSSL_cleanse(secret.data(), secret.size());
    return key;
  } catch (...) {
    OPENSSL_cleanse(secret.data(), secret.size());
    throw;
  }
}

}  // namespace

void PrivateKey::save(const std::string& path) const {
  std::string content = key_file_content(impl_->type, impl_->secret);
  Wipe wipe{content};
  if (!util::create_private_file(path, content))
    throw StorageError("keys: " + path + " already exists; refusing to overwrite a key");
}

PrivateKey PrivateKey::load(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) throw NotFoundError("keys: no key file at " + path);
    throw StorageError("keys: opening " + path + ": " + errno_text(err));
  }
  std::string text;
  Wipe wipe{text};
  try {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw StorageError("keys: stat " + path + ": " + errno_text(errno));
    if (!S_ISREG(st.st_mode)) throw StorageError("keys: " + path + " is not a regular file");
    if ((st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      throw StorageError("keys: " + path + " has mode " + mode +
                         " and may have leaked to other users; run 'chmod 600 " + path + "'");
    }
    // A key file is ~75 bytes; anything much larger is not one.
    constexpr std::size_t kMaxSize = 256;
    text.resize(kMaxSize + 1);
    std::size_t got = 0;
    while (got < text.size()) {
      ssize_t n = ::read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw StorageError("keys: reading " + path + ": " + errno_text(errno));
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got > kMaxSize) throw ParseError("keys: " + path + " is too large to be a key file");
    ::close(fd);
    fd = -1;
    return parse_key_file(std::string_view(text).substr(0, got), path);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    throw;
  }
}

PrivateKey PrivateKey::load_or_generate(const std::string& path, KeyType type) {
  try {
    return load(path);
  } catch (const NotFoundError&) {
  }
  PrivateKey key = generate(type);
  std::string content = key_file_content(type, key.impl_->secret);
  Wipe wipe{content};
  if (util::create_private_file(path, content)) return key;
  return load(path);  // another process created it first; use theirs
}

}  // namespace atcr

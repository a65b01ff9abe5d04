#include "atcr/crypto/keys.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sys/stat.h>

#include <array>
#include <cctype>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "atcr/crypto/random.h"
#include "atcr/encoding/base58.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"
#include "atcr/error.h"
#include "fixtures.h"

using namespace atcr;

namespace {

using Scalar = std::array<std::uint8_t, 32>;

Scalar scalar_from_hex(const char* h) {
  Bytes b = hex::decode(h);
  Scalar s{};
  std::copy(b.begin(), b.end(), s.begin());
  return s;
}

const Scalar kK256Order =
    scalar_from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
const Scalar kP256Order =
    scalar_from_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

const Scalar& order_of(KeyType t) { return t == KeyType::kSecp256k1 ? kK256Order : kP256Order; }

// s <= n/2, i.e. 2s <= n, on big-endian bytes.
bool is_low_s(KeyType t, BytesView sig) {
  const Scalar& n = order_of(t);
  // Compare 2*s with n; 2*s may need 257 bits.
  std::array<std::uint8_t, 33> twice{};
  unsigned carry = 0;
  for (int i = 31; i >= 0; --i) {
    unsigned v = 2u * sig[32 + i] + carry;
    twice[i + 1] = static_cast<std::uint8_t>(v & 0xff);
    carry = v >> 8;
  }
  twice[0] = static_cast<std::uint8_t>(carry);
  if (twice[0] != 0) return false;
  return std::lexicographical_compare(twice.begin() + 1, twice.end(), n.begin(), n.end()) ||
         std::equal(twice.begin() + 1, twice.end(), n.begin());
}

// The same signature with s replaced by n - s: mathematically valid, high-S.
Bytes flip_s(KeyType t, BytesView sig) {
  const Scalar& n = order_of(t);
  Bytes out(sig.begin(), sig.end());
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int v = int(n[i]) - int(sig[32 + i]) - borrow;
    borrow = v < 0;
    out[32 + i] = static_cast<std::uint8_t>(v + (borrow ? 256 : 0));
  }
  return out;
}

rapidjson::Document load_json(const std::string& fixture) {
  rapidjson::Document doc;
  std::string text = test::read_fixture(fixture);
  doc.Parse(text.c_str(), text.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsArray());
  return doc;
}

std::string multikey_of(const Bytes& raw) { return "z" + base58::encode(raw); }

Bytes with_prefix(std::initializer_list<std::uint8_t> prefix, const Bytes& point) {
  Bytes out(prefix);
  out.insert(out.end(), point.begin(), point.end());
  return out;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("atcr-keys-test-" + std::to_string(random_u64()));
    std::filesystem::create_directory(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void write_text(const std::string& path, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ::chmod(path.c_str(), mode);
}

constexpr KeyType kBothCurves[] = {KeyType::kSecp256k1, KeyType::kP256};

}  // namespace

TEST_CASE("interop signature fixtures: valid accepted, high-S and DER rejected") {
  auto doc = load_json("crypto/signature-fixtures.json");
  REQUIRE(doc.Size() == 6);
  int valid = 0, high_s = 0, der = 0;
  for (const auto& c : doc.GetArray()) {
    CAPTURE(std::string(c["comment"].GetString()));
    PublicKey key = PublicKey::from_did_key(c["publicKeyDid"].GetString());
    CHECK(key.did_key() == c["publicKeyDid"].GetString());
    CHECK(key.type() == key_type_from_jwt_alg(c["algorithm"].GetString()));
    CHECK(jwt_alg(key.type()) == c["algorithm"].GetString());
    // publicKeyMultibase in this file is the bare compressed point.
    CHECK(base58::decode(std::string_view(c["publicKeyMultibase"].GetString()).substr(1)) ==
          key.compressed());

    Bytes message = base64::decode(c["messageBase64"].GetString());
    Bytes sig = base64::decode(c["signatureBase64"].GetString());
    bool expected = c["validSignature"].GetBool();
    CHECK(key.verify(message, sig) == expected);

    std::vector<std::string> tags;
    for (const auto& t : c["tags"].GetArray()) tags.emplace_back(t.GetString());
    if (expected) {
      ++valid;
      CHECK(tags.empty());
      CHECK(key.verify_lenient(message, sig));
      CHECK(is_low_s(key.type(), sig));
    } else if (tags == std::vector<std::string>{"high-s"}) {
      ++high_s;
      CHECK_FALSE(is_low_s(key.type(), sig));
      // Mathematically valid: only the low-S rule rejects it.
      CHECK(key.verify_lenient(message, sig));
      CHECK(key.verify(message, flip_s(key.type(), sig)));
    } else if (tags == std::vector<std::string>{"der-encoded"}) {
      ++der;
      CHECK(sig[0] == 0x30);
      CHECK_FALSE(key.verify_lenient(message, sig));
    } else {
      FAIL("unexpected tags");
    }
  }
  CHECK(valid == 2);
  CHECK(high_s == 2);
  CHECK(der == 2);
}

TEST_CASE("w3c did:key fixtures: private key derives the listed did:key") {
  int count = 0;
  SUBCASE("secp256k1 (hex private keys)") {
    auto doc = load_json("crypto/w3c_didkey_K256.json");
    for (const auto& c : doc.GetArray()) {
      auto key = PrivateKey::from_bytes(KeyType::kSecp256k1,
                                        hex::decode(c["privateKeyBytesHex"].GetString()));
      std::string did = c["publicDidKey"].GetString();
      CHECK(did.rfind("did:key:zQ3s", 0) == 0);
      CHECK(key.public_key().did_key() == did);
      CHECK(key.public_key().multikey() == did.substr(8));
      CHECK(PublicKey::from_did_key(did) == key.public_key());
      CHECK(PublicKey::from_multikey(did.substr(8)) == key.public_key());
      CHECK(hex::encode(key.secret()) == c["privateKeyBytesHex"].GetString());
      ++count;
    }
    CHECK(count == 5);
  }
  SUBCASE("P-256 (base58 private key)") {
    auto doc = load_json("crypto/w3c_didkey_P256.json");
    for (const auto& c : doc.GetArray()) {
      auto key = PrivateKey::from_bytes(KeyType::kP256,
                                        base58::decode(c["privateKeyBytesBase58"].GetString()));
      std::string did = c["publicDidKey"].GetString();
      CHECK(did.rfind("did:key:zDna", 0) == 0);
      CHECK(key.public_key().did_key() == did);
      CHECK(PublicKey::from_did_key(did) == key.public_key());
      CHECK(PublicKey::from_did_key(did).type() == KeyType::kP256);
      ++count;
    }
    CHECK(count == 1);
  }
}

TEST_CASE("jwt alg names") {
  CHECK(jwt_alg(KeyType::kSecp256k1) == "ES256K");
  CHECK(jwt_alg(KeyType::kP256) == "ES256");
  CHECK(key_type_from_jwt_alg("ES256K") == KeyType::kSecp256k1);
  CHECK(key_type_from_jwt_alg("ES256") == KeyType::kP256);
  for (const char* bad : {"none", "HS256", "RS256", "EdDSA", "es256", "ES256k", ""})
    CHECK_THROWS_AS(key_type_from_jwt_alg(bad), ParseError);
}

TEST_CASE("sign and verify round trip on both curves") {
  for (KeyType t : kBothCurves) {
    CAPTURE(jwt_alg(t));
    PrivateKey key = PrivateKey::generate(t);
    PublicKey pub = key.public_key();
    CHECK(key.type() == t);
    CHECK(pub.type() == t);
    CHECK(key.secret().size() == 32);
    CHECK(pub.compressed().size() == 33);
    CHECK(pub.uncompressed().size() == 65);
    CHECK(pub.uncompressed()[0] == 0x04);

    Bytes msg = to_bytes("hello atproto");
    Bytes sig = key.sign(msg);
    REQUIRE(sig.size() == 64);
    CHECK(pub.verify(msg, sig));
    CHECK(pub.verify_lenient(msg, sig));

    // The empty message is a message too.
    Bytes empty_sig = key.sign(BytesView{});
    CHECK(pub.verify(BytesView{}, empty_sig));
    CHECK_FALSE(pub.verify(msg, empty_sig));

    // Tampered message: every single-bit flip of the first bytes.
    for (std::size_t i = 0; i < msg.size(); ++i) {
      Bytes m = msg;
      m[i] ^= 0x01;
      CHECK_FALSE(pub.verify(m, sig));
    }
    CHECK_FALSE(pub.verify(to_bytes("hello atproto "), sig));
    // Tampered signature: a flipped bit anywhere breaks it.
    for (std::size_t i = 0; i < sig.size(); ++i) {
      Bytes s = sig;
      s[i] ^= 0x80;
      CHECK_FALSE(pub.verify(msg, s));
      CHECK_FALSE(pub.verify_lenient(msg, s));
    }
    // Our own signature turned high-S: strict rejects, lenient accepts.
    Bytes high = flip_s(t, sig);
    CHECK_FALSE(is_low_s(t, high));
    CHECK_FALSE(pub.verify(msg, high));
    CHECK(pub.verify_lenient(msg, high));
    // Wrong lengths.
    CHECK_FALSE(pub.verify(msg, BytesView(sig).first(63)));
    Bytes longer = sig;
    longer.push_back(0);
    CHECK_FALSE(pub.verify(msg, longer));
    CHECK_FALSE(pub.verify_lenient(msg, longer));
    CHECK_FALSE(pub.verify(msg, BytesView{}));
    // r = 0 / s = 0 / r,s >= n.
    Bytes zeros(64, 0);
    CHECK_FALSE(pub.verify(msg, zeros));
    CHECK_FALSE(pub.verify_lenient(msg, zeros));
    Bytes ones(64, 0xff);
    CHECK_FALSE(pub.verify(msg, ones));
    CHECK_FALSE(pub.verify_lenient(msg, ones));
    // Another key of the same curve.
    CHECK_FALSE(PrivateKey::generate(t).public_key().verify(msg, sig));
  }
}

TEST_CASE("a key of the other curve does not verify") {
  PrivateKey k = PrivateKey::generate(KeyType::kSecp256k1);
  // Same secret on both curves: only the curve differs.
  PrivateKey p = PrivateKey::from_bytes(KeyType::kP256, k.secret());
  Bytes msg = to_bytes("curve confusion");
  CHECK_FALSE(p.public_key().verify(msg, k.sign(msg)));
  CHECK_FALSE(k.public_key().verify(msg, p.sign(msg)));
  CHECK_FALSE(p.public_key() == k.public_key());
  CHECK(k.public_key().verify(msg, k.sign(msg)));
  CHECK(p.public_key().verify(msg, p.sign(msg)));
}

TEST_CASE("1000 signatures per curve are all low-S and verify") {
  for (KeyType t : kBothCurves) {
    CAPTURE(jwt_alg(t));
    PrivateKey key = PrivateKey::generate(t);
    PublicKey pub = key.public_key();
    int low = 0, ok = 0;
    for (int i = 0; i < 1000; ++i) {
      Bytes msg = to_bytes("message " + std::to_string(i));
      Bytes sig = key.sign(msg);
      low += is_low_s(t, sig);
      ok += pub.verify(msg, sig);
    }
    CHECK(low == 1000);
    CHECK(ok == 1000);
  }
}

TEST_CASE("secp256k1 signatures are deterministic, P-256 ones randomised") {
  Bytes msg = to_bytes("same message");
  PrivateKey k = PrivateKey::generate(KeyType::kSecp256k1);
  CHECK(k.sign(msg) == k.sign(msg));
  PrivateKey p = PrivateKey::generate(KeyType::kP256);
  CHECK(p.sign(msg) != p.sign(msg));
}

TEST_CASE("DER encodings of our own signatures are rejected") {
  // A minimal DER wrapper around r and s (both < 2^255 after adding 0x00
  // where needed), to show that only r||s is accepted.
  auto der_int = [](BytesView v) {
    Bytes out;
    std::size_t i = 0;
    while (i < v.size() - 1 && v[i] == 0) ++i;
    Bytes body(v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    if (body[0] & 0x80) body.insert(body.begin(), 0);
    out.push_back(0x02);
    out.push_back(static_cast<std::uint8_t>(body.size()));
    out.insert(out.end(), body.begin(), body.end());
    return out;
  };
  for (KeyType t : kBothCurves) {
    PrivateKey key = PrivateKey::generate(t);
    Bytes msg = to_bytes("der");
    Bytes sig = key.sign(msg);
    Bytes r = der_int(BytesView(sig).first(32)), s = der_int(BytesView(sig).subspan(32));
    Bytes der{0x30, static_cast<std::uint8_t>(r.size() + s.size())};
    der.insert(der.end(), r.begin(), r.end());
    der.insert(der.end(), s.begin(), s.end());
    CHECK_FALSE(key.public_key().verify(msg, der));
    CHECK_FALSE(key.public_key().verify_lenient(msg, der));
  }
}

TEST_CASE("did:key parsing rejects malformed input with ParseError") {
  PublicKey k = PrivateKey::generate(KeyType::kSecp256k1).public_key();
  PublicKey p = PrivateKey::generate(KeyType::kP256).public_key();
  const std::string kd = k.did_key(), pd = p.did_key();
  CHECK(kd.rfind("did:key:zQ3s", 0) == 0);
  CHECK(pd.rfind("did:key:zDna", 0) == 0);
  CHECK(PublicKey::from_did_key(kd) == k);
  CHECK(PublicKey::from_did_key(pd) == p);

  const Bytes kc = k.compressed(), pc = p.compressed();
  std::vector<std::string> bad = {
      "",
      "did:key:",
      "did:key:z",
      "did:web:" + kd.substr(8),
      "DID:KEY:" + kd.substr(8),
      "did:key" + kd.substr(7 + 1),              // missing ':'
      "did:key:" + kd.substr(9),                 // missing 'z'
      "did:key:f" + hex::encode(with_prefix({0xe7, 0x01}, kc)),  // base16 multibase
      kd.substr(0, kd.size() - 1),               // truncated
      kd.substr(0, kd.size() - 10),
      kd + "1",                                  // trailing zero byte
      kd + "z",                                  // trailing garbage
      pd + "A",
      kd + " ",
      " " + kd,
      kd.substr(0, 20) + "0" + kd.substr(21),    // '0' is not base58
      kd.substr(0, 20) + "l" + kd.substr(21),    // nor 'l'
      "did:key:" + std::string(500, 'z'),        // absurdly long
      // Codec swapped: a P-256 prefix on a secp256k1 point (usually off
      // the curve), ed25519-pub (0xed), and the 12 00 / e7 00 spellings.
      "did:key:" + multikey_of(with_prefix({0xed, 0x01}, Bytes(32, 7))),
      "did:key:" + multikey_of(with_prefix({0x12, 0x00}, pc)),
      "did:key:" + multikey_of(with_prefix({0xe7}, kc)),
      // Non-minimal varint for 0xe7.
      "did:key:" + multikey_of(with_prefix({0xe7, 0x81, 0x00}, kc)),
      // Uncompressed points are not allowed in did:key.
      "did:key:" + multikey_of(with_prefix({0xe7, 0x01}, k.uncompressed())),
      "did:key:" + multikey_of(with_prefix({0x80, 0x24}, p.uncompressed())),
      // No point at all / bare point with no codec.
      "did:key:" + multikey_of({0xe7, 0x01}),
      "did:key:" + multikey_of(kc),
  };
  // Hybrid encoding (06/07) and a bad compressed prefix.
  for (std::uint8_t prefix : {0x00, 0x04, 0x05, 0x06, 0x07}) {
    Bytes c = kc;
    c[0] = prefix;
    bad.push_back("did:key:" + multikey_of(with_prefix({0xe7, 0x01}, c)));
    Bytes d = pc;
    d[0] = prefix;
    bad.push_back("did:key:" + multikey_of(with_prefix({0x80, 0x24}, d)));
  }
  // x >= p on both curves (all-ones x is above both field primes).
  Bytes big_x(33, 0xff);
  big_x[0] = 0x02;
  bad.push_back("did:key:" + multikey_of(with_prefix({0xe7, 0x01}, big_x)));
  bad.push_back("did:key:" + multikey_of(with_prefix({0x80, 0x24}, big_x)));
  // x with no point on the curve: on secp256k1, 5^3 + 7 is not a square
  // mod p, so x = 5 has no y.
  Bytes off(33, 0);
  off[0] = 0x02;
  off[32] = 5;
  bad.push_back("did:key:" + multikey_of(with_prefix({0xe7, 0x01}, off)));

  for (const auto& s : bad) {
    CAPTURE(s);
    CHECK_THROWS_AS(PublicKey::from_did_key(s), ParseError);
  }
  CHECK_THROWS_AS(PublicKey::from_multikey(kd), ParseError);  // has the did:key: prefix
  CHECK_THROWS_AS(PublicKey::from_multikey(""), ParseError);
  CHECK_THROWS_AS(PublicKey::from_multikey(kd.substr(9)), ParseError);
  CHECK(PublicKey::from_multikey(kd.substr(8)) == k);
}

TEST_CASE("a point off the curve is rejected on P-256 too") {
  // Search a few x coordinates for one that is not on P-256: about half of
  // them are not, so the loop ends fast, and at least one must throw.
  int rejected = 0;
  for (std::uint8_t x = 1; x < 20; ++x) {
    Bytes c(33, 0);
    c[0] = 0x02;
    c[32] = x;
    try {
      PublicKey::from_sec1(KeyType::kP256, c);
    } catch (const ParseError&) {
      ++rejected;
    }
  }
  CHECK(rejected > 0);
  // Uncompressed with a y that does not match x.
  Bytes u = PrivateKey::generate(KeyType::kP256).public_key().uncompressed();
  u[64] ^= 1;
  CHECK_THROWS_AS(PublicKey::from_sec1(KeyType::kP256, u), ParseError);
  Bytes v = PrivateKey::generate(KeyType::kSecp256k1).public_key().uncompressed();
  v[64] ^= 1;
  CHECK_THROWS_AS(PublicKey::from_sec1(KeyType::kSecp256k1, v), ParseError);
}

TEST_CASE("legacy uncompressed keys are accepted and compress to the same did:key") {
  for (KeyType t : kBothCurves) {
    PublicKey pub = PrivateKey::generate(t).public_key();
    Bytes u = pub.uncompressed();
    REQUIRE(u.size() == 65);
    PublicKey legacy = PublicKey::from_sec1(t, u);
    CHECK(legacy == pub);
    CHECK(legacy.did_key() == pub.did_key());
    CHECK(legacy.compressed() == pub.compressed());
    CHECK(PublicKey::from_sec1(t, pub.compressed()) == pub);
    // The legacy DID-document spelling: 'z' + base58(uncompressed point).
    std::string legacy_multibase = "z" + base58::encode(u);
    CHECK(PublicKey::from_sec1(t, base58::decode(legacy_multibase.substr(1))) == pub);

    CHECK_THROWS_AS(PublicKey::from_sec1(t, BytesView(u).first(64)), ParseError);
    CHECK_THROWS_AS(PublicKey::from_sec1(t, BytesView(u).first(33)), ParseError);  // 04 prefix
    CHECK_THROWS_AS(PublicKey::from_sec1(t, BytesView{}), ParseError);
    Bytes hybrid = u;
    hybrid[0] = static_cast<std::uint8_t>(0x06 | (u[64] & 1));
    CHECK_THROWS_AS(PublicKey::from_sec1(t, hybrid), ParseError);
  }
}

TEST_CASE("private key range checks") {
  for (KeyType t : kBothCurves) {
    CAPTURE(jwt_alg(t));
    const Scalar& n = order_of(t);
    Bytes zero(32, 0);
    Bytes order(n.begin(), n.end());
    Bytes above = order;
    above[31] += 1;
    Bytes below = order;
    below[31] -= 1;
    Bytes one(32, 0);
    one[31] = 1;
    CHECK_THROWS_AS(PrivateKey::from_bytes(t, zero), ParseError);
    CHECK_THROWS_AS(PrivateKey::from_bytes(t, order), ParseError);
    CHECK_THROWS_AS(PrivateKey::from_bytes(t, above), ParseError);
    CHECK_THROWS_AS(PrivateKey::from_bytes(t, Bytes(32, 0xff)), ParseError);
    CHECK_THROWS_AS(PrivateKey::from_bytes(t, Bytes(31, 1)), ParseError);
    CHECK_THROWS_AS(PrivateKey::from_bytes(t, Bytes(33, 1)), ParseError);
    for (const Bytes& ok : {one, below}) {
      PrivateKey key = PrivateKey::from_bytes(t, ok);
      CHECK(key.secret() == ok);
      Bytes sig = key.sign(to_bytes("edge"));
      CHECK(is_low_s(t, sig));
      CHECK(key.public_key().verify(to_bytes("edge"), sig));
    }
    // d = n-1 is -1, so its public key is the negation of d = 1's.
    Bytes c1 = PrivateKey::from_bytes(t, one).public_key().compressed();
    Bytes cm1 = PrivateKey::from_bytes(t, below).public_key().compressed();
    CHECK(c1[0] != cm1[0]);
    CHECK(std::equal(c1.begin() + 1, c1.end(), cm1.begin() + 1));
  }
}

TEST_CASE("keys are values: copies and moved-from keys stay usable") {
  PrivateKey a = PrivateKey::generate(KeyType::kP256);
  PrivateKey b = a;
  PrivateKey c = std::move(a);
  Bytes msg = to_bytes("copy");
  CHECK(a.public_key().verify(msg, c.sign(msg)));  // NOLINT(bugprone-use-after-move)
  CHECK(b.public_key() == c.public_key());
  PublicKey p = b.public_key();
  PublicKey q = std::move(p);
  CHECK(p == q);  // NOLINT(bugprone-use-after-move)
  PublicKey other = PrivateKey::generate(KeyType::kP256).public_key();
  CHECK_FALSE(other == q);
  other = q;
  CHECK(other == q);
}

TEST_CASE("key files: save and load") {
  TempDir dir;
  for (KeyType t : kBothCurves) {
    CAPTURE(jwt_alg(t));
    PrivateKey key = PrivateKey::generate(t);
    std::string path = dir.file(std::string(jwt_alg(t)) + ".key");
    key.save(path);

    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    std::string text = test::read_file(path);
    std::string name = t == KeyType::kSecp256k1 ? "secp256k1 " : "p256 ";
    CHECK(text == name + hex::encode(key.secret()) + "\n");

    PrivateKey loaded = PrivateKey::load(path);
    CHECK(loaded.type() == t);
    CHECK(loaded.secret() == key.secret());
    CHECK(loaded.public_key() == key.public_key());

    // Never overwrites.
    PrivateKey other = PrivateKey::generate(t);
    CHECK_THROWS_AS(other.save(path), StorageError);
    CHECK(PrivateKey::load(path).secret() == key.secret());
  }
  // Only the two key files: no temporaries left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 2);

  // The fixture key, written by hand, loads to the fixture did:key.
  std::string fixture = dir.file("fixture.key");
  write_text(fixture, "secp256k1 9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c");
  CHECK(PrivateKey::load(fixture).public_key().did_key() ==
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme");
}

TEST_CASE("key files: errors") {
  TempDir dir;
  CHECK_THROWS_AS(PrivateKey::load(dir.file("missing.key")), NotFoundError);
  CHECK_THROWS_AS(PrivateKey::load(dir.path.string()), StorageError);  // a directory
  CHECK_THROWS_AS(PrivateKey::generate(KeyType::kP256).save(dir.file("no/such/dir.key")),
                  StorageError);

  const std::string good = "p256 " + hex::encode(PrivateKey::generate(KeyType::kP256).secret());
  // Permissions: group or other access is refused.
  for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
    std::string path = dir.file("mode.key");
    write_text(path, good + "\n", mode);
    CAPTURE(mode);
    CHECK_THROWS_AS(PrivateKey::load(path), StorageError);
    ::chmod(path.c_str(), 0600);
    CHECK_NOTHROW(PrivateKey::load(path));
    std::filesystem::remove(path);
  }
  write_text(dir.file("readonly.key"), good + "\n", 0400);
  CHECK_NOTHROW(PrivateKey::load(dir.file("readonly.key")));

  std::vector<std::string> bad = {
      "",
      "\n",
      good + "\n\n",
      good + "\r\n",
      good + " ",
      " " + good,
      "p256  " + good.substr(5),
      "p256\t" + good.substr(5),
      "P256 " + good.substr(5),
      "ed25519 " + good.substr(5),
      "secp256r1 " + good.substr(5),
      "p256 " + good.substr(5, 62),
      "p256 " + good.substr(5) + "00",
      "p256 " + good.substr(5, 63) + "g",
      "p256 " + std::string(64, '0'),  // zero is out of range
      "p256 " + std::string(64, 'f'),  // above n
      "p256",
      std::string(1000, 'a'),
      "{\"type\":\"p256\"}",
  };
  for (const auto& text : bad) {
    CAPTURE(text);
    std::string path = dir.file("bad.key");
    write_text(path, text);
    CHECK_THROWS_AS(PrivateKey::load(path), ParseError);
    std::filesystem::remove(path);
  }
  // Upper-case hex is accepted (hand-edited files).
  std::string path = dir.file("upper.key");
  std::string upper = good;
  for (std::size_t i = 5; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  write_text(path, upper);
  CHECK(hex::encode(PrivateKey::load(path).secret()) == good.substr(5));
}

TEST_CASE("key files: load_or_generate") {
  TempDir dir;
  std::string path = dir.file("server.key");
  PrivateKey first = PrivateKey::load_or_generate(path, KeyType::kSecp256k1);
  CHECK(first.type() == KeyType::kSecp256k1);
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  PrivateKey second = PrivateKey::load_or_generate(path, KeyType::kSecp256k1);
  CHECK(second.secret() == first.secret());
  // The file decides the type.
  CHECK(PrivateKey::load_or_generate(path, KeyType::kP256).type() == KeyType::kSecp256k1);
  // Bad files are reported, not replaced.
  write_text(dir.file("bad.key"), "garbage\n");
  CHECK_THROWS_AS(PrivateKey::load_or_generate(dir.file("bad.key"), KeyType::kP256), ParseError);
  CHECK(test::read_file(dir.file("bad.key")) == "garbage\n");
  write_text(dir.file("open.key"), "p256 " + std::string(63, '0') + "1\n", 0644);
  CHECK_THROWS_AS(PrivateKey::load_or_generate(dir.file("open.key"), KeyType::kP256),
                  StorageError);

  // Racing creators agree on one key.
  std::string raced = dir.file("raced.key");
  std::vector<std::thread> threads;
  std::vector<Bytes> secrets(4);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      secrets[i] = PrivateKey::load_or_generate(raced, KeyType::kP256).secret();
    });
  for (auto& th : threads) th.join();
  for (const auto& s : secrets) CHECK(s == secrets[0]);
  CHECK(PrivateKey::load(raced).secret() == secrets[0]);
}

TEST_CASE("concurrent signing and verifying from 4 threads") {
  for (KeyType t : kBothCurves) {
    CAPTURE(jwt_alg(t));
    const PrivateKey key = PrivateKey::generate(t);
    const PublicKey pub = key.public_key();
    std::atomic<int> good{0}, bad{0};
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th)
      threads.emplace_back([&, th] {
        for (int i = 0; i < 250; ++i) {
          Bytes msg = to_bytes("thread " + std::to_string(th) + " msg " + std::to_string(i));
          Bytes sig = key.sign(msg);
          bool ok = sig.size() == 64 && is_low_s(t, sig) && pub.verify(msg, sig) &&
                    !pub.verify(to_bytes("other"), sig);
          (ok ? good : bad)++;
        }
      });
    for (auto& th : threads) th.join();
    CHECK(good == 1000);
    CHECK(bad == 0);
  }
}

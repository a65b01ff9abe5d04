#include "atcr/identity/plc.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "atcr/crypto/sha256.h"
#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/encoding/base32.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"
#include "atcr/error.h"
#include "atcr/identity/plc_client.h"
#include "loopback_server.h"

using namespace atcr;
using namespace atcr::identity;
using namespace std::chrono_literals;

namespace {

// ---- signatures in the forms that must be refused ---------------------------

Bytes order_of(KeyType type) {
  return hex::decode(type == KeyType::kSecp256k1
                         ? "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
                         : "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
}

// r || (n - s): still a valid ECDSA signature, but high-S.
Bytes high_s(KeyType type, const Bytes& sig) {
  Bytes n = order_of(type);
  Bytes out = sig;
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int v = n[i] - sig[32 + i] - borrow;
    borrow = v < 0 ? 1 : 0;
    out[32 + i] = static_cast<std::uint8_t>(v + 256 * borrow);
  }
  return out;
}

// The same r and s, DER-encoded.
Bytes der(const Bytes& sig) {
  auto integer = [](BytesView x) {
    std::size_t skip = 0;
    while (skip + 1 < x.size() && x[skip] == 0) ++skip;
    Bytes v(x.begin() + static_cast<std::ptrdiff_t>(skip), x.end());
    if (v[0] & 0x80) v.insert(v.begin(), 0);
    Bytes out{0x02, static_cast<std::uint8_t>(v.size())};
    out.insert(out.end(), v.begin(), v.end());
    return out;
  };
  Bytes r = integer(BytesView(sig).subspan(0, 32));
  Bytes s = integer(BytesView(sig).subspan(32, 32));
  Bytes out{0x30, static_cast<std::uint8_t>(r.size() + s.size())};
  out.insert(out.end(), r.begin(), r.end());
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

PlcOperation with_sig(const PlcOperation& op, const std::string& sig) {
  Value::Map m = op.value().as_map();
  m["sig"] = sig;
  return PlcOperation::from_value(Value(std::move(m)));
}

PlcOperation with_field(const PlcOperation& op, const std::string& key, Value value) {
  Value::Map m = op.value().as_map();
  m[key] = std::move(value);
  return PlcOperation::from_value(Value(std::move(m)));
}

std::string at(int hour, int minute = 0) {
  return fmt::format("2024-03-{:02}T{:02}:{:02}:00.000Z", 1 + hour / 24, hour % 24, minute);
}

// A DID with a recovery key (highest authority) and a PDS rotation key.
struct Account {
  PrivateKey recovery = PrivateKey::generate(KeyType::kP256);
  PrivateKey rotation = PrivateKey::generate(KeyType::kSecp256k1);
  PrivateKey signing = PrivateKey::generate(KeyType::kSecp256k1);

  PlcState state(std::string_view handle = "alice.example.com") const {
    return PlcState::atproto({recovery.public_key().did_key(), rotation.public_key().did_key()},
                             signing.public_key(), handle, "https://pds.example.com");
  }
  PlcOperation genesis() const {
    PlcOperation op = PlcOperation::genesis(state());
    op.sign(rotation);
    return op;
  }
};

// An audit log under construction.
struct Log {
  std::string did;
  std::vector<PlcLogEntry> entries;

  const PlcOperation& add(PlcOperation op, const PrivateKey& signer, const std::string& when) {
    op.sign(signer);
    if (did.empty()) did = op.did();
    entries.push_back(PlcLogEntry{did, std::move(op), "", false, when});
    entries.back().cid = entries.back().operation.cid().to_string();
    return entries.back().operation;
  }
};

}  // namespace

TEST_CASE("genesis: signed, hashed, a 24-character base32 DID") {
  for (int i = 0; i < 8; ++i) {
    Account a;
    PlcOperation op = a.genesis();
    CHECK(op.type() == PlcOperation::Type::kOperation);
    CHECK(op.is_genesis());
    CHECK(op.is_signed());
    std::string did = op.did();
    REQUIRE(did.size() == 32);
    CHECK(did.starts_with("did:plc:"));
    for (char c : did.substr(8)) CHECK(((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')));
    CHECK(is_plc_did(did));
    // Derivation: sha256 of the signed DAG-CBOR, lowercase RFC 4648 base32.
    CHECK(did == "did:plc:" + base32::encode(sha256(op.signed_bytes())).substr(0, 24));
    CHECK(op.cid() == Cid::compute(Codec::kDagCbor, op.signed_bytes()));
    CHECK(op.verify(a.state().rotation_keys) == std::optional<std::size_t>(1));
  }
}

TEST_CASE("the signed bytes: prev is an explicit null, sig is absent") {
  Account a;
  PlcOperation op = a.genesis();
  Value unsigned_op = cbor::decode(op.unsigned_bytes());
  REQUIRE(unsigned_op.find("prev"));
  CHECK(unsigned_op.find("prev")->is_null());
  CHECK_FALSE(unsigned_op.find("sig"));
  Value signed_op = cbor::decode(op.signed_bytes());
  CHECK(signed_op.at("sig").as_string() == op.sig());
  CHECK(base64::decode_url(op.sig()).size() == 64);
  CHECK(signed_op.at("type").as_string() == "plc_operation");
  CHECK(signed_op.at("services").at("atproto_pds").at("endpoint").as_string() == "https://pds.example.com");
  CHECK(signed_op.at("verificationMethods").at("atproto").as_string() == a.signing.public_key().did_key());
}

TEST_CASE("JSON round trip") {
  Account a;
  PlcOperation op = a.genesis();
  std::string json = op.to_json();
  PlcOperation back = PlcOperation::from_json(json);
  CHECK(back == op);
  CHECK(back.cid() == op.cid());
  CHECK(back.did() == op.did());
  CHECK(back.state() == a.state());
  CHECK(back.verify(a.state().rotation_keys));
  PlcOperation unsigned_op = PlcOperation::genesis(a.state());
  CHECK(PlcOperation::from_json(unsigned_op.to_json()) == unsigned_op);
  CHECK_FALSE(unsigned_op.is_signed());
  CHECK_THROWS_AS(unsigned_op.cid(), VerifyError);
}

TEST_CASE("update and tombstone name the previous op") {
  Account a;
  PlcOperation genesis = a.genesis();
  PlcOperation update = PlcOperation::update(a.state("bob.example.com"), genesis);
  CHECK(update.prev() == genesis.cid());
  CHECK_FALSE(update.is_genesis());
  update.sign(a.rotation);
  CHECK_THROWS_AS(update.did(), VerifyError);
  CHECK(update.verify(genesis.rotation_keys()));
  CHECK(update.state()->also_known_as == std::vector<std::string>{"at://bob.example.com"});

  PlcOperation tombstone = PlcOperation::tombstone(update);
  CHECK(tombstone.type() == PlcOperation::Type::kTombstone);
  CHECK(tombstone.prev() == update.cid());
  CHECK_FALSE(tombstone.state());
  CHECK(tombstone.rotation_keys().empty());
  tombstone.sign(a.recovery);
  CHECK(tombstone.verify(update.rotation_keys()) == std::optional<std::size_t>(0));
  CHECK(PlcOperation::from_json(tombstone.to_json()) == tombstone);

  // An unsigned op has no CID to be named by.
  CHECK_THROWS_AS(PlcOperation::update(a.state(), PlcOperation::genesis(a.state())), VerifyError);
}

TEST_CASE("signature verification") {
  Account a;
  PlcOperation op = a.genesis();
  std::vector<std::string> keys = a.state().rotation_keys;
  Bytes sig = base64::decode_url(op.sig());

  SUBCASE("good signature, and only with the right key") {
    CHECK(op.verify(keys) == std::optional<std::size_t>(1));
    std::vector<std::string> others = {PrivateKey::generate(KeyType::kSecp256k1).public_key().did_key(),
                                       "did:key:garbage", a.rotation.public_key().did_key()};
    CHECK(op.verify(others) == std::optional<std::size_t>(2));  // unparsable keys are skipped
    CHECK_FALSE(op.verify(std::vector<std::string>{}));
    CHECK_FALSE(op.verify(std::vector<std::string>{a.recovery.public_key().did_key()}));
  }
  SUBCASE("tampered content") {
    CHECK_FALSE(with_field(op, "alsoKnownAs", Value::Array{"at://mallory.example.com"}).verify(keys));
    CHECK_FALSE(with_field(op, "extra", "field").verify(keys));
  }
  SUBCASE("high-S is refused on both curves") {
    CHECK_FALSE(with_sig(op, base64::encode_url(high_s(KeyType::kSecp256k1, sig))).verify(keys));
    PlcOperation p256 = PlcOperation::genesis(a.state());
    p256.sign(a.recovery);
    Bytes p256_sig = base64::decode_url(p256.sig());
    CHECK(p256.verify(keys) == std::optional<std::size_t>(0));
    CHECK_FALSE(with_sig(p256, base64::encode_url(high_s(KeyType::kP256, p256_sig))).verify(keys));
  }
  SUBCASE("other spellings of the same signature are refused") {
    std::string good(op.sig());
    CHECK_FALSE(with_sig(op, good + "==").verify(keys));                     // padded
    CHECK_FALSE(with_sig(op, base64::encode(sig)).verify(keys));             // standard alphabet, padded
    CHECK_FALSE(with_sig(op, good + "\n").verify(keys));                     // trailing newline
    CHECK_FALSE(with_sig(op, good.substr(0, 40) + "\n" + good.substr(40)).verify(keys));
    CHECK_FALSE(with_sig(op, base64::encode_url(der(sig))).verify(keys));    // DER
    // 64 bytes leave 4 padding bits in the last character; they must be 0.
    std::string bits = good;
    bits.back() = bits.back() == 'A' ? 'B' : static_cast<char>(bits.back() ^ 1);
    CHECK_FALSE(with_sig(op, bits).verify(keys));
  }
}

TEST_CASE("a genesis op must be signed by one of its own rotation keys") {
  Account a;
  PlcOperation op = PlcOperation::genesis(a.state());
  CHECK_THROWS_AS(op.sign(a.signing), VerifyError);
  CHECK_FALSE(op.is_signed());
}

TEST_CASE("limits for new operations") {
  Account a;
  auto key = [] { return PrivateKey::generate(KeyType::kSecp256k1).public_key().did_key(); };
  PlcState s = a.state();

  SUBCASE("rotation keys: 1 to 5, distinct, valid") {
    s.rotation_keys.clear();
    CHECK_THROWS_AS(PlcOperation::genesis(s), ParseError);
    s.rotation_keys = {key(), key(), key(), key(), key()};
    CHECK_NOTHROW(PlcOperation::genesis(s));
    s.rotation_keys.push_back(key());
    CHECK_THROWS_AS(PlcOperation::genesis(s), ParseError);
    s.rotation_keys = {s.rotation_keys[0], s.rotation_keys[0]};
    CHECK_THROWS_AS(PlcOperation::genesis(s), ParseError);
    s.rotation_keys = {"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"};  // ed25519
    CHECK_THROWS_AS(PlcOperation::genesis(s), ParseError);
  }
  SUBCASE("verification methods: at most 10, names without #") {
    for (int i = 0; i < 9; ++i) s.verification_methods.emplace(fmt::format("m{}", i), key());
    CHECK_NOTHROW(PlcOperation::genesis(s));
    s.verification_methods.emplace("m9", key());
    CHECK_THROWS_AS(PlcOperation::genesis(s), ParseError);
    s = a.state();
    s.verification_methods.emplace("#bad", key());
    CHECK_THROWS_AS(PlcOperation::genesis(s), ParseError);
  }
  SUBCASE("services need a name, type and endpoint") {
    s.services.emplace("atcr_hold", PlcService{"AtcrHold", ""});
    CHECK_THROWS_AS(PlcOperation::genesis(s), ParseError);
  }
  SUBCASE("signed size at most 7500 bytes") {
    s.also_known_as.push_back("at://" + std::string(7400, 'a') + ".example.com");
    PlcOperation op = PlcOperation::genesis(s);
    CHECK_THROWS_AS(op.sign(a.rotation), ParseError);
    CHECK_FALSE(op.is_signed());
  }
}

TEST_CASE("malformed operations are ParseErrors") {
  Account a;
  std::string good = a.genesis().to_json();
  const std::vector<std::string> bad = {
      "",
      "[]",
      R"({"type":"plc_operation"})",
      R"({"type":"unknown","prev":null})",
      R"({"type":7,"prev":null})",
      R"({"type":"plc_tombstone","prev":null,"sig":"abc"})",
      R"({"type":"plc_tombstone","prev":"not-a-cid","sig":"abc"})",
      R"({"type":"plc_tombstone","prev":"bafyreieibu2mtgsovktnswo6l7dv4i4ztioutzpsy7wsasmbznzqxkpyje","sig":""})",
      R"({"type":"plc_tombstone","prev":"bafyreieibu2mtgsovktnswo6l7dv4i4ztioutzpsy7wsasmbznzqxkpyje","sig":null})",
      R"({"type":"plc_operation","prev":null,"rotationKeys":"x","verificationMethods":{},"alsoKnownAs":[],"services":{}})",
      R"({"type":"plc_operation","prev":null,"rotationKeys":[],"verificationMethods":{"a":1},"alsoKnownAs":[],"services":{}})",
      R"({"type":"plc_operation","prev":null,"rotationKeys":[],"verificationMethods":{},"alsoKnownAs":[],"services":{"s":{"type":"x"}}})",
      R"({"type":"create","prev":"bafyreieibu2mtgsovktnswo6l7dv4i4ztioutzpsy7wsasmbznzqxkpyje","signingKey":"a","recoveryKey":"b","handle":"c","service":"d"})",
      R"({"type":"create","prev":null,"signingKey":"a","recoveryKey":"b","handle":"c"})",
      good.substr(0, good.size() - 1),
      "{\"pad\":\"" + std::string(70000, 'x') + "\"}",
  };
  for (const std::string& json : bad) {
    CAPTURE(json.substr(0, 200));
    CHECK_THROWS_AS(PlcOperation::from_json(json), ParseError);
  }
  // A missing prev is malformed even though null would be fine.
  Value::Map m = a.genesis().value().as_map();
  m.erase("prev");
  CHECK_THROWS_AS(PlcOperation::from_value(Value(std::move(m))), ParseError);
}

// Genesis operations of the legacy "create" form, as the public directory
// serves them: they check the CBOR field order, the DID derivation and the
// CID against real data, and the legacy -> state translation.
TEST_CASE("legacy create operations from plc.directory") {
  struct Case {
    const char* did;
    const char* cid;
    const char* created_at;
    const char* op;
    const char* handle;
  };
  const Case cases[] = {
      {"did:plc:ragtjsm2j2vknwkz3zp4oxrd", "bafyreieibu2mtgsovktnswo6l7dv4i4ztioutzpsy7wsasmbznzqxkpyje",
       "2022-11-17T00:35:16.391Z",
       R"({"sig":"DyaPWDItkJnVkN1izINSW-fdjUzP9BkIKlD7SnzD5axfK_870ZZ-1EYcrQLQtP9VkWcp2cdbyIHprjPfeUs8WQ","prev":null,"type":"create","handle":"paul.bsky.social","service":"https://bsky.social","signingKey":"did:key:zQ3shP5TBe1sQfSttXty15FAEHV1DZgcxRZNxvEWnPfLFwLxJ","recoveryKey":"did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg"})",
       "paul.bsky.social"},
      {"did:plc:l3rouwludahu3ui3bt66mfvj", "bafyreic64lvfs5ayb5g5cgym7xtbnkpcr6g42reni7n3c7r7i547w7wfoa",
       "2022-11-17T00:39:19.084Z",
       R"({"sig":"HIAolK_uyrcg8a6CqBT_taoF0AJ6HAwy70hutFGVM54j20rTe90MH---pm6aoe5CsiIm6khqgbr5_Aj7F3rptA","prev":null,"type":"create","handle":"divy.bsky.social","service":"https://bsky.social","signingKey":"did:key:zQ3shP5TBe1sQfSttXty15FAEHV1DZgcxRZNxvEWnPfLFwLxJ","recoveryKey":"did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg"})",
       "divy.bsky.social"},
      {"did:plc:gwpm3pe7p2xigazbkjf3eu7g", "bafyreibvt3g3zh36v2bqgiksjozfhzs2vzpagpjxjn25qvlbluipiill2q",
       "2023-01-18T08:49:23.662Z",
       R"({"sig":"hdv0ZZaBiFSexncjD_xLL7BrjCqcuZ83_QGOr1dpMeZEDhC3IWH7EkKT4UgPtHi595ErG8JgbWlQIclVmZXX4w","prev":null,"type":"create","handle":"ancapalex.bsky.social","service":"https://bsky.social","signingKey":"did:key:zQ3shP5TBe1sQfSttXty15FAEHV1DZgcxRZNxvEWnPfLFwLxJ","recoveryKey":"did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg"})",
       "ancapalex.bsky.social"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.did);
    PlcOperation op = PlcOperation::from_json(c.op);
    CHECK(op.type() == PlcOperation::Type::kLegacyCreate);
    CHECK(op.did() == c.did);
    CHECK(op.cid().to_string() == c.cid);
    CHECK(op.verify(op.rotation_keys()));
    std::optional<PlcState> state = op.state();
    REQUIRE(state);
    CHECK(state->rotation_keys == std::vector<std::string>{"did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg",
                                                           "did:key:zQ3shP5TBe1sQfSttXty15FAEHV1DZgcxRZNxvEWnPfLFwLxJ"});
    DidDocument doc = state->to_document(c.did);
    CHECK(doc.handle() == c.handle);
    CHECK(doc.pds_endpoint() == "https://bsky.social");
    CHECK(doc.signing_key()->did_key() == "did:key:zQ3shP5TBe1sQfSttXty15FAEHV1DZgcxRZNxvEWnPfLFwLxJ");

    PlcLogEntry entry{c.did, op, c.cid, false, c.created_at};
    CHECK(verify_plc_audit_log(c.did, std::span(&entry, 1)) == op);
  }
}

TEST_CASE("legacy create genesis followed by updates") {
  Account a;
  Value::Map legacy{{"type", "create"},
                    {"signingKey", a.signing.public_key().did_key()},
                    {"recoveryKey", a.recovery.public_key().did_key()},
                    {"handle", "alice.example.com"},
                    {"service", "pds.example.com"},
                    {"prev", nullptr}};
  Log log;
  const PlcOperation& genesis = log.add(PlcOperation::from_value(Value(legacy)), a.signing, at(0));
  PlcState normalized = *genesis.state();
  CHECK(normalized.also_known_as == std::vector<std::string>{"at://alice.example.com"});
  CHECK(normalized.services.at("atproto_pds").endpoint == "https://pds.example.com");
  log.add(PlcOperation::update(a.state("bob.example.com"), genesis), a.signing, at(1));
  CHECK(verify_plc_audit_log(log.did, log.entries).state()->also_known_as ==
        std::vector<std::string>{"at://bob.example.com"});
}

TEST_CASE("audit log verification") {
  Account a;
  Log log;
  const PlcOperation g = log.add(PlcOperation::genesis(a.state()), a.rotation, at(0));
  const PlcOperation u1 = log.add(PlcOperation::update(a.state("bob.example.com"), g), a.rotation, at(1));
  const PlcOperation u2 = log.add(PlcOperation::update(a.state("carol.example.com"), u1), a.rotation, at(2));

  SUBCASE("a good chain") {
    CHECK(verify_plc_audit_log(log.did, log.entries) == u2);
    CHECK(verify_plc_audit_log(log.did, std::span(log.entries).first(1)) == g);
  }
  SUBCASE("through JSON") {
    Value::Array items;
    for (const PlcLogEntry& e : log.entries)
      items.push_back(Value::Map{{"did", e.did},
                                 {"operation", e.operation.value()},
                                 {"cid", e.cid},
                                 {"nullified", e.nullified},
                                 {"createdAt", e.created_at}});
    std::vector<PlcLogEntry> parsed = parse_plc_audit_log(json::serialize(Value(std::move(items))));
    REQUIRE(parsed.size() == 3);
    CHECK(verify_plc_audit_log(log.did, parsed) == u2);
    CHECK_THROWS_AS(parse_plc_audit_log("{}"), ParseError);
    CHECK_THROWS_AS(parse_plc_audit_log(R"([{"did":"x"}])"), ParseError);
  }
  SUBCASE("empty, or for another DID") {
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, {}), VerifyError);
    CHECK_THROWS_AS(verify_plc_audit_log("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", log.entries), VerifyError);
    log.entries[1].did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("reordered") {
    std::swap(log.entries[1], log.entries[2]);
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
    std::swap(log.entries[0], log.entries[2]);
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("a dropped middle entry breaks the chain") {
    log.entries.erase(log.entries.begin() + 1);
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("a stated cid that does not match") {
    log.entries[1].cid = log.entries[2].cid;
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("tampered prev: re-signed by the same key, pointing to the genesis op") {
    PlcOperation forked = with_field(u2, "prev", g.cid().to_string());
    forked.sign(a.rotation);
    log.entries[2] = PlcLogEntry{log.did, forked, forked.cid().to_string(), false, at(2)};
    // Forking away u1 needs a key above the one that signed u1.
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("tampered content keeps the old signature") {
    PlcOperation changed = with_field(u1, "alsoKnownAs", Value::Array{"at://mallory.example.com"});
    log.entries[1] = PlcLogEntry{log.did, changed, changed.cid().to_string(), false, at(1)};
    log.entries.pop_back();
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("wrong signer") {
    PrivateKey stranger = PrivateKey::generate(KeyType::kSecp256k1);
    log.entries.pop_back();
    log.add(PlcOperation::update(a.state("mallory.example.com"), u1), stranger, at(3));
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("the signing key is not a rotation key") {
    log.entries.pop_back();
    log.add(PlcOperation::update(a.state("mallory.example.com"), u1), a.signing, at(3));
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("a high-S signature in the log") {
    Bytes sig = base64::decode_url(u2.sig());
    PlcOperation malleated = with_sig(u2, base64::encode_url(high_s(KeyType::kSecp256k1, sig)));
    log.entries[2] = PlcLogEntry{log.did, malleated, malleated.cid().to_string(), false, at(2)};
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("timestamps must increase") {
    log.entries[2].created_at = log.entries[1].created_at;
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
    log.entries[2].created_at = "yesterday";
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), ParseError);
  }
  SUBCASE("a second genesis op") {
    log.add(PlcOperation::genesis(a.state()), a.rotation, at(4));
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("an unsigned entry") {
    log.entries.push_back(PlcLogEntry{log.did, PlcOperation::update(a.state(), u2), "x", false, at(5)});
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("tombstone ends the chain") {
    log.add(PlcOperation::tombstone(u2), a.rotation, at(3));
    PlcOperation head = verify_plc_audit_log(log.did, log.entries);
    CHECK(head.type() == PlcOperation::Type::kTombstone);
    // Nothing can follow it but a recovery.
    log.add(PlcOperation::update(a.state(), head), a.rotation, at(4));
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
}

TEST_CASE("recovery within 72 hours nullifies the replaced operations") {
  Account a;
  Log log;
  const PlcOperation g = log.add(PlcOperation::genesis(a.state()), a.rotation, at(0));
  const PlcOperation bad1 = log.add(PlcOperation::update(a.state("evil.example.com"), g), a.rotation, at(1));
  log.add(PlcOperation::update(a.state("evil2.example.com"), bad1), a.rotation, at(2));

  SUBCASE("the recovery key overrides the rotation key") {
    const PlcOperation fix = log.add(PlcOperation::update(a.state(), g), a.recovery, at(70));
    log.entries[1].nullified = true;
    log.entries[2].nullified = true;
    CHECK(verify_plc_audit_log(log.did, log.entries) == fix);

    SUBCASE("the flags must say so") {
      log.entries[2].nullified = false;
      CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
    }
    SUBCASE("a nullified op cannot be built on") {
      log.add(PlcOperation::update(a.state(), log.entries[2].operation), a.rotation, at(71));
      CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
    }
    SUBCASE("a second recovery needs a key above the first") {
      log.add(PlcOperation::update(a.state("x.example.com"), g), a.recovery, at(71));
      CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
    }
  }
  SUBCASE("exactly 72 hours is still in time") {
    log.add(PlcOperation::update(a.state(), g), a.recovery, at(72));
    log.entries[1].nullified = log.entries[2].nullified = true;
    CHECK_NOTHROW(verify_plc_audit_log(log.did, log.entries));
  }
  SUBCASE("too late") {
    log.add(PlcOperation::update(a.state(), g), a.recovery, at(72, 1));
    log.entries[1].nullified = log.entries[2].nullified = true;
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("a key of the same authority cannot fork") {
    log.add(PlcOperation::update(a.state(), g), a.rotation, at(3));
    log.entries[1].nullified = log.entries[2].nullified = true;
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
  SUBCASE("a recovery must be newer than the latest op") {
    log.add(PlcOperation::update(a.state(), g), a.recovery, at(1, 30));
    log.entries[1].nullified = log.entries[2].nullified = true;
    CHECK_THROWS_AS(verify_plc_audit_log(log.did, log.entries), VerifyError);
  }
}

TEST_CASE("PlcState renders as a DID document") {
  Account a;
  PlcState s = a.state();
  s.verification_methods.emplace("ed", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK");
  s.services.emplace("atcr_hold", PlcService{"AtcrHold", "https://hold.example.com"});
  DidDocument doc = s.to_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
  CHECK(doc.id == "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
  CHECK(doc.handle() == "alice.example.com");
  CHECK(doc.signing_key() == a.signing.public_key());
  CHECK(doc.verification_methods.size() == 1);  // the ed25519 one is left out
  CHECK(doc.pds_endpoint() == "https://pds.example.com");
  CHECK(doc.service("atcr_hold", "AtcrHold")->endpoint == "https://hold.example.com");
  CHECK(DidDocument::parse(doc.to_json()) == doc);
  s.verification_methods["atproto"] = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
  CHECK_THROWS_AS(s.to_document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), ParseError);
}

// ---- the directory client, against a fake directory -------------------------

namespace {

// A PLC directory in miniature: accepts an operation when the log with it
// appended still verifies, and serves documents, state and logs.
class FakeDirectory {
 public:
  FakeDirectory() {
    const std::string did = R"((did:plc:[a-z2-7]+))";
    http_.server.Post("/" + did, [this](const httplib::Request& req, httplib::Response& res) {
      submit(req.matches[1], req.body, res);
    });
    http_.server.Get("/" + did, [this](const httplib::Request& req, httplib::Response& res) {
      serve(req.matches[1], res, [](const std::string& d, const std::vector<PlcLogEntry>& log) {
        return log.back().operation.state()->to_document(d).to_json();
      });
    });
    http_.server.Get("/" + did + "/data", [this](const httplib::Request& req, httplib::Response& res) {
      serve(req.matches[1], res, [](const std::string& d, const std::vector<PlcLogEntry>& log) {
        Value::Map m = PlcOperation::genesis(*log.back().operation.state()).value().as_map();
        m.erase("type");
        m.erase("prev");
        m.emplace("did", d);
        return json::serialize(Value(std::move(m)));
      });
    });
    http_.server.Get("/" + did + "/log/last", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      auto it = logs_.find(req.matches[1]);
      if (it == logs_.end()) return not_found(res);
      res.set_content(it->second.back().operation.to_json(), "application/json");
    });
    http_.server.Get("/" + did + "/log/audit", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      auto it = logs_.find(req.matches[1]);
      if (it == logs_.end()) return not_found(res);
      Value::Array items;
      for (const PlcLogEntry& e : it->second)
        items.push_back(Value::Map{{"did", e.did},
                                   {"operation", e.operation.value()},
                                   {"cid", e.cid},
                                   {"nullified", e.nullified},
                                   {"createdAt", e.created_at}});
      res.set_content(json::serialize(Value(std::move(items))), "application/json");
    });
    http_.start();
  }

  std::string url() const { return http_.url(); }
  int submissions() const { return submissions_; }

 private:
  static void not_found(httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"message":"DID not registered"})", "application/json");
  }

  template <class Render>
  void serve(const std::string& did, httplib::Response& res, Render render) {
    std::lock_guard lock(mu_);
    auto it = logs_.find(did);
    if (it == logs_.end()) return not_found(res);
    if (it->second.back().operation.type() == PlcOperation::Type::kTombstone) {
      res.status = 410;
      res.set_content(R"({"message":"DID not available"})", "application/json");
      return;
    }
    res.set_content(render(did, it->second), "application/did+ld+json");
  }

  void submit(const std::string& did, const std::string& body, httplib::Response& res) {
    std::lock_guard lock(mu_);
    ++submissions_;
    try {
      PlcOperation op = PlcOperation::from_json(body);
      std::vector<PlcLogEntry> log = logs_[did];
      log.push_back(PlcLogEntry{did, op, op.cid().to_string(), false, at(static_cast<int>(log.size()))});
      verify_plc_audit_log(did, log);
      logs_[did] = std::move(log);
      res.set_content("", "text/plain");
    } catch (const Error& e) {
      if (logs_[did].empty()) logs_.erase(did);
      res.status = 400;
      res.set_content(json::serialize(Value(Value::Map{{"message", e.what()}})), "application/json");
    }
  }

  test::LoopbackServer http_;
  std::mutex mu_;
  std::map<std::string, std::vector<PlcLogEntry>> logs_;
  int submissions_ = 0;
};

}  // namespace

TEST_CASE("PlcClient against a fake directory") {
  FakeDirectory directory;
  PlcClient plc(directory.url() + "/");  // the trailing slash is dropped
  CHECK(plc.directory() == directory.url());
  Account a;
  PlcOperation genesis = a.genesis();
  std::string did = genesis.did();

  CHECK_THROWS_AS(plc.document(did), ResolutionError);
  plc.submit(did, genesis);
  CHECK(plc.document(did) == a.state().to_document(did));
  CHECK(plc.data(did) == a.state());
  CHECK(plc.last_op(did) == genesis);

  PlcOperation update = PlcOperation::update(a.state("bob.example.com"), plc.last_op(did));
  update.sign(a.rotation);
  plc.submit(did, update);
  CHECK(plc.document(did).handle() == "bob.example.com");
  std::vector<PlcLogEntry> log = plc.audit_log(did);
  REQUIRE(log.size() == 2);
  CHECK(verify_plc_audit_log(did, log) == update);

  SUBCASE("a rejected operation carries the directory's message") {
    PlcOperation forged = PlcOperation::update(a.state("mallory.example.com"), update);
    forged.sign(a.signing);
    try {
      plc.submit(did, forged);
      FAIL("submit should have failed");
    } catch (const PlcError& e) {
      CHECK(e.status() == 400);
      CHECK(std::string(e.what()).find("signature does not verify") != std::string::npos);
    }
  }
  SUBCASE("checks before sending") {
    int before = directory.submissions();
    CHECK_THROWS_AS(plc.submit("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", Account().genesis()), VerifyError);
    CHECK_THROWS_AS(plc.submit(did, PlcOperation::update(a.state(), update)), VerifyError);  // unsigned
    CHECK_THROWS_AS(plc.submit("did:web:example.com", update), ParseError);
    CHECK_THROWS_AS(plc.document("did:plc:../../etc/passwd"), ParseError);
    CHECK_THROWS_AS(plc.document("did:plc:AAAAAAAAAAAAAAAAAAAAAAAA"), ParseError);
    CHECK(directory.submissions() == before);
  }
  SUBCASE("tombstoned") {
    PlcOperation tombstone = PlcOperation::tombstone(update);
    tombstone.sign(a.recovery);
    plc.submit(did, tombstone);
    CHECK_THROWS_AS(plc.document(did), ResolutionError);
    CHECK_THROWS_AS(plc.data(did), ResolutionError);
    CHECK(plc.last_op(did).type() == PlcOperation::Type::kTombstone);
    CHECK(verify_plc_audit_log(did, plc.audit_log(did)).type() == PlcOperation::Type::kTombstone);
  }
  CHECK_THROWS_AS(plc.last_op("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), ResolutionError);
}

TEST_CASE("PlcClient against a misbehaving directory") {
  const std::string did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
  test::LoopbackServer http;
  http.server.Get(R"(/did:plc:(\w+)(/.*)?)", [&](const httplib::Request& req, httplib::Response& res) {
    std::string id = req.matches[1];
    if (id == "junkjunkjunkjunkjunkjunk") {
      res.set_content("<html>not json</html>", "text/html");
    } else if (id == "bigbigbigbigbigbigbigbig") {
      res.set_content(R"({"id":")" + did + R"(","x":")" + std::string(100000, 'x') + "\"}", "application/json");
    } else if (id == "errorerrorerrorerrorerro") {
      res.status = 500;
      res.set_content(R"({"error":"InternalError","message":"database on fire"})", "application/json");
    } else if (id == "slowslowslowslowslowslow") {
      http.nap(3000ms);
      res.set_content("{}", "application/json");
    } else if (id == "otherotherotherotherothe") {
      res.set_content(R"({"id":")" + did + "\"}", "application/json");
    } else {
      res.status = 404;
    }
  });
  http.start();
  net::HttpOptions options;
  options.timeout = 500ms;
  PlcClient plc(http.url(), options);
  auto d = [](const char* id) { return std::string("did:plc:") + id; };

  CHECK_THROWS_AS(plc.document(d("junkjunkjunkjunkjunkjunk")), ParseError);
  CHECK_THROWS_AS(plc.last_op(d("junkjunkjunkjunkjunkjunk")), ParseError);
  CHECK_THROWS_AS(plc.audit_log(d("junkjunkjunkjunkjunkjunk")), ParseError);
  CHECK_THROWS_AS(plc.data(d("junkjunkjunkjunkjunkjunk")), ParseError);
  CHECK_THROWS_AS(plc.document(d("bigbigbigbigbigbigbigbig")), net::HttpError);
  CHECK_THROWS_AS(plc.document(d("otherotherotherotherothe")), ResolutionError);
  try {
    plc.document(d("errorerrorerrorerrorerro"));
    FAIL("expected a PlcError");
  } catch (const PlcError& e) {
    CHECK(e.status() == 500);
    CHECK(std::string(e.what()).find("database on fire") != std::string::npos);
  }
  auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(plc.document(d("slowslowslowslowslowslow")), net::HttpError);
  CHECK(std::chrono::steady_clock::now() - start < 2500ms);
}

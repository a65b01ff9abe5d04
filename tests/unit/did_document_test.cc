#include "atcr/identity/did_document.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>

#include "atcr/encoding/base58.h"
#include "atcr/error.h"

using namespace atcr;
using namespace atcr::identity;

namespace {

constexpr const char* kDid = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
constexpr const char* kMultikey = "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF";

// The example document of the atproto DID spec, compact.
const std::string kSpecExample =
    R"({"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/multikey/v1",)"
    R"("https://w3id.org/security/suites/secp256k1-2019/v1"],"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz",)"
    R"("alsoKnownAs":["at://atproto.com"],"verificationMethod":[{"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz#atproto",)"
    R"("type":"Multikey","controller":"did:plc:ewvi7nxzyoun6zhxrhs64oiz",)"
    R"("publicKeyMultibase":"zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"}],)"
    R"("service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://bsky.social"}]})";

// A document with one verification method object (JSON) and no services.
std::string with_method(const std::string& method) {
  return fmt::format(R"({{"id":"{}","alsoKnownAs":[],"verificationMethod":[{}]}})", kDid, method);
}

std::string method_json(const std::string& id, const std::string& type, const std::string& controller,
                        const std::string& multibase) {
  return fmt::format(R"({{"id":"{}","type":"{}","controller":"{}","publicKeyMultibase":"{}"}})", id, type,
                     controller, multibase);
}

}  // namespace

TEST_CASE("the spec's example document parses") {
  DidDocument doc = DidDocument::parse(kSpecExample);
  CHECK(doc.id == kDid);
  CHECK(doc.also_known_as == std::vector<std::string>{"at://atproto.com"});
  CHECK(doc.handle() == "atproto.com");
  REQUIRE(doc.signing_key());
  CHECK(doc.signing_key()->multikey() == kMultikey);
  CHECK(doc.signing_key()->type() == KeyType::kSecp256k1);
  CHECK(doc.pds_endpoint() == "https://bsky.social");
  REQUIRE(doc.services.size() == 1);
  CHECK(doc.services[0].id == "atproto_pds");
  CHECK(doc.service("atproto_pds", "AtprotoPersonalDataServer"));
  CHECK_FALSE(doc.service("atproto_pds", "SomethingElse"));
  CHECK_FALSE(doc.service("atproto_labeler"));
}

TEST_CASE("to_json renders the spec's example byte for byte and round-trips") {
  DidDocument doc = DidDocument::parse(kSpecExample);
  CHECK(doc.to_json() == kSpecExample);
  CHECK(DidDocument::parse(doc.to_json()) == doc);

  DidDocument built;
  built.id = "did:web:example.com";
  built.also_known_as = {"at://alice.example.com", "https://alice.example.com"};
  built.verification_methods.push_back({"atproto", PrivateKey::generate(KeyType::kP256).public_key()});
  built.verification_methods.push_back({"atproto_label", PrivateKey::generate(KeyType::kSecp256k1).public_key()});
  built.services.push_back({"atproto_pds", "AtprotoPersonalDataServer", "https://pds.example.com"});
  built.services.push_back({"atcr_hold", "AtcrHold", "https://hold.example.com:8443"});
  DidDocument again = DidDocument::parse(built.to_json());
  CHECK(again == built);
  CHECK(again.key("atproto_label") == built.verification_methods[1].key);
}

TEST_CASE("relative and absolute ids are both accepted") {
  PublicKey key = PrivateKey::generate(KeyType::kSecp256k1).public_key();
  for (const std::string& id : {std::string("#atproto"), std::string(kDid) + "#atproto"}) {
    DidDocument doc = DidDocument::parse(with_method(method_json(id, "Multikey", kDid, key.multikey())));
    REQUIRE(doc.verification_methods.size() == 1);
    CHECK(doc.verification_methods[0].id == "atproto");
    CHECK(doc.signing_key() == key);
  }
  DidDocument doc = DidDocument::parse(fmt::format(
      R"({{"id":"{0}","service":[{{"id":"{0}#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://a.example"}}]}})",
      kDid));
  CHECK(doc.pds_endpoint() == "https://a.example");
}

TEST_CASE("legacy verification method types, uncompressed and compressed") {
  for (KeyType type : {KeyType::kSecp256k1, KeyType::kP256}) {
    CAPTURE(static_cast<int>(type));
    PublicKey key = PrivateKey::generate(type).public_key();
    const char* legacy_type = type == KeyType::kSecp256k1 ? "EcdsaSecp256k1VerificationKey2019"
                                                          : "EcdsaSecp256r1VerificationKey2019";
    for (const Bytes& point : {key.uncompressed(), key.compressed()}) {
      std::string multibase = "z" + base58::encode(point);
      DidDocument doc = DidDocument::parse(with_method(method_json("#atproto", legacy_type, kDid, multibase)));
      REQUIRE(doc.signing_key());
      CHECK(*doc.signing_key() == key);
      // Serialised again, it is a Multikey.
      CHECK(doc.to_json().find("\"type\":\"Multikey\"") != std::string::npos);
      CHECK(DidDocument::parse(doc.to_json()) == doc);
    }
  }
}

TEST_CASE("what atproto does not use is ignored") {
  PublicKey key = PrivateKey::generate(KeyType::kSecp256k1).public_key();
  std::string json = fmt::format(
      R"({{"@context":"whatever","id":"{0}","unknownField":{{"nested":[1.5,true,null]}},)"
      R"("alsoKnownAs":["https://example.com","at://not a handle","at://Alice.Example.COM","at://bob.example.com"],)"
      R"("verificationMethod":[)"
      R"({{"id":"#key-1","type":"Ed25519VerificationKey2020","controller":"{0}","publicKeyMultibase":"z6Mkabc"}},)"
      R"({{"id":"#other","type":"Multikey","controller":"did:web:someone.else","publicKeyMultibase":"{1}"}},)"
      R"({{"id":"did:web:someone.else#theirs","type":"Multikey","controller":"{0}","publicKeyMultibase":"{1}"}},)"
      R"({{"id":"#ed","type":"Multikey","controller":"{0}","publicKeyMultibase":"z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}},)"
      R"({{"id":"#atproto","type":"Multikey","controller":"{0}","publicKeyMultibase":"{1}","extra":1}}],)"
      R"("service":[{{"id":"#map","type":"X","serviceEndpoint":{{"uri":"https://x"}}}},)"
      R"({{"id":"did:web:someone.else#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://evil"}},)"
      R"({{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example"}}]}})",
      kDid, key.multikey());
  DidDocument doc = DidDocument::parse(json);
  REQUIRE(doc.verification_methods.size() == 1);
  CHECK(doc.signing_key() == key);
  CHECK(doc.handle() == "alice.example.com");  // first valid one, lowercased
  REQUIRE(doc.services.size() == 1);
  CHECK(doc.pds_endpoint() == "https://pds.example");
}

TEST_CASE("handle and PDS lookups are picky") {
  DidDocument doc;
  doc.id = kDid;
  CHECK_FALSE(doc.handle());
  CHECK_FALSE(doc.signing_key());
  CHECK_FALSE(doc.pds_endpoint());
  doc.also_known_as = {"at://", "at://x", "at://did:plc:abc"};
  CHECK_FALSE(doc.handle());
  doc.services = {{"atproto_pds", "AtprotoPersonalDataServer", "ftp://pds.example"}};
  CHECK_FALSE(doc.pds_endpoint());
  doc.services = {{"atproto_pds", "NotAPds", "https://pds.example"}};
  CHECK_FALSE(doc.pds_endpoint());
  doc.services = {{"atproto_pds", "AtprotoPersonalDataServer", "http://localhost:2583"}};
  CHECK(doc.pds_endpoint() == "http://localhost:2583");
}

TEST_CASE("malformed documents are ParseErrors") {
  PublicKey key = PrivateKey::generate(KeyType::kSecp256k1).public_key();
  const std::string good_key = key.multikey();
  const std::vector<std::string> bad = {
      "",
      "not json",
      "[]",
      "\"did:plc:abc\"",
      R"({"alsoKnownAs":[]})",
      R"({"id":42})",
      R"({"id":"not-a-did"})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz#frag"})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","id":"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","alsoKnownAs":"at://a.com"})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","alsoKnownAs":[1]})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","verificationMethod":{}})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","verificationMethod":["#atproto"]})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","verificationMethod":[{"type":"Multikey"}]})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","service":"x"})",
      R"({"id":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","service":[{"id":1}]})",
      // A broken #atproto method is an error, not a missing key.
      with_method(method_json("#atproto", "Multikey", kDid, "zQ3shnotbase58!!")),
      with_method(method_json("#atproto", "Multikey", kDid, "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")),
      with_method(method_json("#atproto", "Ed25519VerificationKey2020", kDid, good_key)),
      with_method(method_json("#atproto", "Multikey", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", good_key)),
      with_method(method_json("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#atproto", "Multikey", kDid, good_key)),
      with_method(R"({"id":"#atproto","type":"Multikey","controller":")" + std::string(kDid) + R"("})"),
      with_method(method_json("#atproto", "EcdsaSecp256k1VerificationKey2019", kDid, "z" + base58::encode(Bytes(65, 4)))),
      with_method(method_json("#atproto", "EcdsaSecp256k1VerificationKey2019", kDid, "u" + good_key)),
      "{\"id\":\"did:plc:ewvi7nxzyoun6zhxrhs64oiz\",\"x\":\"\xff\"}",  // invalid UTF-8
  };
  for (const std::string& json : bad) {
    CAPTURE(json);
    CHECK_THROWS_AS(DidDocument::parse(json), ParseError);
  }
}

TEST_CASE("size and nesting limits") {
  std::string padding(kMaxDidDocumentBytes, ' ');
  std::string doc = fmt::format(R"({{"id":"{}"}})", kDid);
  CHECK_NOTHROW(DidDocument::parse(doc + padding.substr(doc.size())));  // exactly at the limit
  CHECK_THROWS_AS(DidDocument::parse(doc + padding), ParseError);

  // Deep nesting within the size limit must neither crash nor pass.
  std::string deep = std::string(30000, '[') + std::string(30000, ']');
  CHECK_THROWS_AS(DidDocument::parse(deep), ParseError);
  std::string nested = fmt::format(R"({{"id":"{}","x":{}}})", kDid, deep);
  CHECK(DidDocument::parse(nested).id == kDid);
}

// oci: io.atcr.manifest / io.atcr.tag records, the hold's layer records,
// notifyManifest's manifest object, and record keys.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/error.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/hold_records.h"
#include "atcr/oci/records.h"

using namespace atcr;
using namespace atcr::oci;

namespace {

const std::string kD1 = "sha256:" + std::string(64, '1');
const std::string kD2 = "sha256:" + std::string(64, '2');
const std::string kD3 = "sha256:" + std::string(64, '3');
const std::string kUser = "did:plc:pddp4xt5lgnv2qsegbzzs4xg";
const std::string kHold = "did:web:hold01.atcr.io";
const std::string kWhen = "2026-03-01T12:00:00.000Z";

Manifest image() {
  return Manifest::parse(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example+type",)"
      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + kD1 + R"(","size":10},)"
      R"("layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + kD2 +
          R"(","size":20,"annotations":{"k":"v"},"urls":["https://example.com/l"]}],)"
      R"("subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kD3 + R"(","size":30},)"
      R"("annotations":{"org.opencontainers.image.title":"My App"}})",
      "");
}

Manifest index() {
  return Manifest::parse(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
      R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" + kD1 +
          R"(","size":5,"platform":{"architecture":"arm64","os":"linux","variant":"v8","os.version":"1","os.features":["f"]}}]})",
      "");
}

Value blob_ref() {
  return json::parse(
      R"({"$type":"blob","ref":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},"mimeType":"application/vnd.oci.image.manifest.v1+json","size":123})");
}

// Through DAG-CBOR and back, as the PDS stores it.
Value stored(const Value& v) { return cbor::decode(cbor::encode(v)); }

}  // namespace

TEST_CASE("records: io.atcr.manifest for an image round-trips") {
  Manifest m = image();
  Value rec = manifest_record(m, "team/app", m.digest, kHold, blob_ref(), kWhen);
  json::validate_record(rec);
  CHECK(rec.at("$type").as_string() == "io.atcr.manifest");
  CHECK(rec.at("repository").as_string() == "team/app");
  CHECK(rec.at("digest").as_string() == m.digest.str());
  CHECK(rec.at("mediaType").as_string() == "application/vnd.oci.image.manifest.v1+json");
  CHECK(rec.at("schemaVersion").as_integer() == 2);
  CHECK(rec.at("createdAt").as_string() == kWhen);
  CHECK(rec.at("holdDid").as_string() == kHold);
  CHECK(rec.at("config").at("size").as_integer() == 10);
  CHECK(rec.at("layers").as_array().at(0).at("urls").as_array().at(0).as_string() == "https://example.com/l");
  CHECK(rec.at("manifestBlob").at("$type").as_string() == "blob");
  CHECK(rec.find("manifests") == nullptr);

  ManifestRecord r = ManifestRecord::from_value(stored(rec));
  CHECK(r.digest == m.digest);
  CHECK(r.repository == "team/app");
  CHECK(r.media_type == m.media_type);
  CHECK(r.hold_did == kHold);
  CHECK(r.created_at == kWhen);
  REQUIRE(r.manifest_blob);
  CHECK(r.manifest_blob->to_string() == "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity");
  CHECK(r.config == m.config);
  CHECK(r.layers == m.layers);
  CHECK(r.subject == m.subject);
  CHECK(r.artifact_type == "application/vnd.example+type");
  CHECK(r.config_media_type() == "application/vnd.oci.image.config.v1+json");
  CHECK(r.annotations == m.annotations);
  // Through JSON too (what listRecords returns).
  CHECK(ManifestRecord::from_value(json::parse(json::serialize(rec))).layers == m.layers);
}

TEST_CASE("records: io.atcr.manifest for an index keeps platforms") {
  Manifest m = index();
  Value rec = manifest_record(m, "app", m.digest, kHold, Value(), kWhen);
  CHECK(rec.find("manifestBlob") == nullptr);
  CHECK(rec.find("config") == nullptr);
  const Value& p = rec.at("manifests").as_array().at(0).at("platform");
  CHECK(p.at("os.version").as_string() == "1");
  ManifestRecord r = ManifestRecord::from_value(stored(rec));
  CHECK(r.manifests == m.manifests);
  CHECK(r.config_media_type().empty());
}

TEST_CASE("records: a manifest record too large for a PDS write keeps to a summary") {
  Manifest m = image();
  // Large annotations go first.
  m.annotations["org.example.pad"] = std::string(kMaxManifestRecordJson, 'x');
  Value rec = manifest_record(m, "app", m.digest, kHold, blob_ref(), kWhen);
  CHECK(json::serialize(rec).size() <= kMaxManifestRecordJson);
  CHECK(rec.find("annotations") == nullptr);
  ManifestRecord back = ManifestRecord::from_value(rec);
  REQUIRE(back.layers.size() == 1);
  CHECK(back.layers[0].annotations.empty());
  CHECK(back.subject.has_value());
  CHECK(back.config_media_type() == "application/vnd.oci.image.config.v1+json");
  // Then the layer list.
  m = image();
  m.layers.assign(10000, m.layers[0]);
  rec = manifest_record(m, "app", m.digest, kHold, blob_ref(), kWhen);
  CHECK(json::serialize(rec).size() <= kMaxManifestRecordJson);
  back = ManifestRecord::from_value(rec);
  CHECK(back.layers.empty());
  CHECK(back.manifest_blob.has_value());
  CHECK(back.digest == m.digest);
  // notifyManifest's object lists each blob once, without annotations.
  ManifestInfo info = ManifestInfo::from_value(manifest_info(m));
  REQUIRE(info.layers.size() == 1);
  CHECK(info.layers[0].annotations.empty());
}

TEST_CASE("records: manifest_record refuses invalid arguments") {
  Manifest m = image();
  CHECK_THROWS_AS(manifest_record(m, "Team/App", m.digest, kHold, Value(), kWhen), RegistryError);
  CHECK_THROWS_AS(manifest_record(m, "app", m.digest, "hold01.atcr.io", Value(), kWhen), ParseError);
  CHECK_THROWS_AS(manifest_record(m, "app", m.digest, kHold, Value(), "yesterday"), ParseError);
}

TEST_CASE("records: lenient reading of older manifest records") {
  // Legacy: holdEndpoint instead of holdDid, legacy blob form, camelCase
  // platform keys, no mediaType on a descriptor, no optional fields.
  Value legacy = json::parse(R"({"$type":"io.atcr.manifest","repository":"app","digest":")" + kD1 +
                             R"(","schemaVersion":2,"createdAt":"2025-01-01T00:00:00Z","holdEndpoint":"https://hold.example.com",)"
                             R"("manifestBlob":{"cid":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity","mimeType":"application/json"},)"
                             R"("manifests":[{"digest":")" + kD2 +
                             R"(","size":1,"platform":{"architecture":"amd64","os":"linux","osVersion":"x","osFeatures":["y"]}}]})");
  ManifestRecord r = ManifestRecord::from_value(legacy);
  CHECK(r.hold_did.empty());
  CHECK(r.hold_endpoint == "https://hold.example.com");
  CHECK(r.media_type.empty());
  REQUIRE(r.manifest_blob);
  REQUIRE(r.manifests.size() == 1);
  CHECK(r.manifests[0].media_type.empty());
  CHECK(r.manifests[0].platform->os_version == "x");
  CHECK(r.manifests[0].platform->os_features == std::vector<std::string>{"y"});

  Value minimal = json::parse(R"({"repository":"app","digest":")" + kD1 + R"("})");
  ManifestRecord m = ManifestRecord::from_value(minimal);
  CHECK(m.schema_version == 2);
  CHECK_FALSE(m.manifest_blob);
  CHECK(m.layers.empty());

  // But wrong types and bad digests are errors naming the field.
  auto fails = [](const std::string& text, const std::string& needle) {
    CAPTURE(text);
    try {
      ManifestRecord::from_value(json::parse(text));
      FAIL("accepted");
    } catch (const ParseError& e) {
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  fails(R"({"repository":"app"})", "digest");
  fails(R"({"repository":"app","digest":"sha256:x"})", "digest");
  fails(R"({"digest":")" + kD1 + R"("})", "repository");
  fails(R"({"repository":1,"digest":")" + kD1 + R"("})", "repository");
  fails(R"({"repository":"app","digest":")" + kD1 + R"(","layers":{}})", "layers");
  fails(R"({"repository":"app","digest":")" + kD1 + R"(","layers":[{"digest":")" + kD2 + R"("}]})", "layers[0].size");
  fails(R"({"repository":"app","digest":")" + kD1 + R"(","layers":[{"digest":")" + kD2 + R"(","size":-4}]})", "layers[0].size");
  fails(R"({"repository":"app","digest":")" + kD1 + R"(","config":{"digest":"nope","size":1}})", "config.digest");
  fails(R"({"repository":"app","digest":")" + kD1 + R"(","manifestBlob":{"ref":"x"}})", "manifestBlob");
  fails(R"([])", "map");
}

TEST_CASE("records: io.atcr.tag round trip and both lexicon shapes") {
  Digest d = Digest::parse(kD1);
  std::string uri = manifest_uri(kUser, legacy_manifest_rkey("team/app", d));
  CHECK(uri == "at://" + kUser + "/io.atcr.manifest/team~app:" + std::string(64, '1'));
  CHECK(syntax::is_valid_at_uri(uri));
  Value rec = tag_record("team/app", "v1.0", uri, d, kWhen);
  json::validate_record(rec);
  CHECK(rec.at("manifestDigest").as_string() == kD1);
  CHECK(rec.at("createdAt").as_string() == kWhen);
  CHECK(rec.at("updatedAt").as_string() == kWhen);
  TagRecord t = TagRecord::from_value(stored(rec));
  CHECK(t.repository == "team/app");
  CHECK(t.tag == "v1.0");
  CHECK(t.manifest_uri == uri);
  CHECK(t.digest() == d);

  // A later retag keeps createdAt and moves updatedAt.
  Value retag = tag_record("app", "latest", uri, d, kWhen, "2026-04-01T00:00:00Z");
  CHECK(retag.at("updatedAt").as_string() == "2026-04-01T00:00:00Z");

  // Newer shape: manifest URI and updatedAt only; digest from the rkey.
  TagRecord newer = TagRecord::from_value(json::parse(
      R"({"repository":"app","tag":"latest","manifest":")" + uri + R"(","updatedAt":"2026-01-01T00:00:00Z"})"));
  CHECK_FALSE(newer.manifest_digest);
  CHECK(newer.digest() == d);
  CHECK(newer.created_at.empty());
  // Older shape: manifestDigest only.
  TagRecord older = TagRecord::from_value(json::parse(
      R"({"repository":"app","tag":"latest","manifestDigest":")" + kD2 + R"(","createdAt":"2025-01-01T00:00:00Z"})"));
  CHECK(older.digest()->str() == kD2);
  // A TID-keyed manifest URI says nothing about the digest.
  TagRecord tid = TagRecord::from_value(json::parse(
      R"({"repository":"app","tag":"x","manifest":"at://did:plc:abc/io.atcr.manifest/3jzfcijpj2z2a"})"));
  CHECK_FALSE(tid.digest());
  CHECK_THROWS_AS(TagRecord::from_value(json::parse(R"({"repository":"app"})")), ParseError);
  CHECK_THROWS_AS(TagRecord::from_value(json::parse(R"({"repository":"app","tag":"x","manifestDigest":"bad"})")),
                  ParseError);
  CHECK_THROWS_AS(tag_record("app", "-bad", uri, d, kWhen), RegistryError);
  CHECK_THROWS_AS(tag_record("app", "x", "not-a-uri", d, kWhen), ParseError);
}

TEST_CASE("records: record keys") {
  Digest d = Digest::parse(kD1);
  CHECK(legacy_manifest_rkey("app", d) == "app:" + std::string(64, '1'));
  CHECK(legacy_manifest_rkey("team/app", d) == "team~app:" + std::string(64, '1'));
  CHECK(syntax::is_valid_record_key(legacy_manifest_rkey("a/b.c/d_e-f", d)));
  CHECK(syntax::is_valid_record_key(
      legacy_manifest_rkey(std::string(255, 'a'), Digest::parse("sha512:" + std::string(128, 'f')))));
  CHECK_FALSE(syntax::is_valid_tid(legacy_manifest_rkey("app", d)));
  // Manifest AT-URIs and back.
  std::string uri = manifest_uri(kUser, "3jzfcijpj2z2a");
  CHECK(uri == "at://" + kUser + "/io.atcr.manifest/3jzfcijpj2z2a");
  CHECK(manifest_rkey_of(uri, kUser) == "3jzfcijpj2z2a");
  CHECK_FALSE(manifest_rkey_of(uri, "did:plc:other"));
  CHECK_FALSE(manifest_rkey_of("at://" + kUser + "/io.atcr.tag/3jzfcijpj2z2a", kUser));
  CHECK_FALSE(manifest_rkey_of("at://" + kUser + "/io.atcr.manifest/a/b", kUser));
  CHECK_THROWS_AS(manifest_uri(kUser, ".."), ParseError);

  CHECK(tag_rkey("app", "latest") == "app:latest");
  CHECK(tag_rkey("team/app", "v1.0") == "team~app:v1.0");
  // Injective on names that a separator-joining scheme would confuse.
  const std::pair<std::string, std::string> tricky[] = {
      {"a", "b_c"},   {"a_b", "c"},   {"a/b", "c"},   {"a", "b"},     {"a.b", "c"},  {"a", "b.c"},
      {"a-b", "c"},   {"a", "b-c"},   {"a__b", "c"},  {"a/b_c", "d"}, {"a/b", "c_d"}, {"a_b/c", "d"},
      {"a/b/c", "d"}, {"a/b", "c/d"}, {"ab", "c"},    {"a", "bc"},    {"a", "B"},    {"a", "b"},
  };
  std::set<std::string> keys;
  std::set<std::pair<std::string, std::string>> inputs;
  for (const auto& [repo, tag] : tricky) {
    if (repo == "a/b" && tag == "c/d") {
      CHECK_THROWS_AS(tag_rkey(repo, tag), RegistryError);  // not a tag
      continue;
    }
    std::string key = tag_rkey(repo, tag);
    CAPTURE(key);
    CHECK(syntax::is_valid_record_key(key));
    if (inputs.insert({repo, tag}).second) CHECK(keys.insert(key).second);
  }
  // The longest names still make a valid key.
  std::string long_repo(255, 'a');
  std::string long_tag(128, 'b');
  CHECK(syntax::is_valid_record_key(tag_rkey(long_repo, long_tag)));
  CHECK_THROWS_AS(tag_rkey("App", "x"), RegistryError);
  CHECK_THROWS_AS(tag_rkey("a/../b", "x"), RegistryError);
}

TEST_CASE("records: stats_rkey known vectors") {
  // python3: base64.b32encode(hashlib.sha256(b"did:plc:pddp4xt5lgnv2qsegbzzs4xg/myapp").digest()[:16])
  //          .decode().lower().rstrip("=")
  CHECK(stats_rkey("did:plc:pddp4xt5lgnv2qsegbzzs4xg", "myapp") == "mgnycupgpywkumctb2zc7zatle");
  CHECK(stats_rkey("did:plc:abc", "team/app") == "vp7hxf6ib3wccqqztgc4j6f7aq");
  CHECK(syntax::is_valid_record_key(stats_rkey("did:plc:abc", "team/app")));
}

TEST_CASE("hold records: notifyManifest manifest object round trip") {
  Manifest m = image();
  Value info = manifest_info(m);
  CHECK(info.at("mediaType").as_string() == m.media_type);
  CHECK(info.at("layers").as_array().size() == 1);
  CHECK(info.at("manifests").as_array().empty());
  ManifestInfo back = ManifestInfo::from_value(json::parse(json::serialize(info)));
  CHECK(back.media_type == m.media_type);
  CHECK(back.config == m.config);
  REQUIRE(back.layers.size() == 1);
  CHECK(back.layers[0].digest == m.layers[0].digest);
  CHECK(back.layers[0].urls == m.layers[0].urls);
  CHECK(back.layers[0].annotations.empty());  // the hold does not need them
  CHECK(back.manifests.empty());

  Manifest i = index();
  ManifestInfo ib = ManifestInfo::from_value(stored(manifest_info(i)));
  CHECK_FALSE(ib.config);
  CHECK(ib.manifests == i.manifests);

  CHECK_THROWS_AS(ManifestInfo::from_value(Value("x")), ParseError);
  CHECK_THROWS_AS(ManifestInfo::from_value(json::parse(R"({"layers":[{"digest":"sha256:1","size":1}]})")), ParseError);
  CHECK_THROWS_AS(ManifestInfo::from_value(json::parse(R"({"layers":[{"digest":")" + kD1 + R"(","size":-1}]})")),
                  ParseError);
}

TEST_CASE("hold records: io.atcr.hold.layer carries both lexicon versions' fields") {
  Manifest m = image();
  std::string uri = manifest_uri(kUser, "3jzfcijpj2z2a");
  Value rec = layer_record(m.layers[0], "team/app", kUser, "alice.bsky.social", uri, kWhen);
  json::validate_record(rec);
  CHECK(rec.at("$type").as_string() == "io.atcr.hold.layer");
  CHECK(rec.at("digest").as_string() == kD2);
  CHECK(rec.at("size").as_integer() == 20);
  CHECK(rec.at("mediaType").as_string() == "application/vnd.oci.image.layer.v1.tar+gzip");
  CHECK(rec.at("repository").as_string() == "team/app");
  CHECK(rec.at("userDid").as_string() == kUser);
  CHECK(rec.at("userHandle").as_string() == "alice.bsky.social");
  CHECK(rec.at("manifest").as_string() == uri);
  CHECK(rec.at("createdAt").as_string() == kWhen);
  LayerRecord r = LayerRecord::from_value(stored(rec));
  CHECK(r.digest.str() == kD2);
  CHECK(r.size == 20);
  CHECK(r.user_did == kUser);
  CHECK(r.manifest_uri == uri);
  CHECK(r.repository == "team/app");

  CHECK(layer_record(m.layers[0], "app", kUser, "", uri, kWhen).find("userHandle") == nullptr);
  CHECK_THROWS_AS(layer_record(m.layers[0], "app", "alice", "", uri, kWhen), ParseError);
  // The older lexicon's records have no manifest URI.
  LayerRecord old = LayerRecord::from_value(json::parse(R"({"digest":")" + kD1 +
                                                        R"(","size":5,"mediaType":"x/y","repository":"app","userDid":")" +
                                                        kUser + R"(","userHandle":"a.b.c","createdAt":"2025-01-01T00:00:00Z"})"));
  CHECK(old.manifest_uri.empty());
  CHECK(old.user_handle == "a.b.c");
  CHECK_THROWS_AS(LayerRecord::from_value(json::parse(R"({"digest":")" + kD1 + R"(","userDid":"did:plc:x"})")), ParseError);
}

// oci: Manifest::parse against the image-spec and distribution-spec rules.
#include <doctest/doctest.h>

#include <string>

#include "atcr/oci/errors.h"
#include "atcr/oci/manifest.h"
#include "atcr/oci/media_types.h"

using namespace atcr;
using namespace atcr::oci;

namespace {

const std::string kD1 = "sha256:" + std::string(64, '1');
const std::string kD2 = "sha256:" + std::string(64, '2');
const std::string kD3 = "sha256:" + std::string(64, '3');

// image-spec manifest.md's example, trimmed.
std::string oci_manifest(bool with_media_type = true) {
  return std::string("{\"schemaVersion\":2,") +
         (with_media_type ? "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," : "") +
         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + kD1 +
         R"(","size":7023},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + kD2 +
         R"(","size":32654},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + kD3 +
         R"(","size":16724}],"annotations":{"com.example.key1":"value1"}})";
}

std::string oci_index(bool with_media_type = true) {
  return std::string("{\"schemaVersion\":2,") +
         (with_media_type ? "\"mediaType\":\"application/vnd.oci.image.index.v1+json\"," : "") +
         R"("manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7143,"digest":")" + kD1 +
         R"(","platform":{"architecture":"ppc64le","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7682,"digest":")" +
         kD2 +
         R"(","platform":{"architecture":"amd64","os":"windows","os.version":"10.0.14393.1066","os.features":["win32k"],"variant":"v2"}}],"annotations":{"com.example.key1":"value1"}})";
}

std::string docker_manifest() {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":")" +
         kD1 + R"("},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32654,"digest":")" +
         kD2 + R"("},{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":16724,"digest":")" + kD3 +
         R"(","urls":["https://mcr.microsoft.com/v2/windows/blobs/x"]}]})";
}

std::string docker_list() {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":7143,"digest":")" +
         kD1 + R"(","platform":{"architecture":"arm","os":"linux","variant":"v7"}}]})";
}

// The error a body produces, or "" when it parses.
std::string problem(const std::string& body, std::string_view content_type = "") {
  try {
    Manifest::parse(body, content_type);
    return {};
  } catch (const RegistryError& e) {
    CHECK(e.code() == ErrorCode::kManifestInvalid);
    return e.message();
  }
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("manifest: OCI image manifest") {
  std::string body = oci_manifest();
  Manifest m = Manifest::parse(body, media_type::kImageManifest);
  CHECK(m.kind == ManifestKind::kImageManifest);
  CHECK(m.media_type == media_type::kImageManifest);
  CHECK(m.media_type_in_body);
  CHECK(m.schema_version == 2);
  CHECK(m.digest == Digest::of(body));
  REQUIRE(m.config);
  CHECK(m.config->digest.str() == kD1);
  CHECK(m.config->size == 7023);
  REQUIRE(m.layers.size() == 2);
  CHECK(m.layers[1].digest.str() == kD3);
  CHECK(m.annotations.at("com.example.key1") == "value1");
  CHECK_FALSE(m.is_index());
  CHECK(m.referenced_blobs().size() == 3);
  CHECK(m.referenced_manifests().empty());
}

TEST_CASE("manifest: OCI index with platforms") {
  Manifest m = Manifest::parse(oci_index(), "application/vnd.oci.image.index.v1+json");
  CHECK(m.kind == ManifestKind::kImageIndex);
  CHECK(m.is_index());
  REQUIRE(m.manifests.size() == 2);
  REQUIRE(m.manifests[1].platform);
  const Platform& p = *m.manifests[1].platform;
  CHECK(p.architecture == "amd64");
  CHECK(p.os == "windows");
  CHECK(p.os_version == "10.0.14393.1066");
  CHECK(p.os_features == std::vector<std::string>{"win32k"});
  CHECK(p.variant == "v2");
  CHECK(m.referenced_blobs().empty());
  CHECK(m.referenced_manifests().size() == 2);
  CHECK_FALSE(m.config);
}

TEST_CASE("manifest: Docker schema 2 and manifest list") {
  Manifest m = Manifest::parse(docker_manifest(), media_type::kDockerManifest);
  CHECK(m.kind == ManifestKind::kDockerManifest);
  CHECK(m.layers.size() == 2);
  // The foreign layer with urls is fetched from its urls, not the registry.
  auto blobs = m.referenced_blobs();
  REQUIRE(blobs.size() == 2);
  CHECK(blobs[0].digest.str() == kD1);
  CHECK(blobs[1].digest.str() == kD2);
  // The distribution-spec: a non-distributable layer need not be present,
  // urls or not; nor need any layer with urls.
  std::string no_urls = replace(docker_manifest(), R"(,"urls":["https://mcr.microsoft.com/v2/windows/blobs/x"])", "");
  Manifest without = Manifest::parse(no_urls, "");
  CHECK(without.referenced_blobs().size() == 2);
  CHECK(is_non_distributable(without.layers.back()));
  Descriptor plain = without.layers.front();
  CHECK_FALSE(is_non_distributable(plain));
  plain.urls = {"https://example.com/blob"};
  CHECK(is_non_distributable(plain));
  plain.urls.clear();
  plain.media_type = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
  CHECK(is_non_distributable(plain));

  Manifest l = Manifest::parse(docker_list(), media_type::kDockerManifestList);
  CHECK(l.kind == ManifestKind::kDockerManifestList);
  CHECK(l.manifests.at(0).platform->variant == "v7");
  CHECK(l.referenced_manifests().size() == 1);
}

TEST_CASE("manifest: media type from body, Content-Type, or shape") {
  // Body without mediaType: the Content-Type decides...
  CHECK(Manifest::parse(oci_manifest(false), media_type::kImageManifest).kind == ManifestKind::kImageManifest);
  CHECK(Manifest::parse(oci_index(false), media_type::kImageIndex).kind == ManifestKind::kImageIndex);
  // ...and without one, the shape.
  Manifest shaped = Manifest::parse(oci_index(false), "");
  CHECK(shaped.kind == ManifestKind::kImageIndex);
  CHECK_FALSE(shaped.media_type_in_body);
  CHECK(shaped.media_type == media_type::kImageIndex);
  CHECK(Manifest::parse(oci_manifest(false), "application/json").kind == ManifestKind::kImageManifest);
  // Parameters, case and whitespace of the header are ignored.
  CHECK_NOTHROW(Manifest::parse(oci_manifest(), " Application/VND.oci.image.manifest.v1+json ; charset=utf-8"));
  CHECK(content_type_media_type("Text/Plain; x=y") == "text/plain");
}

TEST_CASE("manifest: Content-Type mismatches are refused") {
  CHECK(problem(oci_manifest(), media_type::kImageIndex).find("does not match the Content-Type") != std::string::npos);
  CHECK(problem(oci_manifest(), media_type::kDockerManifest) != "");
  CHECK(problem(docker_manifest(), media_type::kImageManifest) != "");
  // An index body sent as an image manifest (no mediaType): shape rules catch it.
  CHECK(problem(oci_index(false), media_type::kImageManifest).find("manifests") != std::string::npos);
  CHECK(problem(oci_manifest(false), media_type::kImageIndex).find("config") != std::string::npos);
  // Unknown manifest types.
  CHECK(problem(oci_manifest(false), "application/vnd.oci.image.config.v1+json") != "");
  CHECK(problem(oci_manifest(false), "text/html") != "");
  // Docker schema 2 must name itself.
  std::string unnamed = replace(docker_manifest(), R"("mediaType":"application/vnd.docker.distribution.manifest.v2+json",)", "");
  CHECK(problem(unnamed, media_type::kDockerManifest).find("required") != std::string::npos);
  // Schema 1 is refused with a reason.
  std::string schema1 = replace(docker_manifest(), "manifest.v2+json", "manifest.v1+prettyjws");
  CHECK(problem(schema1, "").find("schema 1") != std::string::npos);
}

TEST_CASE("manifest: structural MUSTs") {
  CHECK(problem(replace(oci_manifest(), "\"schemaVersion\":2,", "")) == "schemaVersion: is required");
  CHECK(problem(replace(oci_manifest(), "\"schemaVersion\":2", "\"schemaVersion\":1")) == "schemaVersion: must be 2");
  CHECK(problem(replace(oci_manifest(), "\"schemaVersion\":2", "\"schemaVersion\":\"2\"")) != "");
  CHECK(problem(replace(oci_manifest(), "\"schemaVersion\":2", "\"schemaVersion\":2.0")) != "");
  // An image manifest needs a config.
  std::string no_config = oci_manifest();
  no_config = replace(no_config, no_config.substr(no_config.find("\"config\""), no_config.find("\"layers\"") - no_config.find("\"config\"")), "");
  CHECK(problem(no_config) == "config: is required in an image manifest");
  // Missing layers are taken as empty (as docker/distribution does).
  std::string no_layers = R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":")" + kD1 + R"(","size":2}})";
  CHECK(Manifest::parse(no_layers, "").layers.empty());
  // An index needs manifests and must not have config or layers.
  CHECK(problem(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"})") != "");
  CHECK(problem(replace(oci_index(), "\"manifests\":", "\"layers\":[],\"manifests\":")).find("layers") != std::string::npos);
  CHECK(problem(replace(oci_manifest(), "\"layers\":", "\"manifests\":[],\"layers\":")).find("manifests") != std::string::npos);
  // The body must be a JSON object.
  CHECK(problem("[]") != "");
  CHECK(problem("2") != "");
  CHECK(problem("") != "");
  CHECK(problem(oci_manifest() + "x") != "");
  CHECK(problem("{\"schemaVersion\":2,") != "");
  // Duplicate keys are ambiguous.
  CHECK(problem(replace(oci_manifest(), "\"schemaVersion\":2,", "\"schemaVersion\":2,\"schemaVersion\":2,")).find("duplicate") != std::string::npos);
  CHECK(problem(replace(oci_manifest(), "\"size\":7023", "\"size\":7023,\"size\":1")).find("duplicate") != std::string::npos);
  // Unknown fields are ignored.
  CHECK(problem(replace(oci_manifest(), "\"schemaVersion\":2,", "\"schemaVersion\":2,\"x-future\":{\"a\":[1,2]},")) == "");
}

TEST_CASE("manifest: descriptors") {
  std::string good = oci_manifest();
  struct Case {
    std::string from, to, field;
  };
  const Case cases[] = {
      {kD2, "sha256:abc", "layers[0].digest"},
      {kD2, "sha256:" + std::string(64, 'A'), "layers[0].digest"},
      {kD2, "md5:d41d8cd98f00b204e9800998ecf8427e", "layers[0].digest"},
      {"\"digest\":\"" + kD1 + "\",", "", "config.digest"},
      {"\"size\":32654", "\"size\":-1", "layers[0].size"},
      {"\"size\":32654", "\"size\":1.5", "layers[0].size"},
      {"\"size\":32654", "\"size\":\"1\"", "layers[0].size"},
      {"\"size\":32654", "\"size\":18446744073709551615", "layers[0].size"},
      {",\"size\":7023", "", "config.size"},
      {"\"mediaType\":\"application/vnd.oci.image.config.v1+json\",", "", "config.mediaType"},
      {"application/vnd.oci.image.config.v1+json", "not a type", "config.mediaType"},
      {"\"size\":32654", "\"size\":32654,\"urls\":[\"not a uri\"]", "layers[0].urls[0]"},
      {"\"size\":32654", "\"size\":32654,\"urls\":\"https://x\"", "layers[0].urls"},
      {"\"size\":32654", "\"size\":32654,\"annotations\":{\"a\":1}", "layers[0].annotations.a"},
      {"\"size\":32654", "\"size\":32654,\"platform\":{\"os\":\"linux\"}", "layers[0].platform.architecture"},
      {"\"size\":32654", "\"size\":32654,\"artifactType\":\"nope\"", "layers[0].artifactType"},
      {"\"layers\":[", "\"layers\":[1,", "layers[0]"},
      {"\"layers\":[", "\"layers\":{},\"x\":[", "layers"},
      {"\"annotations\":{\"com.example.key1\":\"value1\"}", "\"annotations\":[]", "annotations"},
      {"\"schemaVersion\":2,", "\"schemaVersion\":2,\"subject\":{\"mediaType\":\"a/b\"},", "subject.digest"},
      {"\"schemaVersion\":2,", "\"schemaVersion\":2,\"artifactType\":7,", "artifactType"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.to);
    std::string why = problem(replace(good, c.from, c.to));
    CHECK(why.starts_with(c.field + ":"));
  }
  // The detail names the field for clients.
  try {
    Manifest::parse(replace(good, "\"size\":32654", "\"size\":-1"), "");
    FAIL("accepted a negative size");
  } catch (const RegistryError& e) {
    CHECK(e.detail().at("field").as_string() == "layers[0].size");
    CHECK(e.http_status() == 400);
  }
}

TEST_CASE("manifest: subject, artifactType and the largest sizes") {
  std::string body = replace(oci_manifest(), "\"schemaVersion\":2,",
                             "\"schemaVersion\":2,\"artifactType\":\"application/vnd.example.sbom\",\"subject\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" +
                                 kD3 + "\",\"size\":9223372036854775807},");
  Manifest m = Manifest::parse(body, "");
  REQUIRE(m.subject);
  CHECK(m.subject->size == INT64_MAX);
  CHECK(m.artifact_type == "application/vnd.example.sbom");
  // The subject need not exist, so it is not a reference to check.
  CHECK(m.referenced_blobs().size() == 3);
}

TEST_CASE("manifest: size limit and encoding") {
  std::string pad(Manifest::kMaxBytes, ' ');
  std::string big = oci_manifest() + pad;
  try {
    Manifest::parse(big, "");
    FAIL("accepted an oversized manifest");
  } catch (const RegistryError& e) {
    CHECK(e.code() == ErrorCode::kManifestInvalid);
    CHECK(e.http_status() == 413);
  }
  // Just under the limit (trailing whitespace is valid JSON).
  std::string fits = oci_manifest();
  fits += std::string(Manifest::kMaxBytes - fits.size(), ' ');
  CHECK_NOTHROW(Manifest::parse(fits, ""));
  // Invalid UTF-8 in a string, and a NUL byte.
  CHECK(problem(replace(oci_manifest(), "value1", "val\xff")) != "");
  CHECK(problem(replace(oci_manifest(), "value1", std::string("va\0l", 4))) != "");
  // An escaped lone surrogate decodes to bytes that are not UTF-8: refused
  // in kept strings (records must be valid UTF-8), fine in ignored fields.
  CHECK(problem(replace(oci_manifest(), "value1", "\\udc00")).find("surrogate") != std::string::npos);
  CHECK(problem(replace(oci_manifest(), "com.example.key1", "\\udfff")).find("surrogate") != std::string::npos);
  CHECK(problem(replace(oci_manifest(), "value1", "\\ud83d\\ude00")) == "");
  CHECK(problem(replace(oci_manifest(), "\"schemaVersion\":2,", "\"schemaVersion\":2,\"x\":\"\\udc00\",")) == "");
  // Deep nesting in an ignored field does not blow the stack.
  std::string deep = replace(oci_manifest(), "\"schemaVersion\":2,",
                             "\"schemaVersion\":2,\"x\":" + std::string(100000, '[') + std::string(100000, ']') + ",");
  CHECK(problem(deep) == "");
}

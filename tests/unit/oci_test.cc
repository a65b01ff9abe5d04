// oci: distribution error codes and bodies, media types.
#include <doctest/doctest.h>

#include "atcr/data/json.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/media_types.h"

using namespace atcr;
using namespace atcr::oci;

TEST_CASE("errors: every code has its spec name and HTTP status") {
  struct Row {
    ErrorCode code;
    const char* name;
    int status;
  };
  const Row rows[] = {
      {ErrorCode::kBlobUnknown, "BLOB_UNKNOWN", 404},
      {ErrorCode::kBlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400},
      {ErrorCode::kBlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404},
      {ErrorCode::kDigestInvalid, "DIGEST_INVALID", 400},
      {ErrorCode::kManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400},
      {ErrorCode::kManifestInvalid, "MANIFEST_INVALID", 400},
      {ErrorCode::kManifestUnknown, "MANIFEST_UNKNOWN", 404},
      {ErrorCode::kNameInvalid, "NAME_INVALID", 400},
      {ErrorCode::kNameUnknown, "NAME_UNKNOWN", 404},
      {ErrorCode::kSizeInvalid, "SIZE_INVALID", 400},
      {ErrorCode::kUnauthorized, "UNAUTHORIZED", 401},
      {ErrorCode::kDenied, "DENIED", 403},
      {ErrorCode::kUnsupported, "UNSUPPORTED", 405},
      {ErrorCode::kTooManyRequests, "TOOMANYREQUESTS", 429},
      {ErrorCode::kRangeInvalid, "RANGE_INVALID", 416},
      {ErrorCode::kTagInvalid, "TAG_INVALID", 400},
      {ErrorCode::kPaginationNumberInvalid, "PAGINATION_NUMBER_INVALID", 400},
      {ErrorCode::kUnavailable, "UNAVAILABLE", 503},
      {ErrorCode::kUnknown, "UNKNOWN", 500},
  };
  for (const Row& r : rows) {
    CAPTURE(r.name);
    CHECK(code_name(r.code) == r.name);
    CHECK(code_status(r.code) == r.status);
    CHECK(!default_message(r.code).empty());
    CHECK(code_from_name(r.name) == r.code);
  }
  CHECK(!code_from_name("blob_unknown"));
  CHECK(!code_from_name("NOPE"));
}

TEST_CASE("errors: RegistryError carries code, message, detail and status") {
  RegistryError plain(ErrorCode::kBlobUnknown);
  CHECK(plain.message() == "blob unknown to registry");
  CHECK(plain.http_status() == 404);
  CHECK(plain.detail().is_null());
  CHECK(std::string(plain.what()) == "BLOB_UNKNOWN: blob unknown to registry");

  RegistryError big(ErrorCode::kManifestInvalid, "too big", Value(Value::Map{{"limit", 4}}), 413);
  CHECK(big.http_status() == 413);
  CHECK(big.code() == ErrorCode::kManifestInvalid);
  // Catchable as the library's base error.
  CHECK_THROWS_AS(throw RegistryError(ErrorCode::kDenied), atcr::Error);
}

TEST_CASE("errors: error_body is the distribution-spec JSON shape") {
  Value body = json::parse(error_body(ErrorCode::kNameUnknown));
  const Value& errors = body.at("errors");
  REQUIRE(errors.as_array().size() == 1);
  const Value& e = errors.as_array()[0];
  CHECK(e.at("code").as_string() == "NAME_UNKNOWN");
  CHECK(e.at("message").as_string() == "repository name not known to registry");
  CHECK(e.find("detail") == nullptr);
  CHECK(body.as_map().size() == 1);

  RegistryError err(ErrorCode::kManifestInvalid, "layers[0].digest: bad", Value(Value::Map{{"field", "layers[0].digest"}}));
  Value b2 = json::parse(error_body(err));
  const Value& e2 = b2.at("errors").as_array()[0];
  CHECK(e2.at("code").as_string() == "MANIFEST_INVALID");
  CHECK(e2.at("message").as_string() == "layers[0].digest: bad");
  CHECK(e2.at("detail").at("field").as_string() == "layers[0].digest");
  // Hostile text is escaped, never breaks the JSON.
  Value b3 = json::parse(error_body(ErrorCode::kNameInvalid, "\"}\n\x01"));
  CHECK(b3.at("errors").as_array()[0].at("message").as_string() == "\"}\n\x01");
  // Invalid UTF-8 quoted from hostile input is replaced, keeping the body valid.
  Value b4 = json::parse(error_body(ErrorCode::kDigestInvalid, "bad \xff\xfe digest \xc3\xa9"));
  CHECK(b4.at("errors").as_array()[0].at("message").as_string() == "bad ?? digest ??");
  Value b5 = json::parse(error_body(ErrorCode::kDigestInvalid, "ok \xc3\xa9"));
  CHECK(b5.at("errors").as_array()[0].at("message").as_string() == "ok \xc3\xa9");
}

TEST_CASE("media types: manifest and index classification") {
  using namespace atcr::oci::media_type;
  CHECK(is_manifest_media_type(kImageManifest));
  CHECK(is_manifest_media_type(kDockerManifest));
  CHECK_FALSE(is_manifest_media_type(kImageIndex));
  CHECK_FALSE(is_manifest_media_type(kDockerSchema1));
  CHECK(is_index_media_type(kImageIndex));
  CHECK(is_index_media_type(kDockerManifestList));
  CHECK_FALSE(is_index_media_type(kImageManifest));
  CHECK_FALSE(is_any_manifest_media_type(kImageConfig));
  CHECK_FALSE(is_any_manifest_media_type("application/json"));
  CHECK(is_foreign_layer_media_type(kDockerForeignLayer));
  CHECK(is_foreign_layer_media_type(kImageLayerNondistributableGzip));
  CHECK_FALSE(is_foreign_layer_media_type(kImageLayerGzip));
}

TEST_CASE("media types: RFC 6838 syntax") {
  using atcr::oci::media_type::is_valid_media_type;
  for (const char* ok : {"application/vnd.oci.image.layer.v1.tar+gzip", "text/plain",
                         "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "a/b", "x-y/z_w!#$&^"})
    CHECK_MESSAGE(is_valid_media_type(ok), ok);
  for (const char* bad : {"", "application", "/json", "application/", "application/json; charset=utf-8",
                          "application/json ", ".a/b", "a/b/c", "a/\xc3\xa9", "a/b\n"})
    CHECK_MESSAGE(!is_valid_media_type(bad), bad);
  CHECK_FALSE(is_valid_media_type(std::string(128, 'a') + "/b"));
  CHECK(is_valid_media_type(std::string(127, 'a') + "/b"));
}

// oci: repository/tag grammar, references and ATCR image names.
#include <doctest/doctest.h>

#include <string>

#include "atcr/oci/errors.h"
#include "atcr/oci/reference.h"

using namespace atcr;
using namespace atcr::oci;

namespace {

ErrorCode code_of(auto&& f) {
  try {
    f();
  } catch (const RegistryError& e) {
    return e.code();
  }
  FAIL("no RegistryError");
  return ErrorCode::kUnknown;
}

}  // namespace

TEST_CASE("reference: repository grammar") {
  for (const char* ok : {"a", "app", "my-app", "my--app", "my.app", "my_app", "my__app", "team/app", "a/b/c/d",
                         "0", "app2/v1.0-rc_1", "a-----b"}) {
    CAPTURE(ok);
    CHECK(is_valid_repository(ok));
    CHECK_NOTHROW(validate_repository(ok));
  }
  for (const char* bad : {"", "App", "my app", "-app", "app-", ".app", "app.", "_app", "a___b", "a..b", "a._b",
                          "a/", "/a", "a//b", "a/../b", "..", ".", "a/./b", "a:b", "a%2Fb", "a\\b", "a@b",
                          "a\nb", "é"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_valid_repository(bad));
    CHECK(code_of([&] { validate_repository(bad); }) == ErrorCode::kNameInvalid);
  }
  CHECK_FALSE(is_valid_repository(std::string("a\0b", 3)));
  CHECK(is_valid_repository(std::string(255, 'a')));
  CHECK_FALSE(is_valid_repository(std::string(256, 'a')));
  std::string long_path;
  while (long_path.size() < 250) long_path += "ab/";
  long_path += "c";
  CHECK(is_valid_repository(long_path) == (long_path.size() <= 255));
}

TEST_CASE("reference: tag grammar") {
  for (const char* ok : {"latest", "v1.0.0", "12-slim", "_x", "A", "a.b-c_d", "0"}) CHECK_MESSAGE(is_valid_tag(ok), ok);
  for (const char* bad : {"", ".x", "-x", "a:b", "a/b", "a b", "a@b", "ü"}) CHECK_MESSAGE(!is_valid_tag(bad), bad);
  CHECK(is_valid_tag(std::string(128, 'a')));
  CHECK_FALSE(is_valid_tag(std::string(129, 'a')));
  CHECK(code_of([] { validate_tag("-x"); }) == ErrorCode::kTagInvalid);
}

TEST_CASE("reference: tag or digest") {
  Reference t = Reference::parse("latest");
  CHECK(t.is_tag());
  CHECK(t.tag_name() == "latest");
  CHECK(t.str() == "latest");
  CHECK_THROWS_AS(t.digest_value(), atcr::Error);

  std::string hex(64, 'a');
  Reference d = Reference::parse("sha256:" + hex);
  CHECK(d.is_digest());
  CHECK(d.digest_value().hex() == hex);
  CHECK(d.str() == "sha256:" + hex);
  CHECK_THROWS_AS(d.tag_name(), atcr::Error);
  CHECK(d == Reference::digest(Digest::parse("sha256:" + hex)));
  CHECK(t == Reference::tag("latest"));

  CHECK(code_of([] { Reference::parse("sha256:abc"); }) == ErrorCode::kDigestInvalid);
  CHECK(code_of([] { Reference::parse("../x"); }) == ErrorCode::kManifestInvalid);
  CHECK(code_of([] { Reference::parse(""); }) == ErrorCode::kManifestInvalid);
  CHECK(code_of([] { Reference::tag("a/b"); }) == ErrorCode::kTagInvalid);
}

TEST_CASE("reference: ATCR image names") {
  ImageName n = ImageName::parse("alice.bsky.social/app/sub");
  CHECK(n.identity == "alice.bsky.social");
  CHECK(n.repository == "app/sub");
  CHECK_FALSE(n.identity_is_did());
  CHECK(n.str() == "alice.bsky.social/app/sub");

  // Handles are case-insensitive: lowercased.
  CHECK(ImageName::parse("Alice.Bsky.Social/app").identity == "alice.bsky.social");

  ImageName plc = ImageName::parse("did:plc:pddp4xt5lgnv2qsegbzzs4xg/myapp");
  CHECK(plc.identity == "did:plc:pddp4xt5lgnv2qsegbzzs4xg");
  CHECK(plc.identity_is_did());
  CHECK(plc.repository == "myapp");

  CHECK(ImageName::parse("did:web:hold01.atcr.io/x").identity == "did:web:hold01.atcr.io");
  CHECK(ImageName::parse("did:web:localhost%3A8080/x").identity == "did:web:localhost%3A8080");
  CHECK(ImageName::parse("did:web:localhost%3a8080/x").identity == "did:web:localhost%3A8080");
  CHECK(normalize_identity("BOB.example.com") == "bob.example.com");
}

TEST_CASE("reference: ATCR image names refuse path tricks and bad identities") {
  const std::string bad[] = {
      "",
      "app",                                       // no identity
      "alice.bsky.social",                         // no repository
      "alice.bsky.social/",                        // empty repository
      "/app",                                      // empty identity
      "alice.bsky.social//app",                    // empty segment
      "alice.bsky.social/app/",                    // trailing slash
      "alice.bsky.social/../bob.bsky.social/app",  // dot-dot
      "alice.bsky.social/./app",
      "../app",
      "./app",
      "alice.bsky.social/App",                     // uppercase repository
      "alice.bsky.social/a%2Fb",                   // encoded slash
      "alice.bsky.social%2Fapp",
      "alice.bsky.social/a%2e%2e",
      std::string("alice.bsky.social/a\0b", 21),   // NUL
      std::string("alice\0.bsky.social/app", 22),
      "alice.bsky.social/a\\b",
      "alice.bsky.social\\app/x",
      "alice/app",                                 // a handle needs two labels
      "did:plc:PDDP4XT5LGNV2QSEGBZZS4XG/app",      // DIDs are not lowercased
      "did:plc:short/app",
      "did:plc:pddp4xt5lgnv2qsegbzzs4xg0/app",
      "did:plc:pddp4xt5lgnv2qsegbzzs4x1/app",      // '1' is not base32
      "did:web:Example.com/app",
      "did:web:example.com:user:alice/app",        // did:web paths
      "did:web:example.com%2Fx/app",
      "did:web:example.com%3A/app",
      "did:web:example.com%3Aabc/app",
      "did:web:..%3A80/app",
      "did:web:/app",
      "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme/app",
      "did:/app",
      "alice.bsky.social/" + std::string(256, 'a'),
  };
  for (const std::string& name : bad) {
    CAPTURE(name);
    CHECK(code_of([&] { ImageName::parse(name); }) == ErrorCode::kNameInvalid);
  }
  // Messages never echo control bytes.
  try {
    ImageName::parse(std::string("alice.bsky.social/a\0b", 21));
  } catch (const RegistryError& e) {
    CHECK(std::string(e.what()).find('\0') == std::string::npos);
  }
}

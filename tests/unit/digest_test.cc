#include "atcr/oci/digest.h"

#include <doctest/doctest.h>

#include "atcr/error.h"

using atcr::oci::Digest;

TEST_CASE("digest: parse accepts registered algorithms") {
  auto d = Digest::parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(d.algorithm() == "sha256");
  CHECK(d.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Digest::of(std::string_view("")) == d);
  CHECK(Digest::valid("sha512:" + std::string(128, 'a')));
}

TEST_CASE("digest: parse refuses anything that is not a canonical digest") {
  const char* bad[] = {
      "",
      "sha256",
      "sha256:",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
      "md5:d41d8cd98f00b204e9800998ecf8427e",
      "sha256:../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(Digest::valid(text));
    CHECK_THROWS_AS(Digest::parse(text), atcr::ParseError);
  }
}

TEST_CASE("digest: from_sha256 needs 32 bytes") {
  atcr::Bytes short_hash(31);
  CHECK_THROWS_AS(Digest::from_sha256(short_hash), atcr::ParseError);
}

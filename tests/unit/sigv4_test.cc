// SigV4 against the examples in AWS's S3 documentation ("Signature
// Calculations for the Authorization Header" and "Authenticating Requests:
// Using Query Parameters"), all with the documentation's example key pair
// at 2013-05-24T00:00:00Z in us-east-1.
#include <doctest/doctest.h>

#include "atcr/s3/sigv4.h"

using namespace atcr::s3;

namespace {

const SigningContext kCtx{{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""}, "us-east-1", "s3"};
const TimePoint kTime = std::chrono::system_clock::from_time_t(1369353600);  // 20130524T000000Z
const std::string kEmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string signature_of(const Params& headers) {
  for (const auto& [k, v] : headers)
    if (k == "authorization") return v.substr(v.find("Signature=") + 10);
  return "";
}

std::string signed_headers_of(const Params& headers) {
  for (const auto& [k, v] : headers)
    if (k == "authorization") {
      auto from = v.find("SignedHeaders=") + 14;
      return v.substr(from, v.find(',', from) - from);
    }
  return "";
}

}  // namespace

TEST_CASE("amz_date") { CHECK(amz_date(kTime) == "20130524T000000Z"); }

TEST_CASE("GET object with a Range header") {
  CanonicalRequest r{"GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {{"Range", "bytes=0-9"}}, kEmptySha};
  Params h = sign_headers(r, kCtx, kTime);
  CHECK(signed_headers_of(h) == "host;range;x-amz-content-sha256;x-amz-date");
  CHECK(signature_of(h) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("PUT object with a body and extra headers") {
  CanonicalRequest r{"PUT",
                     "examplebucket.s3.amazonaws.com",
                     "/test$file.text",
                     {},
                     {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                     "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"};
  Params h = sign_headers(r, kCtx, kTime);
  CHECK(signed_headers_of(h) == "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  CHECK(signature_of(h) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST_CASE("GET bucket lifecycle (an empty query value)") {
  CanonicalRequest r{"GET", "examplebucket.s3.amazonaws.com", "/", {{"lifecycle", ""}}, {}, kEmptySha};
  CHECK(signature_of(sign_headers(r, kCtx, kTime)) ==
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST_CASE("GET bucket listing (query parameters sorted)") {
  CanonicalRequest r{"GET", "examplebucket.s3.amazonaws.com", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, kEmptySha};
  CHECK(signature_of(sign_headers(r, kCtx, kTime)) ==
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST_CASE("presigned GET URL") {
  CanonicalRequest r{"GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {}, "UNSIGNED-PAYLOAD"};
  std::string q = presign_query(r, kCtx, kTime, std::chrono::seconds(86400));
  CHECK(q ==
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_"
        "request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST_CASE("uri encoding and limits") {
  CHECK(uri_encode("a b/c~d", true) == "a%20b/c~d");
  CHECK(uri_encode("a b/c", false) == "a%20b%2Fc");
  CHECK(uri_encode("\xc3\xa9", false) == "%C3%A9");
  CanonicalRequest r{"GET", "h", "/k", {}, {}, "UNSIGNED-PAYLOAD"};
  CHECK_THROWS(presign_query(r, kCtx, kTime, std::chrono::seconds(0)));
  CHECK_THROWS(presign_query(r, kCtx, kTime, std::chrono::hours(24 * 8)));
  CanonicalRequest bad{"GET", "h", "k", {}, {}, "UNSIGNED-PAYLOAD"};
  CHECK_THROWS(sign_headers(bad, kCtx, kTime));
}

TEST_CASE("temporary credentials add and sign the security token") {
  SigningContext ctx = kCtx;
  ctx.credentials.session_token = "token/with+chars";
  CanonicalRequest r{"GET", "h", "/k", {}, {}, "UNSIGNED-PAYLOAD"};
  Params h = sign_headers(r, ctx, kTime);
  CHECK(signed_headers_of(h) == "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
  CHECK(presign_query(r, ctx, kTime, std::chrono::seconds(60)).find("X-Amz-Security-Token=token%2Fwith%2Bchars") !=
        std::string::npos);
}

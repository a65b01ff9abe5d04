// The S3 client's pure parts: configuration checks, URL building, presigned
// URLs (against AWS's published example) and the XML it reads and writes.
// tests/integration/s3_test.cc runs the rest against a real radosgw.
#include <doctest/doctest.h>

#include <atomic>

#include "atcr/s3/client.h"
#include "s3/xml.h"
#include "loopback_server.h"

using namespace atcr;
using namespace atcr::s3;

namespace {

const Credentials kExampleCredentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const TimePoint kExampleTime = std::chrono::system_clock::from_time_t(1369353600);  // 20130524T000000Z

// The query AWS documents for presigning GET /test.txt on examplebucket.
const std::string kExampleQuery =
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_"
    "request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

S3Config config(std::string endpoint, bool path_style, std::string bucket = "examplebucket") {
  S3Config c;
  c.endpoint = std::move(endpoint);
  c.bucket = std::move(bucket);
  c.credentials = kExampleCredentials;
  c.path_style = path_style;
  c.clock = [] { return kExampleTime; };
  return c;
}

}  // namespace

TEST_CASE("configuration is checked") {
  CHECK_NOTHROW(S3Client(config("https://s3.amazonaws.com", false)));
  CHECK_NOTHROW(S3Client(config("http://127.0.0.1:7480/", true)));
  CHECK_NOTHROW(S3Client(config("http://[::1]:9000", true)));
  for (const char* endpoint : {"", "s3.amazonaws.com", "ftp://host", "https://", "https://host/path", "https://host:0",
                               "https://host:99999", "https://host:", "https://user@host", "https://host?x=1",
                               "http://[::1"}) {
    CAPTURE(endpoint);
    CHECK_THROWS_AS(S3Client(config(endpoint, true)), Error);
  }
  for (const char* bucket : {"ab", "Upper", "under_score", "-dash", "dash-", "a..b", "192.168.1.1",
                             "a-very-long-bucket-name-that-goes-on-and-on-past-sixty-three-chars"}) {
    CAPTURE(bucket);
    CHECK_THROWS_AS(S3Client(config("https://s3.amazonaws.com", true, bucket)), Error);
  }
  // Virtual-host style puts the bucket in the host name: not with an IP.
  CHECK_THROWS_AS(S3Client(config("http://127.0.0.1:7480", false)), Error);
  S3Config no_secret = config("https://s3.amazonaws.com", false);
  no_secret.credentials.secret_access_key.clear();
  CHECK_THROWS_AS(S3Client{no_secret}, Error);
  S3Config bad_zone = config("https://s3.amazonaws.com", false);
  bad_zone.pull_zone = "cdn.example.com";
  CHECK_THROWS_AS(S3Client{bad_zone}, Error);
}

TEST_CASE("object URLs: path style, virtual-host style, key encoding") {
  S3Client path(config("http://127.0.0.1:7480", true));
  S3Client vhost(config("https://S3.Example.COM:443/", false));
  CHECK(path.url("a/b.txt") == "http://127.0.0.1:7480/examplebucket/a/b.txt");
  CHECK(path.url("") == "http://127.0.0.1:7480/examplebucket");
  // The default port is dropped, as curl drops it from the Host header.
  CHECK(vhost.url("a/b.txt") == "https://examplebucket.s3.example.com/a/b.txt");
  CHECK(vhost.url("") == "https://examplebucket.s3.example.com/");
  CHECK(path.url("sp ace/plus+/pct%/\xc3\xa9/~_-.") ==
        "http://127.0.0.1:7480/examplebucket/sp%20ace/plus%2B/pct%25/%C3%A9/~_-.");
  CHECK(path.url("//double//slash") == "http://127.0.0.1:7480/examplebucket///double//slash");
  CHECK(S3Client(config("http://[::1]:9000", true)).url("k") == "http://[::1]:9000/examplebucket/k");
}

TEST_CASE("object keys are checked") {
  S3Client c(config("http://127.0.0.1:7480", true));
  CHECK_THROWS_AS(c.url(std::string(1025, 'k')), Error);
  CHECK_NOTHROW(c.url(std::string(1024, 'k')));
  for (const char* key : {"\xff", "\xc3", "\xc0\x80", "\xed\xa0\x80", "a/./b", "a/../b", "..", ".", "x/.."}) {
    CAPTURE(key);
    CHECK_THROWS_AS(c.url(key), Error);
  }
  CHECK_NOTHROW(c.url("a/.b/..c/...d/"));
  CHECK_THROWS_AS(c.presign_get("", std::chrono::seconds(60)), Error);
  CHECK_THROWS_AS(c.presign_upload_part("k", "id", 0, std::chrono::seconds(60)), Error);
  CHECK_THROWS_AS(c.presign_upload_part("k", "id", 10001, std::chrono::seconds(60)), Error);
  CHECK_THROWS_AS(c.presign_upload_part("k", "", 1, std::chrono::seconds(60)), Error);
  CHECK_THROWS_AS(c.presign_get("k", std::chrono::seconds(0)), Error);
  ListOptions no_keys;
  no_keys.max_keys = 0;
  CHECK_THROWS_AS(c.list_objects(no_keys), Error);
  CHECK_THROWS_AS(c.move_object("same", "same"), Error);
}

TEST_CASE("presigned URLs match AWS's example; the pull zone replaces the origin after signing") {
  S3Config c = config("https://s3.amazonaws.com", false);
  CHECK(S3Client(c).presign_get("test.txt", std::chrono::seconds(86400)) ==
        "https://examplebucket.s3.amazonaws.com/test.txt?" + kExampleQuery);

  c.pull_zone = "https://cdn.example.com/";
  S3Client zoned(c);
  CHECK(zoned.presign_get("test.txt", std::chrono::seconds(86400)) == "https://cdn.example.com/test.txt?" + kExampleQuery);
  CHECK(zoned.presign_head("test.txt", std::chrono::seconds(60)).starts_with("https://cdn.example.com/test.txt?"));
  // Uploads go to the bucket itself.
  CHECK(zoned.presign_put("test.txt", std::chrono::seconds(60))
            .starts_with("https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm="));

  S3Config p = config("http://127.0.0.1:7480", true);
  p.pull_zone = "http://cdn.localhost:8080";
  S3Client path_zoned(p);
  CHECK(path_zoned.presign_get("a b", std::chrono::seconds(60)).starts_with("http://cdn.localhost:8080/examplebucket/a%20b?"));
  std::string part = path_zoned.presign_upload_part("a b", "up/id+1", 7, std::chrono::seconds(60));
  CHECK(part.starts_with("http://127.0.0.1:7480/examplebucket/a%20b?X-Amz-Algorithm="));
  CHECK(part.find("&partNumber=7&") != std::string::npos);
  CHECK(part.find("&uploadId=up%2Fid%2B1&") != std::string::npos);
  // A HEAD and a GET of the same key sign different methods.
  CHECK(path_zoned.presign_head("k", std::chrono::seconds(60)) != path_zoned.presign_get("k", std::chrono::seconds(60)));
}

TEST_CASE("S3 error bodies") {
  auto e = xml::parse_error(R"(<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchKey</Code>
  <Message>The resource you requested does not exist</Message>
  <Key>a &amp; b.txt</Key>
  <RequestId>4442587FB7D0A2F9</RequestId>
</Error>)");
  REQUIRE(e);
  CHECK(e->code == "NoSuchKey");
  CHECK(e->message == "The resource you requested does not exist");
  CHECK(e->key == "a & b.txt");
  CHECK(e->request_id == "4442587FB7D0A2F9");
  // radosgw leaves Message empty.
  auto rgw = xml::parse_error("<Error><Code>NoSuchBucket</Code><Message></Message><RequestId>tx1</RequestId></Error>");
  REQUIRE(rgw);
  CHECK(rgw->code == "NoSuchBucket");
  CHECK(rgw->message.empty());
  CHECK_FALSE(xml::parse_error("<CopyObjectResult><ETag>x</ETag></CopyObjectResult>"));
  CHECK_FALSE(xml::parse_error("<html>502 Bad Gateway"));
  CHECK_FALSE(xml::parse_error(""));
}

TEST_CASE("ListObjectsV2 results") {
  // As AWS writes it with encoding-type=url: a space is '+', a '+' is %2B.
  ListResult r = xml::parse_list_objects(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>p%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <EncodingType>url</EncodingType>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>p%2Fa+b%2Bc</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p/%C3%A9%01</Key><ETag>"x-2"</ETag><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>p/dir%20one/</Prefix></CommonPrefixes>
</ListBucketResult>)");
  REQUIRE(r.objects.size() == 2);
  CHECK(r.objects[0].key == "p/a b+c");
  CHECK(r.objects[0].size == 434234);
  CHECK(r.objects[0].etag == "fba9dede5f27731c9771645a39863328");
  CHECK(r.objects[0].last_modified == "2009-10-12T17:50:30.000Z");
  CHECK(r.objects[1].key == "p/\xc3\xa9\x01");
  CHECK(r.objects[1].etag == "x-2");
  CHECK(r.common_prefixes == std::vector<std::string>{"p/dir one/"});
  CHECK(r.truncated);
  CHECK(r.next_continuation_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

  // Without EncodingType the keys are taken as they are.
  ListResult plain = xml::parse_list_objects(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b%20</Key><Size>1</Size></Contents>"
      "</ListBucketResult>");
  REQUIRE(plain.objects.size() == 1);
  CHECK(plain.objects[0].key == "a+b%20");
  CHECK_FALSE(plain.truncated);

  CHECK(xml::parse_list_objects("<ListBucketResult/>").objects.empty());
  CHECK_THROWS_AS(xml::parse_list_objects("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"),
                  ParseError);
  CHECK_THROWS_AS(xml::parse_list_objects("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
                                          "</ListBucketResult>"),
                  ParseError);
  CHECK_THROWS_AS(xml::parse_list_objects("<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%zz</Key>"
                                          "<Size>1</Size></Contents></ListBucketResult>"),
                  ParseError);
  CHECK_THROWS_AS(xml::parse_list_objects("<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%2</Key>"
                                          "<Size>1</Size></Contents></ListBucketResult>"),
                  ParseError);
  CHECK_THROWS_AS(xml::parse_list_objects("<Error><Code>AccessDenied</Code></Error>"), ParseError);
  CHECK_THROWS_AS(xml::parse_list_objects("<ListBucketResult><Contents>"), ParseError);
}

TEST_CASE("multipart bodies") {
  CHECK(xml::parse_upload_id(R"(<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>example-bucket</Bucket><Key>example-object</Key>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>)") == "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
  CHECK_THROWS_AS(xml::parse_upload_id("<InitiateMultipartUploadResult><UploadId/></InitiateMultipartUploadResult>"),
                  ParseError);
  CHECK_THROWS_AS(xml::parse_upload_id("<InitiateMultipartUploadResult/>"), ParseError);

  CHECK(xml::parse_copy_etag("<CopyObjectResult><LastModified>2009-10-28T22:32:00</LastModified>"
                             "<ETag>\"9b2cf535f27731c974343645a3985328\"</ETag></CopyObjectResult>") ==
        "9b2cf535f27731c974343645a3985328");
  CHECK(xml::parse_copy_etag("<CopyPartResult><LastModified>2011-04-11T20:34:56.000Z</LastModified>"
                             "<ETag>\"9b2cf535f27731c974343645a3985328\"</ETag></CopyPartResult>",
                             "CopyPartResult") == "9b2cf535f27731c974343645a3985328");
  CHECK_THROWS_AS(xml::parse_copy_etag("<CopyObjectResult><ETag>\"x\"</ETag></CopyObjectResult>", "CopyPartResult"),
                  ParseError);
  CHECK(xml::parse_complete_etag("<CompleteMultipartUploadResult><Location>http://x/k</Location><Bucket>b</Bucket>"
                                 "<Key>k</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>"
                                 "</CompleteMultipartUploadResult>") == "3858f62230ac3c915f300c664312c11f-9");

  xml::PartsPage page = xml::parse_list_parts(R"(<ListPartsResult>
  <Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>
  <PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>3</NextPartNumberMarker>
  <MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>
  <Part><PartNumber>2</PartNumber><LastModified>2010-11-10T20:48:34.000Z</LastModified>
    <ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag><Size>10485760</Size></Part>
  <Part><PartNumber>3</PartNumber><ETag>"aaaa18db4cc2f85cedef654fccc4a4x8"</ETag><Size>10485760</Size></Part>
</ListPartsResult>)");
  REQUIRE(page.parts.size() == 2);
  CHECK(page.parts[0].part_number == 2);
  CHECK(page.parts[0].etag == "7778aef83f66abc1fa1e8477f296d394");
  CHECK(page.parts[1].size == 10485760);
  CHECK(page.truncated);
  CHECK(page.next_marker == 3);
  CHECK_THROWS_AS(xml::parse_list_parts("<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>"),
                  ParseError);

  CHECK(xml::complete_multipart_body({{1, "\"a1\""}, {2, "b2-x&<"}}) ==
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a1\"</ETag></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>\"b2-x&amp;&lt;\"</ETag></Part></CompleteMultipartUpload>");
}

TEST_CASE("503 SlowDown and 500 are retried for buffered requests, not for streamed ones") {
  atcr::test::LoopbackServer server;
  std::atomic<int> gets{0}, puts{0}, heads{0};
  const char* slow_down = "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>";
  server.server.Get("/examplebucket/k", [&](const httplib::Request&, httplib::Response& res) {
    if (++gets <= 2) {
      res.status = 503;
      res.set_content(slow_down, "application/xml");
      return;
    }
    res.set_content("value", "application/octet-stream");
  });
  server.server.Get("/examplebucket/always-failing", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("<Error><Code>InternalError</Code></Error>", "application/xml");
  });
  server.server.Put("/examplebucket/streamed", [&](const httplib::Request&, httplib::Response& res) {
    ++puts;
    res.status = 503;
    res.set_content(slow_down, "application/xml");
  });
  server.server.Get("/examplebucket/missing", [&](const httplib::Request&, httplib::Response& res) {
    ++heads;
    res.status = 404;
    res.set_content("<Error><Code>NoSuchKey</Code></Error>", "application/xml");
  });
  server.start();
  S3Config c = config(server.url(), true);
  c.clock = {};
  c.retry_delay = std::chrono::milliseconds(1);
  S3Client client(c);

  CHECK(to_string(client.get_object("k")) == "value");
  CHECK(gets == 3);
  // Retries are bounded: the last answer is reported.
  try {
    client.get_object("always-failing");
    FAIL("no error");
  } catch (const S3Error& e) {
    CHECK(e.status() == 500);
    CHECK(e.code() == "InternalError");
  }
  // A 404 is an answer, not a hiccup.
  CHECK_THROWS_AS(client.get_object("missing"), S3Error);
  CHECK(heads == 1);
  // A streamed body cannot be replayed: one attempt.
  std::string body = "abc";
  std::size_t pos = 0;
  CHECK_THROWS_AS(client.put_object_stream("streamed", body.size(),
                                           [&](std::span<std::uint8_t> b) {
                                             std::size_t n = std::min(b.size(), body.size() - pos);
                                             std::copy_n(body.data() + pos, n, b.data());
                                             pos += n;
                                             return n;
                                           }),
                  S3Error);
  CHECK(puts == 1);

  S3Config bad = config("https://s3.amazonaws.com", false);
  bad.max_retries = -1;
  CHECK_THROWS_AS(S3Client{bad}, Error);
}

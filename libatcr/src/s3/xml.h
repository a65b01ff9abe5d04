// Internal: the XML bodies S3 exchanges (s3_client_test.cc tests them).
// Parsers throw ParseError on malformed XML or a missing required element.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/s3/client.h"

namespace atcr::s3 {

namespace xml {

struct ErrorBody {
  std::string code, message, request_id, key;
};
// nullopt when `body` is not an <Error> document.
std::optional<ErrorBody> parse_error(std::string_view body);
ListResult parse_list_objects(std::string_view body);
std::string parse_upload_id(std::string_view body);  // InitiateMultipartUploadResult
// CopyObjectResult, or CopyPartResult (UploadPartCopy's answer)
std::string parse_copy_etag(std::string_view body, const char* root = "CopyObjectResult");
std::string parse_complete_etag(std::string_view body);  // CompleteMultipartUploadResult

struct PartsPage {
  std::vector<PartInfo> parts;
  bool truncated = false;
  int next_marker = 0;
};
PartsPage parse_list_parts(std::string_view body);
MultipartUploadsPage parse_list_multipart_uploads(std::string_view body);  // ListMultipartUploadsResult
std::string complete_multipart_body(const std::vector<CompletedPart>& parts);

}  // namespace xml

}  // namespace atcr::s3

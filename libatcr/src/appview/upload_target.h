// Internal: where one part of a multipart upload goes (getPartUploadUrl's
// answer).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace atcr::appview {

struct UploadTarget {
  std::string url;
  std::string method = "PUT";
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace atcr::appview

#include "http_util.h"

#include <fmt/format.h>
#include <rapidjson/document.h>

namespace atcr::identity::detail {

namespace {

constexpr std::size_t kMaxShown = 200;

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxShown)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > kMaxShown) out += "...";
  return out;
}

std::string json_field(const rapidjson::Document& j, const char* name) {
  auto it = j.FindMember(name);
  if (it == j.MemberEnd() || !it->value.IsString()) return {};
  return printable({it->value.GetString(), it->value.GetStringLength()});
}

}  // namespace

net::HttpOptions bounded(const net::HttpClient& http, std::size_t max_bytes, int max_redirects) {
  net::HttpOptions options = http.options();
  options.max_response_bytes = max_bytes;
  options.max_redirects = max_redirects;
  return options;
}

std::string describe(const net::HttpResponse& response) {
  std::string body = response.text();
  rapidjson::Document j;
  j.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (!j.HasParseError() && j.IsObject()) {
    std::string error = json_field(j, "error");
    std::string message = json_field(j, "message");
    if (!error.empty() && !message.empty()) return fmt::format("{}: {}: {}", response.status, error, message);
    if (!message.empty() || !error.empty()) return fmt::format("{}: {}", response.status, message + error);
  }
  if (body.empty()) return fmt::format("{}", response.status);
  return fmt::format("{}: {}", response.status, printable(body));
}

}  // namespace atcr::identity::detail

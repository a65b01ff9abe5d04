// ServerRequest accessors and ServerResponse builders: what handlers use to
// read parameters and bodies and to answer, with XRPC errors for bad input.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>

#include "atcr/data/json.h"
#include "atcr/xrpc/server.h"
#include "xrpc/request_target.h"
#include "util/text.h"

namespace atcr::xrpc {

std::string ServerRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (util::iequals_ascii(key, name)) return value;
  return {};
}

std::string ServerRequest::content_type() const {
  std::string value = header("content-type");
  std::string_view media = util::trim(std::string_view(value).substr(0, value.find(';')));
  return util::ascii_lower(media);
}

std::optional<std::string> ServerRequest::param(std::string_view name) const {
  for (const auto& [key, value] : params)
    if (key == name) return value;
  return std::nullopt;
}

std::vector<std::string> ServerRequest::param_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [key, value] : params)
    if (key == name) out.push_back(value);
  return out;
}

std::string ServerRequest::required_param(std::string_view name) const {
  auto value = param(name);
  if (!value) throw invalid_request(fmt::format("Error: Params must have the property \"{}\"", name));
  return *value;
}

std::optional<std::int64_t> ServerRequest::int_param(std::string_view name, std::int64_t min,
                                                     std::int64_t max) const {
  auto value = param(name);
  if (!value) return std::nullopt;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc() || end != value->data() + value->size())
    throw invalid_request(fmt::format("Error: Params \"{}\" must be an integer", name));
  if (n < min || n > max)
    throw invalid_request(
        fmt::format("Error: Params \"{}\" must be between {} and {}", name, min, max));
  return n;
}

bool ServerRequest::bool_param(std::string_view name, bool fallback) const {
  auto value = param(name);
  if (!value) return fallback;
  if (*value == "true") return true;
  if (*value == "false") return false;
  throw invalid_request(fmt::format("Error: Params \"{}\" must be true or false", name));
}

Value ServerRequest::json() const {
  if (body.empty()) throw invalid_request("Request body is required");
  if (std::string type = content_type(); type != "application/json")
    throw invalid_request(fmt::format(
        "Wrong request encoding (Content-Type): {}, expected application/json",
        type.empty() ? "none" : type));
  try {
    return json::parse_record(body);
  } catch (const ParseError& e) {
    throw invalid_request(fmt::format("Invalid JSON body: {}", e.what()));
  }
}

std::string ServerRequest::bearer_token() const {
  std::string value = header("authorization");
  if (value.empty()) return {};
  std::string_view v = util::trim(value);
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size() || !util::iequals_ascii(v.substr(0, kScheme.size()), kScheme))
    throw auth_required("Authorization must use the Bearer scheme");
  std::string_view token = util::trim(v.substr(kScheme.size()));
  if (token.empty()) throw auth_required("Bearer token is empty");
  return std::string(token);
}

ServerResponse ServerResponse::json(const Value& value, int status) {
  return json_text(json::serialize(value), status);
}

ServerResponse ServerResponse::json_text(std::string json, int status) {
  ServerResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(json);
  return r;
}

ServerResponse ServerResponse::bytes(BytesView data, std::string content_type, int status) {
  ServerResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = to_string(data);
  return r;
}

ServerResponse ServerResponse::text(std::string text, std::string content_type, int status) {
  ServerResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(text);
  return r;
}

ServerResponse ServerResponse::empty(int status) {
  ServerResponse r;
  r.status = status;
  return r;
}

ServerResponse ServerResponse::error(int status, std::string_view error, std::string_view message) {
  Value::Map body{{"error", Value(error)}};
  if (!message.empty()) body.emplace("message", Value(message));
  return json(Value(std::move(body)), status);
}

}  // namespace atcr::xrpc

namespace atcr::xrpc {

ServerResponse ServerResponse::streamed(std::optional<std::uint64_t> length, std::string content_type,
                                        std::function<void(const std::function<bool(BytesView)>& write)> stream,
                                        int status) {
  ServerResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.stream = std::move(stream);
  r.stream_length = length;
  return r;
}

ServerResponse ServerResponse::file(std::string path, std::uint64_t offset, std::uint64_t length,
                                    std::string content_type, int status) {
  ServerResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.file_path = std::move(path);
  r.file_offset = offset;
  r.stream_length = length;
  return r;
}

}  // namespace atcr::xrpc

namespace atcr::xrpc {

std::vector<std::pair<std::string, std::string>> ServerRequest::form() const {
  if (content_type() != "application/x-www-form-urlencoded")
    throw invalid_request("expected a form (application/x-www-form-urlencoded)");
  if (body.find_first_of("?#") != std::string_view::npos) throw invalid_request("malformed form body");
  // A form body has the syntax of a query string.
  return parse_request_target("/?" + std::string(body)).params;
}

}  // namespace atcr::xrpc

#include "atcr/xrpc/client.h"

#include <fmt/core.h>

#include <algorithm>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "util/text.h"

namespace atcr::xrpc {

namespace {

// How much of a non-XRPC error body goes into the message.
constexpr std::size_t kExcerptBytes = 200;

// A printable, bounded excerpt of an arbitrary body for an error message:
// control bytes become spaces, and the cut never splits a UTF-8 sequence.
std::string excerpt(BytesView body) {
  std::size_t n = std::min(body.size(), kExcerptBytes);
  if (n < body.size())
    while (n > 0 && (body[n] & 0xC0) == 0x80) --n;
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<char>(body[i]);
    out.push_back(body[i] < 0x20 || body[i] == 0x7F ? ' ' : c);
  }
  if (n < body.size()) out += "...";
  return out;
}

// The XRPC error a non-2xx response stands for.
XrpcError error_from(net::HttpResponse&& response, std::string_view context) {
  std::string name, message;
  try {
    Value body = json::parse(atcr::to_string(response.body));
    const Value* error = body.find("error");
    if (error && error->is_string() && !error->as_string().empty()) {
      name = error->as_string();
      if (const Value* m = body.find("message"); m && m->is_string()) message = m->as_string();
    }
  } catch (const ParseError&) {
    // Not JSON at all: a proxy's HTML page, a plain-text error. Handled below.
  }
  if (name.empty()) {
    name = std::string(default_error_name(response.status));
    std::string type = response.header("content-type");
    message = response.body.empty()
                  ? "empty error response"
                  : fmt::format("non-XRPC error response ({}): {}", type.empty() ? "no type" : type,
                                excerpt(response.body));
  }
  return XrpcError(response.status, std::move(name), std::move(message),
                   std::move(response.headers), context);
}

Value parse_json(const XrpcResponse& response, std::string_view context) {
  try {
    return response.json();
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("xrpc {}: response is not valid JSON ({}): {}", context, e.what(),
                                 excerpt(response.body)));
  }
}

}  // namespace

Params& Params::add(std::string_view key, std::string_view value) {
  items_.emplace_back(key, value);
  return *this;
}

Params& Params::add(std::string_view key, const std::vector<std::string>& values) {
  for (const auto& v : values) add(key, std::string_view(v));
  return *this;
}

std::string Params::encode() const {
  std::string out;
  for (const auto& [key, value] : items_) {
    if (!out.empty()) out += '&';
    out += net::url_encode(key);
    out += '=';
    out += net::url_encode(value);
  }
  return out;
}

std::string XrpcResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (util::iequals_ascii(key, name)) return value;
  return {};
}

std::string XrpcResponse::content_type() const {
  std::string type = header("content-type");
  return util::ascii_lower(util::trim(std::string_view(type).substr(0, type.find(';'))));
}

Value XrpcResponse::json() const {
  if (body.empty()) return Value();
  return json::parse(atcr::to_string(body));
}

XrpcClient::XrpcClient(std::string service_url, std::shared_ptr<const net::HttpClient> http)
    : service_url_(std::move(service_url)), http_(std::move(http)) {
  service_url_ = std::string(util::strip_trailing_slashes(service_url_));
  std::string_view rest = service_url_;
  if (rest.starts_with("https://"))
    rest.remove_prefix(8);
  else if (rest.starts_with("http://"))
    rest.remove_prefix(7);
  else
    throw ParseError(fmt::format("xrpc: service URL \"{}\" is not http(s)", service_url_));
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos)
    throw ParseError(
        fmt::format("xrpc: service URL \"{}\" must be an origin (scheme://host[:port])", service_url_));
  if (!http_) http_ = std::make_shared<const net::HttpClient>();
}

std::string XrpcClient::url(std::string_view nsid, const Params& params) const {
  syntax::validate_nsid(nsid);
  std::string url = fmt::format("{}/xrpc/{}", service_url_, nsid);
  if (!params.empty()) url += "?" + params.encode();
  return url;
}

XrpcResponse XrpcClient::call(std::string_view http_method, std::string_view nsid,
                              const Params& params, BytesView body,
                              std::string_view content_type, const CallOptions& options) const {
  net::HttpRequest request;
  request.method = std::string(http_method);
  request.url = url(nsid, params);
  // The context for error messages leaves out the query: it is long and may
  // carry identifiers not worth spreading through logs.
  std::string context = fmt::format("{} {}/xrpc/{}", http_method, service_url_, nsid);

  std::string bearer = options.bearer;
  if (bearer.empty() && auth_) bearer = auth_(nsid);
  if (!bearer.empty()) request.headers.emplace_back("Authorization", "Bearer " + bearer);
  if (!body.empty()) {
    if (content_type.empty())
      throw ParseError(fmt::format("xrpc {}: a request body needs a content type", context));
    request.headers.emplace_back("Content-Type", std::string(content_type));
    request.body.assign(body.begin(), body.end());
  }
  request.headers.insert(request.headers.end(), options.headers.begin(), options.headers.end());

  net::HttpResponse response =
      options.http ? http_->send(request, *options.http) : http_->send(request);
  if (!response.ok()) throw error_from(std::move(response), context);
  return XrpcResponse{response.status, std::move(response.headers), std::move(response.body)};
}

XrpcResponse XrpcClient::query_raw(std::string_view nsid, const Params& params,
                                   const CallOptions& options) const {
  return call("GET", nsid, params, {}, {}, options);
}

Value XrpcClient::query(std::string_view nsid, const Params& params,
                        const CallOptions& options) const {
  return parse_json(query_raw(nsid, params, options), fmt::format("GET {}", nsid));
}

Value XrpcClient::procedure(std::string_view nsid, const Value& input, const Params& params,
                            const CallOptions& options) const {
  std::string body = input.is_null() ? std::string() : json::serialize(input);
  return procedure(nsid, as_bytes(body), "application/json", params, options);
}

Value XrpcClient::procedure(std::string_view nsid, BytesView body, std::string_view content_type,
                            const Params& params, const CallOptions& options) const {
  return parse_json(call("POST", nsid, params, body, content_type, options),
                    fmt::format("POST {}", nsid));
}

bool for_each_listed_record(const XrpcClient& pds, std::string_view repo, std::string_view collection,
                            std::size_t max_pages,
                            const std::function<bool(const std::string& rkey, const Value& value)>& visit) {
  std::string cursor;
  for (std::size_t page = 0; page < max_pages; ++page) {
    Params params{{"repo", std::string(repo)}, {"collection", std::string(collection)}, {"limit", "100"}};
    if (!cursor.empty()) params.add("cursor", cursor);
    Value r = pds.query("com.atproto.repo.listRecords", params);
    const Value* records = r.find("records");
    if (!records || !records->is_array()) throw ParseError("listRecords answered without records");
    for (const Value& rec : records->as_array()) {
      const Value* uri = rec.find("uri");
      const Value* value = rec.find("value");
      if (!uri || !uri->is_string() || !value) continue;
      const std::string& u = uri->as_string();
      if (!visit(u.substr(u.rfind('/') + 1), *value)) return true;
    }
    const Value* next = r.find("cursor");
    if (records->as_array().empty() || !next || !next->is_string() || next->as_string().empty() ||
        next->as_string() == cursor)
      return true;
    cursor = next->as_string();
  }
  return false;
}

}  // namespace atcr::xrpc

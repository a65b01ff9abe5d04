#include "atcr/s3/client.h"

#include <fmt/format.h>
#include <tinyxml2.h>

#include <algorithm>
#include <charconv>
#include <thread>
#include <tuple>

#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"
#include "s3/xml.h"
#include "util/text.h"

namespace atcr::s3 {

namespace {

constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr std::uint64_t kMaxSinglePut = 5ull << 30;  // S3's limit for one PUT or one part
constexpr int kMaxPartNumber = 10000;
constexpr std::size_t kMaxErrorBody = 1 << 20;

// ---- input checks ----------------------------------------------------------

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool looks_like_ipv4(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// AWS's rules for bucket names, which also make them valid DNS labels for
// virtual-host style addressing.
void check_bucket(std::string_view name) {
  auto bad = [&](std::string_view why) {
    throw Error(fmt::format("s3: invalid bucket name '{}': {}", name, why));
  };
  if (name.size() < 3 || name.size() > 63) bad("must be 3 to 63 characters");
  if (!is_lower_alnum(name.front()) || !is_lower_alnum(name.back())) bad("must begin and end with a letter or digit");
  for (char c : name)
    if (!is_lower_alnum(c) && c != '.' && c != '-') bad("only lowercase letters, digits, '.' and '-' are allowed");
  if (name.find("..") != std::string_view::npos) bad("two adjacent periods");
  if (looks_like_ipv4(name)) bad("formatted as an IP address");
}

void check_key(std::string_view key) {
  if (key.empty()) throw Error("s3: empty object key");
  if (key.size() > 1024) throw Error(fmt::format("s3: object key of {} bytes (the limit is 1024)", key.size()));
  if (!util::is_valid_utf8(key)) throw Error("s3: object key is not valid UTF-8");
  // curl, like every URL library, would resolve these segments away.
  std::size_t start = 0;
  while (start <= key.size()) {
    std::size_t end = std::min(key.find('/', start), key.size());
    std::string_view segment = key.substr(start, end - start);
    if (segment == "." || segment == "..")
      throw Error(fmt::format("s3: object key '{}' has a '.' or '..' path segment", key));
    start = end + 1;
  }
}

void check_part_number(int n) {
  if (n < 1 || n > kMaxPartNumber) throw Error(fmt::format("s3: part number {} is not in 1..{}", n, kMaxPartNumber));
}

void check_upload_id(std::string_view id) {
  if (id.empty()) throw Error("s3: empty multipart upload id");
}

// The key, upload id and part number every part call names.
void check_part(std::string_view key, std::string_view upload_id, int part_number) {
  check_key(key);
  check_upload_id(upload_id);
  check_part_number(part_number);
}

void check_size(std::uint64_t size) {
  if (size > kMaxSinglePut) throw Error(fmt::format("s3: {} bytes is over S3's 5 GiB limit for one PUT", size));
}

// ---- endpoint ----------------------------------------------------------------

struct Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;    // lowercased, with ":port" unless the scheme's default
  bool ip_literal = false;
};

// Parses "scheme://host[:port][/]". The port is dropped when it is the
// scheme's default because curl then leaves it out of the Host header, and
// the signed host must match that header exactly.
Endpoint parse_endpoint(std::string_view url, std::string_view what) {
  auto bad = [&](std::string_view why) { throw Error(fmt::format("s3: invalid {} '{}': {}", what, url, why)); };
  Endpoint ep;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) bad("expected http:// or https://");
  ep.scheme = util::ascii_lower(url.substr(0, sep));
  if (ep.scheme != "http" && ep.scheme != "https") bad("expected http:// or https://");
  std::string_view rest = url.substr(sep + 3);
  rest = util::strip_trailing_slashes(rest);
  if (rest.find_first_of("/?#@ ") != std::string_view::npos) bad("only scheme, host and port are allowed");

  std::string_view name = rest, port;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {  // IPv6 literal
    auto close = rest.find(']');
    if (close == std::string_view::npos) bad("unterminated IPv6 address");
    name = rest.substr(0, close + 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':') bad("junk after the IPv6 address");
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
    ep.ip_literal = true;
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    name = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    has_port = true;
  }
  if (name.empty()) bad("no host");
  unsigned port_number = 0;
  if (has_port) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || port_number == 0 ||
        port_number > 65535)
      bad("bad port");
  }
  ep.ip_literal = ep.ip_literal || looks_like_ipv4(name);
  ep.host = util::ascii_lower(name);
  bool default_port = port_number == 0 || (ep.scheme == "http" && port_number == 80) ||
                      (ep.scheme == "https" && port_number == 443);
  if (!default_port) ep.host += fmt::format(":{}", port_number);
  return ep;
}

// ---- small helpers -------------------------------------------------------------

std::string unquote(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

std::uint64_t parse_u64(std::string_view text, std::string_view what) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    throw ParseError(fmt::format("s3: bad {} '{}'", what, text));
  return v;
}

std::string query_string(const Params& query) {
  std::string out;
  for (const auto& [k, v] : query) {
    out += out.empty() ? '?' : '&';
    out += uri_encode(k, false) + "=" + uri_encode(v, false);
  }
  return out;
}

std::string sha256_hex(BytesView data) { return hex::encode(sha256(data)); }

// A code for answers without an S3 error body (HEAD, some proxies).
std::string code_for_status(int status) {
  switch (status) {
    case 400: return "BadRequest";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 412: return "PreconditionFailed";
    case 416: return "InvalidRange";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    default: return fmt::format("HTTP{}", status);
  }
}

std::string range_header(const ByteRange& r) {
  if (!r.length) return fmt::format("bytes={}-", r.offset);
  if (*r.length == 0) throw Error("s3: empty byte range");
  return fmt::format("bytes={}-{}", r.offset, r.offset + *r.length - 1);
}

// The object size from "Content-Range: bytes 0-9/1234" ("*" when unknown).
std::optional<std::uint64_t> total_from_content_range(std::string_view cr) {
  auto slash = cr.rfind('/');
  if (slash == std::string_view::npos || cr.substr(slash + 1) == "*") return std::nullopt;
  return parse_u64(cr.substr(slash + 1), "Content-Range");
}

ObjectInfo info_from(const net::HttpResponse& r) {
  ObjectInfo info;
  std::string length = r.header("content-length");
  if (!length.empty()) info.size = parse_u64(length, "Content-Length");
  if (r.status == 206)
    if (auto total = total_from_content_range(r.header("content-range"))) info.size = *total;
  info.etag = unquote(r.header("etag"));
  info.content_type = r.header("content-type");
  info.last_modified = r.header("last-modified");
  return info;
}

// ---- XML -------------------------------------------------------------------------

using tinyxml2::XMLDocument;
using tinyxml2::XMLElement;

// Parses `body` into `doc`; returns its root element if that is named
// `root`, else nullptr.
const XMLElement* parse_doc(XMLDocument& doc, std::string_view body, const char* root) {
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS) return nullptr;
  const XMLElement* e = doc.RootElement();
  if (e == nullptr || std::string_view(e->Name()) != root) return nullptr;
  return e;
}

const XMLElement* require_root(XMLDocument& doc, std::string_view body, const char* root) {
  const XMLElement* e = parse_doc(doc, body, root);
  if (e == nullptr) {
    throw ParseError(fmt::format("s3: expected an XML <{}> document, got '{}'", root,
                                 body.substr(0, std::min<std::size_t>(body.size(), 200))));
  }
  return e;
}

std::string text(const XMLElement* parent, const char* name) {
  const XMLElement* e = parent->FirstChildElement(name);
  const char* t = e != nullptr ? e->GetText() : nullptr;
  return t != nullptr ? t : "";
}

std::string required_text(const XMLElement* parent, const char* name) {
  const XMLElement* e = parent->FirstChildElement(name);
  if (e == nullptr) throw ParseError(fmt::format("s3: <{}> has no <{}>", parent->Name(), name));
  const char* t = e->GetText();
  return t != nullptr ? t : "";
}

// ETags are hex (with a "-N" suffix at most) but come from the server.
std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Decodes a value of a listing requested with encoding-type=url, where AWS
// writes a space as '+' (radosgw as %20; both decode here).
std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      Bytes b;
      if (i + 2 >= s.size()) throw ParseError(fmt::format("s3: bad %-escape in '{}'", s));
      try {
        b = hex::decode(s.substr(i + 1, 2));
      } catch (const ParseError&) {
        throw ParseError(fmt::format("s3: bad %-escape in '{}'", s));
      }
      out += static_cast<char>(b[0]);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

// ---- S3Error ---------------------------------------------------------------------

S3Error::S3Error(int status, std::string code, std::string message, std::string request_id, std::string key,
                 const std::string& what)
    : Error(what),
      status_(status),
      code_(std::move(code)),
      message_(std::move(message)),
      request_id_(std::move(request_id)),
      key_(std::move(key)) {}

// ---- XML bodies ----------------------------------------------------------------------

namespace xml {

std::optional<ErrorBody> parse_error(std::string_view body) {
  XMLDocument doc;
  const XMLElement* root = parse_doc(doc, body, "Error");
  if (root == nullptr) return std::nullopt;
  return ErrorBody{text(root, "Code"), text(root, "Message"), text(root, "RequestId"), text(root, "Key")};
}

ListResult parse_list_objects(std::string_view body) {
  XMLDocument doc;
  const XMLElement* root = require_root(doc, body, "ListBucketResult");
  bool encoded = text(root, "EncodingType") == "url";
  auto decode = [&](std::string s) { return encoded ? url_decode(s) : s; };
  ListResult out;
  out.truncated = text(root, "IsTruncated") == "true";
  out.next_continuation_token = text(root, "NextContinuationToken");
  for (auto* e = root->FirstChildElement("Contents"); e != nullptr; e = e->NextSiblingElement("Contents")) {
    ListedObject o;
    o.key = decode(required_text(e, "Key"));
    o.size = parse_u64(required_text(e, "Size"), "object size in a listing");
    o.etag = unquote(text(e, "ETag"));
    o.last_modified = text(e, "LastModified");
    out.objects.push_back(std::move(o));
  }
  for (auto* e = root->FirstChildElement("CommonPrefixes"); e != nullptr;
       e = e->NextSiblingElement("CommonPrefixes"))
    out.common_prefixes.push_back(decode(required_text(e, "Prefix")));
  if (out.truncated && out.next_continuation_token.empty())
    throw ParseError("s3: truncated listing without a NextContinuationToken");
  return out;
}

std::string parse_upload_id(std::string_view body) {
  XMLDocument doc;
  std::string id = required_text(require_root(doc, body, "InitiateMultipartUploadResult"), "UploadId");
  if (id.empty()) throw ParseError("s3: empty UploadId");
  return id;
}

std::string parse_copy_etag(std::string_view body, const char* root) {
  XMLDocument doc;
  return unquote(required_text(require_root(doc, body, root), "ETag"));
}

std::string parse_complete_etag(std::string_view body) {
  XMLDocument doc;
  return unquote(required_text(require_root(doc, body, "CompleteMultipartUploadResult"), "ETag"));
}

PartsPage parse_list_parts(std::string_view body) {
  XMLDocument doc;
  const XMLElement* root = require_root(doc, body, "ListPartsResult");
  PartsPage page;
  page.truncated = text(root, "IsTruncated") == "true";
  for (auto* e = root->FirstChildElement("Part"); e != nullptr; e = e->NextSiblingElement("Part")) {
    PartInfo p;
    p.part_number = static_cast<int>(parse_u64(required_text(e, "PartNumber"), "PartNumber"));
    p.etag = unquote(required_text(e, "ETag"));
    p.size = parse_u64(required_text(e, "Size"), "part size");
    page.parts.push_back(std::move(p));
  }
  if (page.truncated) {
    std::string marker = text(root, "NextPartNumberMarker");
    page.next_marker = static_cast<int>(parse_u64(marker, "NextPartNumberMarker"));
  }
  return page;
}

MultipartUploadsPage parse_list_multipart_uploads(std::string_view body) {
  XMLDocument doc;
  const XMLElement* root = require_root(doc, body, "ListMultipartUploadsResult");
  // Asked for with encoding-type=url: radosgw encodes the keys but leaves
  // <EncodingType> out, so only another stated encoding means raw keys.
  std::string stated = text(root, "EncodingType");
  bool encoded = stated.empty() || stated == "url";
  auto decode = [&](std::string s) { return encoded ? url_decode(s) : s; };
  MultipartUploadsPage page;
  page.truncated = text(root, "IsTruncated") == "true";
  page.next_key_marker = decode(text(root, "NextKeyMarker"));
  page.next_upload_id_marker = text(root, "NextUploadIdMarker");
  for (auto* e = root->FirstChildElement("Upload"); e != nullptr; e = e->NextSiblingElement("Upload")) {
    MultipartUpload u;
    u.key = decode(required_text(e, "Key"));
    u.upload_id = required_text(e, "UploadId");
    u.initiated = text(e, "Initiated");
    page.uploads.push_back(std::move(u));
  }
  if (page.truncated && page.next_key_marker.empty() && page.next_upload_id_marker.empty())
    throw ParseError("s3: truncated ListMultipartUploads without a next marker");
  return page;
}

std::string complete_multipart_body(const std::vector<CompletedPart>& parts) {
  std::string out = "<CompleteMultipartUpload>";
  for (const auto& p : parts) {
    out += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>", p.part_number,
                       xml_escape(unquote(p.etag)));
  }
  return out + "</CompleteMultipartUpload>";
}

}  // namespace xml

// ---- the client ------------------------------------------------------------------------

namespace {

// One S3 operation before signing.
struct Call {
  std::string_view op;  // for messages: "GetObject", ...
  std::string method;
  std::string key;  // "" for the bucket itself
  Params query;
  Params headers;  // signed and sent
};

}  // namespace

struct S3Client::Impl {
  S3Config config;
  Endpoint endpoint;
  std::optional<Endpoint> pull_zone;
  SigningContext signing;
  net::HttpOptions buffered, streamed;
  net::HttpClient http;

  static net::HttpOptions options_for(const S3Config& c, bool streaming) {
    net::HttpOptions o;
    o.timeout = streaming ? c.stream_timeout : c.timeout;
    o.stall_timeout = c.stall_timeout;
    // Streamed 2xx bodies go to the sink uncapped; this bounds error bodies.
    o.max_response_bytes = streaming ? kMaxErrorBody : std::max(c.max_buffered_bytes, kMaxErrorBody);
    return o;
  }

  explicit Impl(S3Config c)
      : config(std::move(c)),
        endpoint(parse_endpoint(config.endpoint, "endpoint")),
        signing{config.credentials, config.region, "s3"},
        buffered(options_for(config, false)),
        streamed(options_for(config, true)),
        http(buffered) {
    check_bucket(config.bucket);
    if (config.region.empty()) throw Error("s3: empty region");
    if (config.max_retries < 0 || config.max_retries > 10 || config.retry_delay.count() < 0)
      throw Error(fmt::format("s3: max_retries {} is not in 0..10 (or retry_delay is negative)", config.max_retries));
    if (config.credentials.access_key_id.empty() || config.credentials.secret_access_key.empty())
      throw Error("s3: missing access key or secret key");
    if (!config.path_style && endpoint.ip_literal)
      throw Error(fmt::format("s3: endpoint '{}' is an IP address; virtual-host style needs a DNS name (use path_style)",
                              config.endpoint));
    if (!config.pull_zone.empty()) pull_zone = parse_endpoint(config.pull_zone, "pull zone");
  }

  TimePoint now() const { return config.clock ? config.clock() : std::chrono::system_clock::now(); }

  std::string host() const { return config.path_style ? endpoint.host : config.bucket + "." + endpoint.host; }

  // The raw (unencoded) path that is signed.
  std::string path(std::string_view key) const {
    std::string p = config.path_style ? "/" + config.bucket : "";
    if (!key.empty() || !config.path_style) p += "/";
    return p + std::string(key);
  }

  // Where requests go: "scheme://host", with the bucket in the host name
  // for virtual-host style.
  std::string origin() const { return endpoint.scheme + "://" + host(); }

  std::string url(const Call& call) const {
    return origin() + uri_encode(path(call.key), true) + query_string(call.query);
  }

  net::HttpRequest signed_request(const Call& call, std::string payload_hash) const {
    CanonicalRequest canonical{call.method, host(), path(call.key), call.query, call.headers, std::move(payload_hash)};
    net::HttpRequest request;
    request.method = call.method;
    request.url = url(call);
    request.headers = call.headers;
    for (auto& h : sign_headers(canonical, signing, now())) request.headers.push_back(std::move(h));
    return request;
  }

  [[noreturn]] void fail(const Call& call, const net::HttpResponse& r) const {
    std::string body = r.text();
    auto parsed = xml::parse_error(body);
    xml::ErrorBody e = parsed ? *parsed : xml::ErrorBody{code_for_status(r.status), "", "", ""};
    if (e.code.empty()) e.code = code_for_status(r.status);
    if (e.request_id.empty()) e.request_id = r.header("x-amz-request-id");
    throw S3Error(r.status, e.code, e.message, e.request_id, call.key,
                  fmt::format("s3: {} {}/{}: {} (HTTP {}){}{}", call.op, config.bucket, call.key, e.code, r.status,
                              e.message.empty() ? "" : ": " + e.message,
                              e.request_id.empty() ? "" : " [request " + e.request_id + "]"));
  }

  // Sends a request whose body is in memory, retrying the answers S3 gives
  // when it is briefly overloaded. The signature stays valid for minutes,
  // so the same signed request is simply sent again.
  net::HttpResponse send_retrying(const net::HttpRequest& request) const {
    for (int attempt = 0;; ++attempt) {
      net::HttpResponse r = http.send(request, buffered);
      if (attempt >= config.max_retries || !retryable(r.status)) return r;
      auto delay = config.retry_delay * (1LL << (2 * std::min(attempt, 10)));
      // Up to +50% jitter, so clients that failed together do not return together.
      delay += std::chrono::milliseconds(static_cast<std::int64_t>(random_u64() % static_cast<std::uint64_t>(delay.count() / 2 + 1)));
      std::this_thread::sleep_for(delay);
    }
  }

  static bool retryable(int status) { return status == 500 || status == 502 || status == 503 || status == 504; }

  // Sends a call whose body is in memory; throws S3Error unless 2xx.
  net::HttpResponse send(const Call& call, BytesView body = {}) const {
    net::HttpRequest request = signed_request(call, sha256_hex(body));
    request.body.assign(body.begin(), body.end());
    net::HttpResponse r = send_retrying(request);
    if (!r.ok()) fail(call, r);
    return r;
  }

  net::HttpResponse send_streaming(const Call& call, const net::BodySource& source, const Sink& sink) const {
    net::HttpRequest request = signed_request(call, std::string(kUnsignedPayload));
    net::HttpResponse r = http.send_streaming(request, source, sink, streamed);
    if (!r.ok()) fail(call, r);
    return r;
  }

  // x-amz-copy-source: "/<bucket>/<key>", URI-encoded.
  std::string copy_source(std::string_view key) const {
    return uri_encode("/" + config.bucket + "/" + std::string(key), true);
  }

  // CopyObject and CompleteMultipartUpload may fail after answering 200:
  // the error is then in the body.
  void check_late_error(const Call& call, const net::HttpResponse& r) const {
    if (xml::parse_error(r.text())) fail(call, r);
  }

  std::string presign(const Call& call, std::chrono::seconds expires, bool via_pull_zone) const {
    CanonicalRequest canonical{call.method, host(), path(call.key), call.query, {}, std::string(kUnsignedPayload)};
    std::string query = presign_query(canonical, signing, now(), expires);
    // The signature covers the bucket's host, not the URL's: a pull zone
    // forwards with that Host, so its origin can simply replace ours.
    std::string base = via_pull_zone && pull_zone ? pull_zone->scheme + "://" + pull_zone->host : origin();
    return base + uri_encode(path(call.key), true) + "?" + query;
  }
};

bool S3Config::operator==(const S3Config& o) const {
  auto settings = [](const S3Config& c) {
    return std::tie(c.endpoint, c.bucket, c.region, c.credentials, c.path_style, c.pull_zone, c.timeout,
                    c.stream_timeout, c.stall_timeout, c.max_buffered_bytes, c.max_retries, c.retry_delay,
                    c.max_single_copy_bytes, c.copy_part_bytes);
  };
  return settings(*this) == settings(o);
}

S3Client::S3Client(S3Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
S3Client::~S3Client() = default;

const S3Config& S3Client::config() const { return impl_->config; }

std::string S3Client::url(std::string_view key) const {
  if (!key.empty()) check_key(key);
  return impl_->url(Call{"", "GET", std::string(key), {}, {}});
}

namespace {

Params content_type_header(std::string_view content_type) {
  if (content_type.empty()) return {};
  return {{"content-type", std::string(content_type)}};
}

Params part_query(std::string_view upload_id, int part_number) {
  return {{"partNumber", std::to_string(part_number)}, {"uploadId", std::string(upload_id)}};
}

}  // namespace

std::string S3Client::put_object(std::string_view key, BytesView data, std::string_view content_type) const {
  check_key(key);
  check_size(data.size());
  Call call{"PutObject", "PUT", std::string(key), {}, content_type_header(content_type)};
  return unquote(impl_->send(call, data).header("etag"));
}

std::string S3Client::put_object_stream(std::string_view key, std::uint64_t size, const Reader& read,
                                        std::string_view content_type) const {
  check_key(key);
  check_size(size);
  Call call{"PutObject", "PUT", std::string(key), {}, content_type_header(content_type)};
  return unquote(impl_->send_streaming(call, net::BodySource{size, read}, {}).header("etag"));
}

Bytes S3Client::get_object(std::string_view key, std::optional<ByteRange> range) const {
  check_key(key);
  Call call{"GetObject", "GET", std::string(key), {}, {}};
  if (range) call.headers.emplace_back("range", range_header(*range));
  net::HttpResponse r = impl_->send(call);
  // A server that ignores Range answers 200 with the whole object.
  if (range && r.status != 206) throw Error(fmt::format("s3: GetObject {}: Range ignored (HTTP {})", key, r.status));
  return std::move(r.body);
}

ObjectInfo S3Client::get_object_stream(std::string_view key, const Sink& sink, std::optional<ByteRange> range) const {
  check_key(key);
  if (!sink) throw Error("s3: get_object_stream without a sink");
  Call call{"GetObject", "GET", std::string(key), {}, {}};
  if (range) call.headers.emplace_back("range", range_header(*range));
  net::HttpResponse r = impl_->send_streaming(call, {}, sink);
  if (range && r.status != 206) throw Error(fmt::format("s3: GetObject {}: Range ignored (HTTP {})", key, r.status));
  return info_from(r);
}

std::optional<ObjectInfo> S3Client::head_object(std::string_view key) const {
  check_key(key);
  Call call{"HeadObject", "HEAD", std::string(key), {}, {}};
  net::HttpRequest request = impl_->signed_request(call, sha256_hex({}));
  net::HttpResponse r = impl_->send_retrying(request);
  if (r.status == 404) return std::nullopt;
  if (!r.ok()) impl_->fail(call, r);
  return info_from(r);
}

void S3Client::delete_object(std::string_view key) const {
  check_key(key);
  Call call{"DeleteObject", "DELETE", std::string(key), {}, {}};
  try {
    impl_->send(call);
  } catch (const S3Error& e) {
    // S3 answers 204 for a missing key; some implementations say NoSuchKey.
    if (e.code() != "NoSuchKey") throw;
  }
}

std::string S3Client::copy_object(std::string_view from, std::string_view to) const {
  check_key(from);
  check_key(to);
  Call call{"CopyObject", "PUT", std::string(to), {}, {{"x-amz-copy-source", impl_->copy_source(from)}}};
  net::HttpResponse r = impl_->send(call);
  impl_->check_late_error(call, r);
  return xml::parse_copy_etag(r.text());
}

std::string S3Client::upload_part_copy(std::string_view key, std::string_view upload_id, int part_number,
                                       std::string_view from, const ByteRange& range) const {
  check_part(key, upload_id, part_number);
  check_key(from);
  if (!range.length || *range.length == 0) throw Error("s3: upload_part_copy needs a non-empty bounded range");
  Call call{"UploadPartCopy", "PUT", std::string(key), part_query(upload_id, part_number),
            {{"x-amz-copy-source", impl_->copy_source(from)},
             {"x-amz-copy-source-range", range_header(range)}}};
  net::HttpResponse r = impl_->send(call);
  impl_->check_late_error(call, r);
  return xml::parse_copy_etag(r.text(), "CopyPartResult");
}

void S3Client::copy_large_object(std::string_view from, std::string_view to) const {
  auto info = head_object(from);
  if (!info)
    throw S3Error(404, "NoSuchKey", "no object to copy", "", std::string(from),
                  fmt::format("s3: copying '{}': no such key", from));
  const S3Config& c = impl_->config;
  if (info->size <= c.max_single_copy_bytes) {
    copy_object(from, to);
    return;
  }
  std::uint64_t part = std::max<std::uint64_t>(c.copy_part_bytes, 5ULL << 20);
  // S3 allows 10000 parts: grow them for objects that would need more.
  part = std::max(part, (info->size + 9999) / 10000);
  std::string upload_id = create_multipart_upload(to);
  try {
    std::vector<CompletedPart> parts;
    for (std::uint64_t offset = 0; offset < info->size; offset += part) {
      int number = static_cast<int>(parts.size()) + 1;
      ByteRange range{offset, std::min(part, info->size - offset)};
      parts.push_back({number, upload_part_copy(to, upload_id, number, from, range)});
    }
    complete_multipart_upload(to, upload_id, parts);
  } catch (const Error&) {
    try {
      abort_multipart_upload(to, upload_id);
    } catch (const Error&) {
      // The bucket's lifecycle rules (or Uploads::expire) reclaim it.
    }
    throw;
  }
}

void S3Client::move_object(std::string_view from, std::string_view to) const {
  if (from == to) throw Error(fmt::format("s3: move_object: '{}' onto itself", from));
  copy_large_object(from, to);
  delete_object(from);
}

ListResult S3Client::list_objects(const ListOptions& options) const {
  if (options.max_keys < 1 || options.max_keys > 1000)
    throw Error(fmt::format("s3: max_keys {} is not in 1..1000", options.max_keys));
  // encoding-type=url: keys may hold characters XML 1.0 cannot carry.
  Call call{"ListObjectsV2", "GET", "", {{"list-type", "2"}, {"encoding-type", "url"}}, {}};
  call.query.emplace_back("max-keys", std::to_string(options.max_keys));
  if (!options.prefix.empty()) call.query.emplace_back("prefix", options.prefix);
  if (!options.delimiter.empty()) call.query.emplace_back("delimiter", options.delimiter);
  if (!options.continuation_token.empty()) call.query.emplace_back("continuation-token", options.continuation_token);
  return xml::parse_list_objects(impl_->send(call).text());
}

std::string S3Client::create_multipart_upload(std::string_view key, std::string_view content_type) const {
  check_key(key);
  Call call{"CreateMultipartUpload", "POST", std::string(key), {{"uploads", ""}}, content_type_header(content_type)};
  return xml::parse_upload_id(impl_->send(call).text());
}

std::string S3Client::upload_part(std::string_view key, std::string_view upload_id, int part_number,
                                  BytesView data) const {
  check_part(key, upload_id, part_number);
  check_size(data.size());
  Call call{"UploadPart", "PUT", std::string(key), part_query(upload_id, part_number), {}};
  return unquote(impl_->send(call, data).header("etag"));
}

std::string S3Client::upload_part_stream(std::string_view key, std::string_view upload_id, int part_number,
                                         std::uint64_t size, const Reader& read) const {
  check_part(key, upload_id, part_number);
  check_size(size);
  Call call{"UploadPart", "PUT", std::string(key), part_query(upload_id, part_number), {}};
  return unquote(impl_->send_streaming(call, net::BodySource{size, read}, {}).header("etag"));
}

std::string S3Client::complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                                const std::vector<CompletedPart>& parts) const {
  check_key(key);
  check_upload_id(upload_id);
  if (parts.empty()) throw Error("s3: completing a multipart upload with no parts");
  for (const auto& p : parts) check_part_number(p.part_number);
  Call call{"CompleteMultipartUpload", "POST", std::string(key), {{"uploadId", std::string(upload_id)}},
            {{"content-type", "application/xml"}}};
  net::HttpResponse r = impl_->send(call, as_bytes(xml::complete_multipart_body(parts)));
  impl_->check_late_error(call, r);
  std::string etag = xml::parse_complete_etag(r.text());
  // radosgw 16 answers with an empty <ETag>; the object has the right one.
  if (etag.empty()) etag = unquote(r.header("etag"));
  if (etag.empty()) {
    auto info = head_object(key);
    if (!info) throw Error(fmt::format("s3: CompleteMultipartUpload {}: succeeded but the object is not there", key));
    etag = info->etag;
  }
  return etag;
}

void S3Client::abort_multipart_upload(std::string_view key, std::string_view upload_id) const {
  check_key(key);
  check_upload_id(upload_id);
  impl_->send(Call{"AbortMultipartUpload", "DELETE", std::string(key), {{"uploadId", std::string(upload_id)}}, {}});
}

std::vector<PartInfo> S3Client::list_parts(std::string_view key, std::string_view upload_id) const {
  check_key(key);
  check_upload_id(upload_id);
  std::vector<PartInfo> parts;
  int marker = 0;
  // 10000 parts at most, 1000 a page by default: the bound guards against a
  // server whose marker never advances.
  for (int page = 0; page < 100; ++page) {
    Call call{"ListParts", "GET", std::string(key), {{"uploadId", std::string(upload_id)}}, {}};
    if (marker > 0) call.query.emplace_back("part-number-marker", std::to_string(marker));
    xml::PartsPage p = xml::parse_list_parts(impl_->send(call).text());
    parts.insert(parts.end(), p.parts.begin(), p.parts.end());
    if (!p.truncated) return parts;
    if (p.next_marker <= marker) throw ParseError("s3: ListParts marker did not advance");
    marker = p.next_marker;
  }
  throw Error(fmt::format("s3: ListParts {}: more than 100 pages", key));
}

MultipartUploadsPage S3Client::list_multipart_uploads(std::string_view prefix, std::string_view key_marker,
                                                      std::string_view upload_id_marker) const {
  Call call{"ListMultipartUploads", "GET", "", {{"uploads", ""}, {"encoding-type", "url"}}, {}};
  if (!prefix.empty()) call.query.emplace_back("prefix", std::string(prefix));
  if (!key_marker.empty()) call.query.emplace_back("key-marker", std::string(key_marker));
  if (!upload_id_marker.empty()) call.query.emplace_back("upload-id-marker", std::string(upload_id_marker));
  return xml::parse_list_multipart_uploads(impl_->send(call).text());
}

std::string S3Client::presign_get(std::string_view key, std::chrono::seconds expires) const {
  check_key(key);
  return impl_->presign(Call{"", "GET", std::string(key), {}, {}}, expires, true);
}

std::string S3Client::presign_head(std::string_view key, std::chrono::seconds expires) const {
  check_key(key);
  return impl_->presign(Call{"", "HEAD", std::string(key), {}, {}}, expires, true);
}

std::string S3Client::presign_put(std::string_view key, std::chrono::seconds expires) const {
  check_key(key);
  return impl_->presign(Call{"", "PUT", std::string(key), {}, {}}, expires, false);
}

std::string S3Client::presign_upload_part(std::string_view key, std::string_view upload_id, int part_number,
                                          std::chrono::seconds expires) const {
  check_part(key, upload_id, part_number);
  return impl_->presign(Call{"", "PUT", std::string(key), part_query(upload_id, part_number), {}}, expires, false);
}

}  // namespace atcr::s3

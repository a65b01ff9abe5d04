#include "appview/hold_client.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>

#include "atcr/data/json.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/hold_records.h"
#include "atcr/xrpc/client.h"
#include "atcr/xrpc/error.h"
#include "util/text.h"

namespace atcr::appview {

namespace {

constexpr std::string_view kGetBlob = "com.atproto.sync.getBlob";

xrpc::CallOptions bearer(const std::string& token) {
  xrpc::CallOptions o;
  o.bearer = token;
  return o;
}

const std::string& string_field(const Value& v, std::string_view key, std::string_view what) {
  const Value* f = v.is_map() ? v.find(key) : nullptr;
  if (!f || !f->is_string()) throw ParseError(fmt::format("{}: the answer has no string '{}'", what, key));
  return f->as_string();
}

// Parts can be large and S3 may be far: allow minutes, but drop a stall.
net::HttpOptions part_options(const net::HttpOptions& base) {
  net::HttpOptions o = base;
  o.timeout = std::chrono::minutes(10);
  o.stall_timeout = std::chrono::seconds(60);
  return o;
}

// "scheme://host[:port]" of a URL, lowercased; "" when it has userinfo or
// is not http(s).
std::string origin_of(std::string_view url) {
  std::string lower = util::ascii_lower(url.substr(0, std::min(url.size(), url.find_first_of("/?#", url.find("://") + 3))));
  if (!(lower.starts_with("http://") || lower.starts_with("https://"))) return {};
  if (lower.find('@') != std::string::npos || lower.ends_with("://")) return {};
  return lower;
}

// The hold's headers a part PUT may carry: what S3 presigning can require
// of the request body, nothing that authenticates or routes.
bool forwardable(std::string_view name) {
  std::string n = util::ascii_lower(name);
  return n == "content-type" || n == "content-md5" || n.starts_with("x-amz-checksum-") ||
         n == "x-amz-sdk-checksum-algorithm";
}

[[noreturn]] void refuse_target(std::string_view hold_did, std::string_view why) {
  throw oci::RegistryError(oci::ErrorCode::kUnavailable,
                           fmt::format("hold {} gave a part upload URL this registry will not use: {}", hold_did, why),
                           {}, 502);
}

}  // namespace

HoldClient::HoldClient(HoldRef hold, std::shared_ptr<const net::HttpClient> http,
                       std::shared_ptr<const PartDestinations> parts)
    : hold_(std::move(hold)), http_(std::move(http)), parts_(std::move(parts)) {}

std::string HoldClient::blob_url(const oci::Digest& digest) const {
  return fmt::format("{}/xrpc/{}?did={}&cid={}", hold_.url, kGetBlob, net::url_encode(hold_.did),
                     net::url_encode(digest.str()));
}

std::optional<std::uint64_t> HoldClient::head_blob(const oci::Digest& digest, const std::string& token) const {
  net::HttpRequest req;
  req.method = "HEAD";
  req.url = blob_url(digest);
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  net::HttpResponse r = http_->send(req);
  if (r.status == 404) return std::nullopt;
  if (r.status != 200)
    throw xrpc::XrpcError(r.status, std::string(xrpc::default_error_name(r.status)),
                          fmt::format("hold {} answered HEAD {} with {}", hold_.did, digest.str(), r.status));
  std::string length = r.header("content-length");
  try {
    return std::stoull(length);
  } catch (const std::exception&) {
    throw ParseError(fmt::format("hold {}: HEAD {} has no usable Content-Length ('{}')", hold_.did, digest.str(),
                                 length.substr(0, 32)));
  }
}

BlobProbe HoldClient::probe_blob(const oci::Digest& digest, const std::string& token) const {
  net::HttpRequest req;
  req.url = blob_url(digest);
  // One byte is enough to learn whether the hold redirects or serves.
  req.headers.emplace_back("Range", "bytes=0-0");
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  net::HttpResponse r = http_->send(req);
  BlobProbe p;
  p.status = r.status;
  if (r.status >= 300 && r.status < 400 && !r.header("location").empty()) {
    p.kind = BlobProbe::Kind::kRedirect;
    p.location = r.header("location");
  } else if (r.status == 200 || r.status == 206 || r.status == 416) {
    p.kind = BlobProbe::Kind::kServed;  // 416: an empty blob
  } else if (r.status == 404) {
    p.kind = BlobProbe::Kind::kMissing;
  } else if (r.status == 401 || r.status == 403) {
    p.kind = BlobProbe::Kind::kDenied;
  } else {
    throw xrpc::XrpcError(r.status, std::string(xrpc::default_error_name(r.status)),
                          fmt::format("hold {} answered GET {} with {}", hold_.did, digest.str(), r.status));
  }
  return p;
}

net::HttpResponse HoldClient::stream_blob(const oci::Digest& digest, const std::string& token,
                                          const std::string& range, const net::BodySink& sink) const {
  net::HttpRequest req;
  req.url = blob_url(digest);
  if (!range.empty()) req.headers.emplace_back("Range", range);
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  return http_->send_streaming(req, {}, sink, part_options(http_->options()));
}

Value HoldClient::procedure(const std::string& nsid, const std::string& token, const Value& input) const {
  xrpc::XrpcClient client(hold_.url, http_);
  return client.procedure(nsid, input, {}, bearer(token));
}

HoldClient::Initiated HoldClient::initiate_upload(const std::string& token, const std::string& digest_hint) const {
  Value::Map in;
  if (!digest_hint.empty()) in["digest"] = Value(digest_hint);
  Value out = procedure("io.atcr.hold.initiateUpload", token, Value(std::move(in)));
  Initiated up{string_field(out, "uploadId", "initiateUpload")};
  if (const Value* m = out.find("minPartSize"); m && m->is_integer() && m->as_integer() > 0)
    up.min_part_size = static_cast<std::uint64_t>(m->as_integer());
  return up;
}

UploadTarget HoldClient::part_target(const std::string& token, const std::string& upload_id, int part_number) const {
  Value out = procedure("io.atcr.hold.getPartUploadUrl", token,
                        Value(Value::Map{{"uploadId", Value(upload_id)}, {"partNumber", Value(part_number)}}));
  UploadTarget t;
  t.url = string_field(out, "url", "getPartUploadUrl");
  if (const Value* m = out.find("method"); m && m->is_string()) t.method = m->as_string();
  if (t.method != "PUT") throw ParseError(fmt::format("getPartUploadUrl: unsupported method '{}'", t.method));
  if (const Value* h = out.find("headers"); h && h->is_map()) {
    for (const auto& [name, value] : h->as_map())
      if (value.is_string()) t.headers.emplace_back(name, value.as_string());
  }
  return t;
}

std::string HoldClient::put_part(const UploadTarget& target, const std::string& upload_part_token,
                                 BytesView data) const {
  std::size_t sent = 0;
  return put_part_stream(target, upload_part_token, data.size(), [&](std::span<std::uint8_t> buffer) {
    std::size_t n = std::min(buffer.size(), data.size() - sent);
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(sent), n, buffer.begin());
    sent += n;
    return n;
  });
}

std::string HoldClient::put_part_stream(const UploadTarget& target, const std::string& upload_part_token,
                                        std::uint64_t size,
                                        const std::function<std::size_t(std::span<std::uint8_t>)>& read) const {
  net::HttpRequest req;
  req.method = target.method;
  req.url = target.url;
  for (const auto& [name, value] : target.headers)
    if (forwardable(name)) req.headers.emplace_back(name, value);
  // The hold's own origin, a storage origin the operator listed, or an
  // https URL on a public address; only the hold's own uploadPart takes
  // our token (a presigned URL must not see it).
  std::string origin = origin_of(target.url);
  const net::HttpClient* client = http_.get();
  bool own = !origin.empty() && origin == origin_of(hold_.url);
  if (own && target.url.starts_with(hold_.url + "/xrpc/")) {
    req.headers.emplace_back("Authorization", "Bearer " + upload_part_token);
  } else if (!own && !(parts_ && std::find(parts_->trusted_origins.begin(), parts_->trusted_origins.end(), origin) !=
                                         parts_->trusted_origins.end())) {
    if (!origin.starts_with("https://")) refuse_target(hold_.did, "not https, and not the hold's own origin");
    if (!parts_) refuse_target(hold_.did, "not the hold's own origin");
    client = parts_->http.get();
  }
  net::BodySource source{size, read};
  net::HttpResponse r;
  try {
    r = client->send_streaming(req, source, {}, part_options(client->options()));
  } catch (const net::HttpError& e) {
    if (std::string_view(e.what()).find("not a public address") != std::string_view::npos)
      refuse_target(hold_.did, "it names an address on a private network");
    throw;
  }
  if (!r.ok()) {
    // Said by status only: the body is another service's and is not ours
    // to show the pushing client.
    // A full hold (507) stays one: the client should hear that, not "bad gateway".
    int status = r.status == 507 ? 507 : r.status >= 500 ? 502 : r.status;
    throw xrpc::XrpcError(status, std::string(xrpc::default_error_name(r.status)),
                          fmt::format("uploading a part to {} failed with {}", hold_.did, r.status));
  }
  std::string etag = r.header("etag");
  if (etag.empty() && own && !r.body.empty()) {
    Value v = json::parse(r.text());
    if (const Value* e = v.find("etag"); e && e->is_string()) etag = e->as_string();
  }
  if (etag.empty()) throw ParseError(fmt::format("a part upload to {} returned no ETag", hold_.did));
  return etag;
}

std::uint64_t HoldClient::complete_upload(const std::string& token, const std::string& upload_id,
                                          const oci::Digest& digest,
                                          const std::vector<UploadedPartInfo>& parts) const {
  Value::Array list;
  for (const UploadedPartInfo& p : parts)
    list.emplace_back(Value::Map{{"partNumber", Value(p.part_number)}, {"etag", Value(p.etag)}});
  Value out = procedure("io.atcr.hold.completeUpload", token,
                        Value(Value::Map{{"uploadId", Value(upload_id)},
                                         {"digest", Value(digest.str())},
                                         {"parts", Value(std::move(list))}}));
  const Value* size = out.find("size");
  return size && size->is_integer() && size->as_integer() >= 0 ? static_cast<std::uint64_t>(size->as_integer()) : 0;
}

void HoldClient::abort_upload(const std::string& token, const std::string& upload_id) const {
  procedure("io.atcr.hold.abortUpload", token, Value(Value::Map{{"uploadId", Value(upload_id)}}));
}

Value HoldClient::notify_manifest(const std::string& token, const Value& input) const {
  return procedure("io.atcr.hold.notifyManifest", token, input);
}

bool HoldClient::delete_blob(const std::string& token, const oci::Digest& digest, const std::string& repository) const {
  try {
    procedure("io.atcr.hold.deleteBlob", token,
              Value(Value::Map{{"digest", Value(digest.str())}, {"repository", Value(repository)}}));
  } catch (const xrpc::XrpcError& e) {
    if (e.status() == 404 && e.error() == "BlobNotFound") return false;
    throw;
  }
  return true;
}

std::string HoldClient::request_crew(const std::string& token) const {
  Value out = procedure("io.atcr.hold.requestCrew", token, Value(Value::Map{}));
  return string_field(out, "status", "requestCrew");
}

bool HoldClient::is_public() const {
  xrpc::XrpcClient client(hold_.url, http_);
  Value out = client.query("com.atproto.repo.getRecord", xrpc::Params{{"repo", hold_.did},
                                                                        {"collection", std::string(oci::kCaptainCollection)},
                                                                        {"rkey", "self"}});
  const Value* value = out.find("value");
  const Value* pub = value && value->is_map() ? value->find("public") : nullptr;
  return pub && pub->is_bool() && pub->as_bool();
}

}  // namespace atcr::appview

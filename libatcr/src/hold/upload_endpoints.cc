// io.atcr.hold.{initiateUpload, getPartUploadUrl, uploadPart,
// completeUpload, abortUpload}: OCI blob uploads as multipart uploads, on
// top of storage::Uploads (which verifies the digest before a blob becomes
// visible). Every method needs write access (captain, crew with
// blob:write, or anyone when allowAllCrew); an upload id only works for
// the DID that started it.
//
// Where the hold takes part bytes itself (no presigning), getPartUploadUrl
// answers a signed uploadPart URL (part_urls.h): a PUT to it with no other
// credential works, as for an S3 presigned URL. A service token still
// works too; a bad or expired signature is a 403.
#include <fmt/core.h>

#include <limits>

#include "atcr/net/http_client.h"
#include "atcr/log.h"
#include "hold/hold_impl.h"
#include "hold/input.h"

namespace atcr::hold {

namespace {

constexpr std::string_view kInitiate = "io.atcr.hold.initiateUpload";
constexpr std::string_view kPartUrl = "io.atcr.hold.getPartUploadUrl";
constexpr std::string_view kUploadPart = "io.atcr.hold.uploadPart";
constexpr std::string_view kComplete = "io.atcr.hold.completeUpload";
constexpr std::string_view kAbort = "io.atcr.hold.abortUpload";

constexpr std::size_t kMaxUploadId = 256;
constexpr std::size_t kMaxDigest = 128;

// The lexicons' error names, with a status that says whose fault it is.
[[noreturn]] void rethrow(const storage::UploadError& e) {
  using Kind = storage::UploadError::Kind;
  int status = 400;
  if (e.kind() == Kind::CompletionFailed || e.kind() == Kind::AbortFailed) status = 500;
  if (e.kind() == Kind::PartTooLarge) status = 413;
  throw xrpc::XrpcError(status, std::string(e.error_name()), e.what());
}

template <typename F>
auto upload_call(F&& f) {
  try {
    return f();
  } catch (const storage::UploadError& e) {
    rethrow(e);
  } catch (const storage::StorageFull& e) {
    // The hold stays up; the client learns why, not where (no paths).
    log::error("hold", "{}", e.what());
    throw xrpc::XrpcError(507, "InsufficientStorage",
                          "the hold's storage is full: nothing of this upload was kept; try again later or tell the "
                          "hold's operator");
  }
}

Value headers_object(const std::vector<std::pair<std::string, std::string>>& headers) {
  Value::Map m;
  for (const auto& [name, value] : headers) m[name] = Value(value);
  return Value(std::move(m));
}

// storage::Reader over the request body.
storage::Reader body_reader(xrpc::BodyReader& body) {
  return [&body](std::span<std::uint8_t> buffer) { return body.read(buffer); };
}

// completeUpload's parts: [{partNumber, etag}], at most kMaxPartNumber.
std::vector<storage::UploadedPart> completed_parts(const Value& in) {
  const Value* parts_in = input::field(in, "parts");
  if (!parts_in || !parts_in->is_array()) input::invalid("parts must be an array");
  if (parts_in->as_array().size() > static_cast<std::size_t>(storage::kMaxPartNumber))
    input::invalid("too many parts");
  std::vector<storage::UploadedPart> parts;
  for (const Value& p : parts_in->as_array()) {
    parts.push_back({static_cast<int>(input::required_integer(p, "partNumber", 1, storage::kMaxPartNumber)),
                     input::required_string(p, "etag", 256)});
  }
  return parts;
}

}  // namespace

std::string Hold::Impl::part_uploader(const xrpc::ServerRequest& req, const std::string& upload_id, int part) {
  std::optional<std::string> signature = req.param("sig");
  if (!signature || !req.bearer_token().empty()) return require(req, kUploadPart, Access::kWrite);
  std::string did = req.required_param("did");
  std::optional<std::int64_t> expires = req.int_param("expires", 0, std::numeric_limits<std::int64_t>::max());
  if (!expires) input::invalid("expires is required with sig");
  switch (part_urls->check(upload_id, part, did, *expires, *signature, xrpc::unix_now())) {
    case PartUrlSigner::Check::kValid:
      break;
    case PartUrlSigner::Check::kBadSignature:
      throw xrpc::XrpcError(403, "InvalidSignature",
                            "this part URL's signature does not match (ask getPartUploadUrl for a new one)");
    case PartUrlSigner::Check::kExpired:
      throw xrpc::XrpcError(403, "ExpiredSignature", "this part URL has expired (ask getPartUploadUrl for a new one)");
  }
  // The signer had write access when the URL was made; it must still.
  access.ensure_current(*pds);
  std::optional<CrewMember> crew = access.crew(did);
  Decision d = authorize(access.captain(), crew ? &*crew : nullptr, did, Access::kWrite);
  if (!d) throw xrpc::XrpcError(403, d.error, d.reason);
  return did;
}

xrpc::ServerResponse Hold::Impl::initiate_upload(const xrpc::ServerRequest& req) {
  std::string who = require(req, kInitiate, Access::kWrite);
  Value in = req.json();
  // Optional: a chunked OCI upload learns its digest only at the end.
  std::string digest = input::optional_string(in, "digest", kMaxDigest).value_or("");
  std::string id = upload_call([&] { return uploads->initiate(who, digest); });
  // minPartSize is ours, not the lexicon's (an open object; other
  // AppViews ignore it): the smallest part that need not be the last. An
  // AppView that knows it sends each chunk of at least that size as a part
  // of its own instead of holding it until a part is full (S3: 5 MiB).
  return xrpc::ServerResponse::json(Value(Value::Map{
      {"uploadId", Value(id)},
      {"minPartSize", Value(static_cast<std::int64_t>(store->min_part_size()))},
  }));
}

xrpc::ServerResponse Hold::Impl::get_part_upload_url(const xrpc::ServerRequest& req) {
  std::string who = require(req, kPartUrl, Access::kWrite);
  Value in = req.json();
  std::string id = input::required_string(in, "uploadId", kMaxUploadId);
  int part = static_cast<int>(input::required_integer(in, "partNumber", 1, storage::kMaxPartNumber));
  auto target = upload_call([&] { return uploads->part_target(id, who, part); });
  if (!target) {
    // No presigning: the bytes come through us, to uploadPart.
    std::int64_t expires = xrpc::unix_now() + config.storage.presign_expiry.count();
    target = storage::PartTarget{fmt::format("{}/xrpc/{}?{}", config.server.public_url, kUploadPart,
                                             part_urls->query(id, part, who, expires)),
                                 "PUT",
                                 {}};
  }
  return xrpc::ServerResponse::json(Value(Value::Map{
      {"url", Value(target->url)},
      {"method", Value(target->method)},
      {"headers", headers_object(target->headers)},
  }));
}

xrpc::ServerResponse Hold::Impl::upload_part(const xrpc::ServerRequest& req, xrpc::BodyReader& body) {
  std::string id = req.required_param("uploadId");
  auto part = req.int_param("partNumber", 1, storage::kMaxPartNumber);
  if (!part) input::invalid("partNumber is required");
  std::string who = part_uploader(req, id, static_cast<int>(*part));
  auto length = body.content_length();
  if (length && *length > config.uploads.max_part_bytes)
    throw xrpc::XrpcError(413, "PartTooLarge",
                          fmt::format("a part may be at most {} bytes", config.uploads.max_part_bytes));
  std::string etag =
      upload_call([&] { return uploads->write_part(id, who, static_cast<int>(*part), body_reader(body), length); });
  return xrpc::ServerResponse::json(Value(Value::Map{{"etag", Value(etag)}})).header("ETag", "\"" + etag + "\"");
}

xrpc::ServerResponse Hold::Impl::complete_upload(const xrpc::ServerRequest& req) {
  std::string who = require(req, kComplete, Access::kWrite);
  Value in = req.json();
  std::string id = input::required_string(in, "uploadId", kMaxUploadId);
  std::string digest = input::required_string(in, "digest", kMaxDigest);
  std::vector<storage::UploadedPart> parts = completed_parts(in);
  // Touched before and after: the blob may already be here (the upload
  // is then dropped), and the manifest that needs it comes later.
  touched.touch(digest);
  storage::CompletedBlob blob = upload_call([&] { return uploads->complete(id, who, digest, parts); });
  touched.touch(blob.digest.str());
  return xrpc::ServerResponse::json(Value(Value::Map{
      {"status", Value("completed")},
      {"digest", Value(blob.digest.str())},
      {"size", Value(static_cast<std::int64_t>(blob.size))},
  }));
}

xrpc::ServerResponse Hold::Impl::abort_upload(const xrpc::ServerRequest& req) {
  std::string who = require(req, kAbort, Access::kWrite);
  Value in = req.json();
  std::string id = input::required_string(in, "uploadId", kMaxUploadId);
  upload_call([&] {
    uploads->abort(id, who);
    return 0;
  });
  return xrpc::ServerResponse::json(Value(Value::Map{{"status", Value("aborted")}}));
}

void Hold::Impl::register_upload_endpoints(xrpc::XrpcServer& server) {
  server.procedure(kInitiate, [this](const xrpc::ServerRequest& req) { return initiate_upload(req); });
  server.procedure(kPartUrl, [this](const xrpc::ServerRequest& req) { return get_part_upload_url(req); });
  server.stream_method("PUT", kUploadPart,
                       [this](const xrpc::ServerRequest& req, xrpc::BodyReader& body) { return upload_part(req, body); });
  server.procedure(kComplete, [this](const xrpc::ServerRequest& req) { return complete_upload(req); });
  server.procedure(kAbort, [this](const xrpc::ServerRequest& req) { return abort_upload(req); });
}

}  // namespace atcr::hold

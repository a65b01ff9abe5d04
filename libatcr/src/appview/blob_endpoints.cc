// /v2/<name>/blobs/<digest>: HEAD, GET (Range), DELETE (202; see
// io.atcr.hold.deleteBlob for what stays while others use the blob).
//
// The blob lives on a hold: the repository's (from its manifests) for
// pulls, the owner's push hold for the owner's own checks before a push;
// each is tried in turn. GET answers 307 to where the bytes are: a
// presigned URL the hold hands out, or the hold's own getBlob URL when the
// hold is public and serves bytes itself. A private hold's bytes are
// proxied with the caller's service token (a 307 would lose it).
#include <fmt/core.h>

#include "appview/appview_impl.h"
#include "atcr/net/http_range.h"
#include "atcr/xrpc/error.h"

namespace atcr::appview {

namespace {

constexpr const char* kBlobPath = "/v2/(.+)/blobs/([^/]+)";

}  // namespace

// The holds a repository's blobs may be on: where its manifests point,
// then (for the owner, who may be about to push) the owner's push hold.
std::vector<std::string> Appview::Impl::blob_holds(const Target& t, bool owner) {
  std::vector<std::string> holds{pull_hold(t)};
  if (owner) {
    if (std::string mine = push_hold(t.did, t.pds_url); mine != holds[0]) holds.push_back(mine);
  }
  return holds;
}

// The holds a GET or HEAD of a blob asks: blob_holds(). But a HEAD with a
// token that may push here is a pusher asking "must I upload this?"
// (docker, skopeo and containerd all ask before each blob), and only the
// push hold answers that: a blob on the repository's older hold would be
// skipped and then refused at the manifest PUT, which checks the push hold
// (MANIFEST_BLOB_UNKNOWN). It also spares a first push to a new repository
// pull_hold()'s scan of every manifest the owner has.
std::vector<std::string> Appview::Impl::read_holds(const xrpc::ServerRequest& req, const Target& t,
                                                   const Caller& caller) {
  const bool owner = !caller.anonymous() && caller.did() == t.did;
  if (owner && req.method == "HEAD" && caller.claims->allows(t.str(), "push")) return {push_hold(t.did, t.pds_url)};
  return blob_holds(t, owner);
}

std::optional<xrpc::ServerResponse> Appview::Impl::head_blob_on(const std::string& hold_did, const HoldClient& hold,
                                                                const std::string& token, const oci::Digest& digest) {
  // Anyone may read a public hold, so what it was seen to hold (by
  // anyone, or by our own uploads) answers without asking it again.
  // Blobs are immutable and leave a hold only through its garbage
  // collection, so "present" may at worst be hold_ttl stale.
  const std::string key = hold_blob_key(hold_did, digest);
  std::optional<std::uint64_t> size = token.empty() ? hold_blobs.get(key) : std::nullopt;
  if (!size) size = hold.head_blob(digest, token);
  if (!size) return std::nullopt;
  if (token.empty()) hold_blobs.put(key, *size);
  return xrpc::ServerResponse::empty(200)
      .header("Content-Length", std::to_string(*size))
      .header("Content-Type", "application/octet-stream")
      .header("Docker-Content-Digest", digest.str());
}

std::optional<xrpc::ServerResponse> Appview::Impl::proxy_blob(const xrpc::ServerRequest& req, const HoldClient& hold,
                                                              const std::string& token, const oci::Digest& digest) {
  std::optional<std::uint64_t> size = hold.head_blob(digest, token);
  if (!size) return std::nullopt;
  auto range = net::parse_range(req.header("range"), *size);
  if (range && !range->satisfiable)
    return error_response(req, "", registry_error(oci::ErrorCode::kRangeInvalid, "range not satisfiable", 416))
        .header("Content-Range", range->content_range());
  std::uint64_t length = range ? range->length : *size;
  std::string range_header = range ? fmt::format("bytes={}-{}", range->offset, range->offset + range->length - 1)
                                   : std::string();
  auto response = xrpc::ServerResponse::streamed(
      length, "application/octet-stream",
      [hold, digest, token, range_header](const std::function<bool(BytesView)>& write) {
        hold.stream_blob(digest, token, range_header, [&](BytesView chunk) { return write(chunk); });
      },
      range ? 206 : 200);
  response.header("Docker-Content-Digest", digest.str()).header("Accept-Ranges", "bytes");
  if (range) response.header("Content-Range", range->content_range());
  return response;
}

std::optional<xrpc::ServerResponse> Appview::Impl::get_blob_on(const xrpc::ServerRequest& req, const HoldClient& hold,
                                                               const std::string& token, const oci::Digest& digest,
                                                               bool& denied) {
  BlobProbe probe = hold.probe_blob(digest, token);
  if (probe.kind == BlobProbe::Kind::kMissing) return std::nullopt;
  if (probe.kind == BlobProbe::Kind::kDenied) {
    denied = true;
    return std::nullopt;
  }
  if (probe.kind == BlobProbe::Kind::kRedirect || token.empty()) {
    std::string location = probe.kind == BlobProbe::Kind::kRedirect ? probe.location : hold.blob_url(digest);
    return xrpc::ServerResponse::empty(307)
        .header("Location", location)
        .header("Docker-Content-Digest", digest.str());
  }
  // A private hold serving bytes itself: proxy them.
  return proxy_blob(req, hold, token, digest);
}

xrpc::ServerResponse Appview::Impl::get_blob(const xrpc::ServerRequest& req) {
  Target t = resolve_name(req.path_params[0]);
  Caller caller = authorize(req, t, "pull");
  oci::Digest digest = digest_param(req.path_params[1]);
  bool denied = false;
  for (const std::string& hold_did : read_holds(req, t, caller)) {
    HoldClient hold = hold_client(hold_did);
    std::string token = read_token(hold, caller);
    std::optional<xrpc::ServerResponse> found;
    if (req.method != "HEAD") {
      found = get_blob_on(req, hold, token, digest, denied);
    } else {
      try {
        found = head_blob_on(hold_did, hold, token, digest);
      } catch (const xrpc::XrpcError& e) {
        if (e.status() != 401 && e.status() != 403) throw;
        denied = true;
      }
    }
    if (found) return std::move(*found);
  }
  if (denied) {
    if (caller.anonymous())
      throw registry_error(oci::ErrorCode::kUnauthorized, "this repository's hold is private: log in to pull");
    throw registry_error(oci::ErrorCode::kDenied, fmt::format("{} may not read blobs of {}", caller.did(), t.str()));
  }
  throw registry_error(oci::ErrorCode::kBlobUnknown, fmt::format("{} is not in {}", digest.str(), t.str()));
}

xrpc::ServerResponse Appview::Impl::delete_blob(const xrpc::ServerRequest& req) {
  Target t = resolve_name(req.path_params[0]);
  authorize(req, t, "delete");
  oci::Digest digest = digest_param(req.path_params[1]);
  if (!config.server.blob_delete)
    throw registry_error(oci::ErrorCode::kUnsupported, "blob deletion is disabled on this registry");
  // Each hold (as for GET) drops the owner's references from this
  // repository; the bytes go once no other repository or user on that hold
  // references them.
  bool found = false;
  for (const std::string& hold_did : blob_holds(t, true)) {
    HoldClient hold = hold_client(hold_did);
    if (hold.delete_blob(service_token(t.did, hold_did, "io.atcr.hold.deleteBlob"), digest, t.name.repository))
      found = true;
    hold_blobs.erase(hold_blob_key(hold_did, digest));
  }
  if (!found) throw registry_error(oci::ErrorCode::kBlobUnknown, fmt::format("{} is not in {}", digest.str(), t.str()));
  return xrpc::ServerResponse::empty(202).header("Docker-Content-Digest", digest.str());
}

void Appview::Impl::register_blobs(xrpc::XrpcServer& server) {
  server.route("GET", kBlobPath, guard("pull", [this](const xrpc::ServerRequest& req) { return get_blob(req); }));
  server.route("DELETE", kBlobPath,
               guard("delete", [this](const xrpc::ServerRequest& req) { return delete_blob(req); }));
}

}  // namespace atcr::appview

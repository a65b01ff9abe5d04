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

void Appview::Impl::register_blobs(xrpc::XrpcServer& server) {
  server.route("GET", kBlobPath, guard("pull", [this](const xrpc::ServerRequest& req) {
    Target t = resolve_name(req.path_params[0]);
    Caller caller = authorize(req, t, "pull");
    oci::Digest digest = digest_param(req.path_params[1]);

    // Candidate holds: where the repository's manifests point, then (for
    // the owner, who may be about to push) the owner's push hold.
    std::vector<std::string> holds{pull_hold(t)};
    if (!caller.anonymous() && caller.did() == t.did) {
      std::string mine = push_hold(t.did, t.pds_url);
      if (mine != holds[0]) holds.push_back(mine);
    }
    bool denied = false;
    for (const std::string& hold_did : holds) {
      HoldClient hold = hold_client(hold_did);
      std::string token = read_token(hold, caller);
      if (req.method == "HEAD") {
        // Anyone may read a public hold, so what it was seen to hold (by
        // anyone, or by our own uploads) answers without asking it again.
        // Blobs are immutable and leave a hold only through its garbage
        // collection, so "present" may at worst be hold_ttl stale.
        const std::string key = hold_blob_key(hold_did, digest);
        std::optional<std::uint64_t> size = token.empty() ? hold_blobs.get(key) : std::nullopt;
        try {
          if (!size) size = hold.head_blob(digest, token);
        } catch (const xrpc::XrpcError& e) {
          if (e.status() != 401 && e.status() != 403) throw;
          denied = true;
          continue;
        }
        if (!size) continue;
        if (token.empty()) hold_blobs.put(key, *size);
        return xrpc::ServerResponse::empty(200)
            .header("Content-Length", std::to_string(*size))
            .header("Content-Type", "application/octet-stream")
            .header("Docker-Content-Digest", digest.str());
      }
      BlobProbe probe = hold.probe_blob(digest, token);
      if (probe.kind == BlobProbe::Kind::kMissing) continue;
      if (probe.kind == BlobProbe::Kind::kDenied) {
        denied = true;
        continue;
      }
      if (probe.kind == BlobProbe::Kind::kRedirect || token.empty()) {
        std::string location = probe.kind == BlobProbe::Kind::kRedirect ? probe.location : hold.blob_url(digest);
        return xrpc::ServerResponse::empty(307)
            .header("Location", location)
            .header("Docker-Content-Digest", digest.str());
      }
      // A private hold serving bytes itself: proxy them.
      std::optional<std::uint64_t> size = hold.head_blob(digest, token);
      if (!size) continue;
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
    if (denied) {
      if (caller.anonymous())
        throw registry_error(oci::ErrorCode::kUnauthorized, "this repository's hold is private: log in to pull");
      throw registry_error(oci::ErrorCode::kDenied, fmt::format("{} may not read blobs of {}", caller.did(), t.str()));
    }
    throw registry_error(oci::ErrorCode::kBlobUnknown, fmt::format("{} is not in {}", digest.str(), t.str()));
  }));

  server.route("DELETE", kBlobPath, guard("delete", [this](const xrpc::ServerRequest& req) {
    Target t = resolve_name(req.path_params[0]);
    authorize(req, t, "delete");
    oci::Digest digest = digest_param(req.path_params[1]);
    if (!config.server.blob_delete)
      throw registry_error(oci::ErrorCode::kUnsupported, "blob deletion is disabled on this registry");
    // The holds the repository's blobs may be on (as for GET). Each drops
    // the owner's references from this repository; the bytes go once no
    // other repository or user on that hold references them.
    std::vector<std::string> holds{pull_hold(t)};
    if (std::string mine = push_hold(t.did, t.pds_url); mine != holds[0]) holds.push_back(mine);
    bool found = false;
    for (const std::string& hold_did : holds) {
      HoldClient hold = hold_client(hold_did);
      if (hold.delete_blob(service_token(t.did, hold_did, "io.atcr.hold.deleteBlob"), digest, t.name.repository))
        found = true;
      hold_blobs.erase(hold_blob_key(hold_did, digest));
    }
    if (!found) throw registry_error(oci::ErrorCode::kBlobUnknown, fmt::format("{} is not in {}", digest.str(), t.str()));
    return xrpc::ServerResponse::empty(202).header("Docker-Content-Digest", digest.str());
  }));
}

}  // namespace atcr::appview

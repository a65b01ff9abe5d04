// com.atproto.sync.getBlob for OCI blobs: `cid` carries a digest
// ("sha256:..."), as ATCR's holds accept. Reading needs read access (anyone
// on a public hold).
//
//   HEAD: 200 with Content-Length and Docker-Content-Digest, no redirect
//         (clients probing for a blob should not pay a round trip to S3);
//   GET:  307 to a presigned URL when the store can presign, otherwise the
//         bytes, with single-range support (206 / 416).
#include <fmt/core.h>

#include "atcr/net/http_range.h"
#include "atcr/oci/digest.h"
#include "hold/hold_impl.h"
#include "hold/input.h"

namespace atcr::hold {

namespace {

constexpr std::string_view kGetBlob = "com.atproto.sync.getBlob";
constexpr std::string_view kOctetStream = "application/octet-stream";

xrpc::XrpcError blob_not_found(const oci::Digest& digest) {
  return xrpc::XrpcError(404, "BlobNotFound", fmt::format("blob {} is not on this hold", digest.str()));
}

oci::Digest digest_param(const xrpc::ServerRequest& req) {
  std::string cid = req.required_param("cid");
  if (!oci::Digest::valid(cid)) {
    // An atproto blob CID: this hold keeps no atproto blobs.
    if (cid.starts_with("b")) throw xrpc::XrpcError(404, "BlobNotFound", "this hold stores OCI blobs only");
    input::invalid("cid must be an OCI digest (sha256:<64 hex>)");
  }
  return oci::Digest::parse(cid);
}

}  // namespace

void Hold::Impl::register_blob_endpoints(xrpc::XrpcServer& server) {
  server.query(kGetBlob, [this](const xrpc::ServerRequest& req) {
    std::string did = req.required_param("did");
    if (did != pds->did())
      throw xrpc::XrpcError(404, "RepoNotFound", fmt::format("this hold is {}, not {}", pds->did(), did));
    oci::Digest digest = digest_param(req);
    require(req, kGetBlob, Access::kRead);

    auto stat = blobs->stat(digest);
    if (!stat) throw blob_not_found(digest);
    const std::uint64_t size = stat->size;

    if (req.method == "HEAD") {
      return xrpc::ServerResponse::empty(200)
          .header("Content-Length", std::to_string(size))
          .header("Content-Type", std::string(kOctetStream))
          .header("Docker-Content-Digest", digest.str())
          .header("Accept-Ranges", "bytes");
    }
    if (auto url = blobs->presign_get(digest)) {
      return xrpc::ServerResponse::empty(307).header("Location", *url).header("Docker-Content-Digest", digest.str());
    }

    auto range = net::parse_range(req.header("range"), size);
    if (range && !range->satisfiable) {
      return xrpc::ServerResponse::error(416, "InvalidRange", "the range starts past the end of the blob")
          .header("Content-Range", range->content_range());
    }
    std::uint64_t offset = range ? range->offset : 0;
    std::uint64_t length = range ? range->length : size;
    int status = range ? 206 : 200;

    xrpc::ServerResponse response;
    if (auto path = blobs->local_path(digest)) {
      response = xrpc::ServerResponse::file(path->string(), offset, length, std::string(kOctetStream), status);
    } else {
      response = xrpc::ServerResponse::streamed(
          length, std::string(kOctetStream),
          [this, digest, offset, length](const std::function<bool(BytesView)>& write) {
            blobs->read(digest, storage::ByteRange{offset, length}, write);
          },
          status);
    }
    response.header("Docker-Content-Digest", digest.str()).header("Accept-Ranges", "bytes");
    if (range) response.header("Content-Range", range->content_range());
    return response;
  });
}

}  // namespace atcr::hold

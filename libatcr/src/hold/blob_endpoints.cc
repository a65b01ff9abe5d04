// com.atproto.sync.getBlob for OCI blobs: `cid` carries a digest
// ("sha256:..."), as ATCR's holds accept, or the raw CID of a blob the
// hold's own records name (scan SBOMs and reports, the profile's avatar).
// Reading needs read access (anyone on a public hold), except the avatar,
// which anyone may read (served with its image type).
//
//   HEAD: 200 with Content-Length and Docker-Content-Digest, no redirect
//         (clients probing for a blob should not pay a round trip to S3);
//   GET:  307 to a presigned URL when the store can presign, otherwise the
//         bytes, with single-range support (206 / 416).
//
// io.atcr.hold.deleteBlob (this implementation's, for the registry's blob
// DELETE): {digest, repository} -> {digest, referencesRemoved, blobDeleted}.
// A writer removes its own references (the io.atcr.hold.layer records with
// its userDid and that repository); the bytes go only once no layer record
// on the hold references the digest, so another user's or repository's
// image keeps its blobs. A blob nothing references (uploaded, in no image
// yet) is deleted. Images pushed before configs got layer records have
// none for their config: a blob no layer record names stays while any kept
// image of another user, or of the caller in another repository, uses it
// (their PDSes say; Impl::kept_images), and is refused with 503 while a
// user's PDS cannot be read. 404 BlobNotFound when
// the caller had no reference and the blob is absent or only in others'
// images.
#include <fmt/core.h>

#include "atcr/crypto/sha256.h"
#include "atcr/data/cid.h"
#include "atcr/log.h"
#include "atcr/net/http_range.h"
#include "atcr/oci/digest.h"
#include "atcr/oci/hold_records.h"
#include "atcr/oci/reference.h"
#include "hold/hold_impl.h"
#include "hold/input.h"

namespace atcr::hold {

namespace {

constexpr std::string_view kGetBlob = "com.atproto.sync.getBlob";
constexpr std::string_view kOctetStream = "application/octet-stream";
constexpr std::string_view kDeleteBlob = "io.atcr.hold.deleteBlob";

xrpc::XrpcError blob_not_found(const oci::Digest& digest) {
  return xrpc::XrpcError(404, "BlobNotFound", fmt::format("blob {} is not on this hold", digest.str()));
}

oci::Digest digest_param(const xrpc::ServerRequest& req) {
  std::string cid = req.required_param("cid");
  if (!oci::Digest::valid(cid)) {
    // An atproto blob CID (raw, sha256: the scan records' SBOMs and
    // reports) names the same bytes as the digest of its hash.
    if (cid.starts_with("b")) {
      try {
        Cid parsed = Cid::parse(cid);
        if (parsed.codec() == static_cast<std::uint64_t>(Codec::kRaw) && parsed.hash_code() == Cid::kSha256)
          return oci::Digest::from_sha256(parsed.digest());
      } catch (const ParseError&) {
      }
      throw xrpc::XrpcError(404, "BlobNotFound", "this hold stores OCI blobs and raw sha256 blobs only");
    }
    input::invalid("cid must be an OCI digest (sha256:<64 hex>) or a raw blob CID");
  }
  return oci::Digest::parse(cid);
}

// The layer records naming a digest: the caller's from `repository` (to
// remove) and how many others there are.
struct LayerReferences {
  std::vector<RecordWrite> removals;
  std::size_t others = 0;
};

LayerReferences layer_references(const pds::EmbeddedPds& pds, const std::string& user, const std::string& repository,
                                 const oci::Digest& digest) {
  LayerReferences refs;
  for_each_record(pds, oci::kLayerCollection, [&](const pds::ListedRecord& r) {
    std::optional<oci::LayerRecord> parsed;
    try {
      parsed = oci::LayerRecord::from_value(r.value);
    } catch (const ParseError&) {
      return;  // not a reference anyone can rely on
    }
    const oci::LayerRecord& layer = *parsed;
    if (layer.digest != digest) return;
    // Records of the newer lexicon name no repository: the user's own.
    bool mine = layer.user_did == user && (layer.repository.empty() || layer.repository == repository);
    if (!mine) {
      ++refs.others;
      return;
    }
    std::string rkey = r.uri.substr(r.uri.rfind('/') + 1);
    refs.removals.push_back(RecordWrite::remove(std::string(oci::kLayerCollection), rkey));
  });
  return refs;
}

}  // namespace

Value Hold::Impl::store_record_blob(const Bytes& data, std::string_view mime_type) {
  oci::Digest digest = oci::Digest::of(data);
  if (!blobs->stat(digest)) {
    std::size_t offset = 0;
    blobs->store().write(storage::blob_key(digest), data.size(), [&](std::span<std::uint8_t> buffer) {
      std::size_t n = std::min(buffer.size(), data.size() - offset);
      std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(offset), n, buffer.begin());
      offset += n;
      return n;
    });
  }
  return Value(Value::Map{
      {"$type", Value("blob")},
      {"ref", Value(Cid::from_sha256(Codec::kRaw, sha256(data)))},
      {"mimeType", Value(mime_type)},
      {"size", Value(static_cast<std::int64_t>(data.size()))},
  });
}

std::shared_ptr<const Hold::Impl::KeptImages> Hold::Impl::kept_images() {
  constexpr auto kFresh = std::chrono::minutes(1);
  std::lock_guard lock(kept_images_mu);
  const auto now = std::chrono::steady_clock::now();
  if (kept_images_cache && now - kept_images_cache->read_at < kFresh) return kept_images_cache;
  std::set<std::string> layer_users;
  for_each_record(*pds, oci::kLayerCollection, [&](const pds::ListedRecord& r) {
    if (const Value* u = r.value.find("userDid"); u && u->is_string()) layer_users.insert(u->as_string());
  });
  auto kept = std::make_shared<KeptImages>();
  kept->read_at = now;
  for (const std::string& did : image_users(std::move(layer_users))) {
    try {
      if (!resolver->resolve_did(did).pds_endpoint()) continue;  // no PDS, no images
      kept->users[did] = read_user_images(*resolver, *user_http, did);
    } catch (const std::exception& e) {
      log::warn("hold", "deleteBlob: the images of {} could not be read: {}", did, e.what());
      kept->unreachable.insert(did);
    }
  }
  kept_images_cache = kept;
  return kept;
}

std::size_t Hold::Impl::KeptImages::others_using(const std::string& digest, const std::string& user,
                                                 const std::string& repository) const {
  std::size_t n = 0;
  for (const auto& [did, images] : users) {
    auto it = images.kept_blob_repositories.find(digest);
    if (it == images.kept_blob_repositories.end()) continue;
    for (const std::string& r : it->second)
      if (did != user || r != repository) ++n;
  }
  return n;
}

Value Hold::Impl::delete_blob(const std::string& user, const std::string& repository, const oci::Digest& digest) {
  std::unique_lock lock(records_mu);
  LayerReferences refs = layer_references(*pds, user, repository, digest);
  bool present = blobs->stat(digest).has_value();
  if (present && refs.removals.empty() && refs.others == 0) {
    // No layer record names it: uploaded and in no image yet, or the
    // config of an image pushed before configs got records. Users' PDSes
    // say which (read without the lock; a push meanwhile is seen below).
    lock.unlock();
    const std::size_t in_images = kept_images_using(user, repository, digest);
    lock.lock();
    refs = layer_references(*pds, user, repository, digest);
    refs.others += in_images;
    present = blobs->stat(digest).has_value();
  }
  // Nothing of the caller's to delete: the blob is not here, or it is
  // (only) in others' images.
  if (refs.removals.empty() && (!present || refs.others > 0)) throw blob_not_found(digest);
  if (!refs.removals.empty()) {
    commit(refs.removals);
    access.invalidate();  // usage changed: the next reader rebuilds it
  }
  bool deleted = false;
  if (present && refs.others == 0) {
    blobs->remove(digest);
    deleted = true;
  }
  log::info("hold", "{} deleted {} from {}: {} references removed, {} left, bytes {}", user, digest.str(), repository,
            refs.removals.size(), refs.others, deleted ? "deleted" : "kept");
  return Value(Value::Map{{"digest", Value(digest.str())},
                          {"referencesRemoved", Value(static_cast<std::int64_t>(refs.removals.size()))},
                          {"blobDeleted", Value(deleted)}});
}

std::size_t Hold::Impl::kept_images_using(const std::string& user, const std::string& repository,
                                          const oci::Digest& digest) {
  std::shared_ptr<const KeptImages> kept = kept_images();
  std::size_t others = kept->others_using(digest.str(), user, repository);
  if (others == 0 && !kept->unreachable.empty())
    throw xrpc::XrpcError(503, "Unavailable",
                          fmt::format("cannot tell whether other images use {}: {} user(s)' records could not be "
                                      "read; try again later",
                                      digest.str(), kept->unreachable.size()));
  return others;
}

xrpc::ServerResponse Hold::Impl::delete_blob(const xrpc::ServerRequest& req) {
  Value in = req.json();
  std::string who = require(req, kDeleteBlob, Access::kWrite);
  std::string digest_text = input::required_string(in, "digest", 256);
  if (!oci::Digest::valid(digest_text)) input::invalid("digest is not a digest");
  std::string repository = input::required_string(in, "repository", oci::kMaxRepositoryLength);
  if (!oci::is_valid_repository(repository)) input::invalid("repository is not a repository name");
  return xrpc::ServerResponse::json(delete_blob(who, repository, oci::Digest::parse(digest_text)));
}

xrpc::ServerResponse Hold::Impl::get_blob(const xrpc::ServerRequest& req) {
  std::string did = req.required_param("did");
  if (did != pds->did())
    throw xrpc::XrpcError(404, "RepoNotFound", fmt::format("this hold is {}, not {}", pds->did(), did));
  oci::Digest digest = digest_param(req);
  // The profile's avatar is anyone's to see; the scanner reads images
  // with the hold's shared secret.
  const bool avatar = !avatar_digest.empty() && digest.str() == avatar_digest;
  if (!avatar && !scanner_authorized(req)) require(req, kGetBlob, Access::kRead);
  const std::string content_type(avatar ? avatar_mime_type : kOctetStream);
  // A client that finds a blob here may push a manifest using it next.
  touched.touch(digest.str());

  auto stat = blobs->stat(digest);
  if (!stat) throw blob_not_found(digest);
  const std::uint64_t size = stat->size;

  if (req.method == "HEAD") {
    return xrpc::ServerResponse::empty(200)
        .header("Content-Length", std::to_string(size))
        .header("Content-Type", content_type)
        .header("Docker-Content-Digest", digest.str())
        .header("Accept-Ranges", "bytes");
  }
  if (auto url = blobs->presign_get(digest)) {
    return xrpc::ServerResponse::empty(307).header("Location", *url).header("Docker-Content-Digest", digest.str());
  }
  return blob_bytes(req, digest, size, content_type);
}

xrpc::ServerResponse Hold::Impl::blob_bytes(const xrpc::ServerRequest& req, const oci::Digest& digest,
                                            std::uint64_t size, const std::string& content_type) {
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
    response = xrpc::ServerResponse::file(path->string(), offset, length, content_type, status);
  } else {
    response = xrpc::ServerResponse::streamed(
        length, content_type,
        [this, digest, offset, length](const std::function<bool(BytesView)>& write) {
          blobs->read(digest, storage::ByteRange{offset, length}, write);
        },
        status);
  }
  response.header("Docker-Content-Digest", digest.str()).header("Accept-Ranges", "bytes");
  if (range) response.header("Content-Range", range->content_range());
  return response;
}

void Hold::Impl::register_blob_endpoints(xrpc::XrpcServer& server) {
  server.procedure(kDeleteBlob, [this](const xrpc::ServerRequest& req) { return delete_blob(req); });
  server.query(kGetBlob, [this](const xrpc::ServerRequest& req) { return get_blob(req); });
}

}  // namespace atcr::hold

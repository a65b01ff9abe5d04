// /v2/<name>/manifests/<reference>: GET, HEAD, PUT, DELETE.
//
// PUT: the manifest is validated (oci::Manifest), its blobs must be on the
// pusher's hold and an index's children in the pusher's repo; the hold is
// notified first (it checks quota and records the layers, so an over-quota
// push leaves nothing in the user's repo), then the exact bytes go to the
// user's PDS as a blob, the io.atcr.manifest record (rkey = digest hex)
// and, for a tag, the io.atcr.tag record are written.
// GET/HEAD: tag -> io.atcr.tag -> io.atcr.manifest -> manifestBlob from the
// PDS, re-hashed against the digest before it is served.
#include <fmt/core.h>

#include "appview/appview_impl.h"
#include "atcr/data/datetime.h"
#include "atcr/log.h"
#include "atcr/oci/hold_records.h"
#include "atcr/oci/manifest.h"
#include "atcr/oci/records.h"
#include "atcr/xrpc/error.h"

namespace atcr::appview {

namespace {

constexpr const char* kManifestPath = "/v2/(.+)/manifests/([^/]+)";

std::string manifest_location(const Target& t, const oci::Digest& d) {
  return fmt::format("/v2/{}/manifests/{}", t.str(), d.str());
}

}  // namespace

void Appview::Impl::register_manifests(xrpc::XrpcServer& server) {
  server.route("GET", kManifestPath, guard("pull", [this](const xrpc::ServerRequest& req) {
    Target t = resolve_name(req.path_params[0]);
    authorize(req, t, "pull");
    oci::Reference ref = oci::Reference::parse(req.path_params[1]);
    std::optional<oci::Digest> digest = ref.is_digest() ? std::optional(ref.digest_value())
                                                        : resolve_tag(t, ref.tag_name());
    if (!digest)
      throw registry_error(oci::ErrorCode::kManifestUnknown, fmt::format("{}:{} is not a tag", t.str(), ref.str()));
    auto m = fetch_manifest(t, *digest);
    if (!m)
      throw registry_error(oci::ErrorCode::kManifestUnknown,
                           fmt::format("{}@{} is not in the repository", t.str(), digest->str()));
    auto response = xrpc::ServerResponse::text(m->bytes, m->media_type);
    response.header("Docker-Content-Digest", digest->str());
    return response;
  }));

  server.route("PUT", kManifestPath, guard("pull,push", [this](const xrpc::ServerRequest& req) {
    Target t = resolve_name(req.path_params[0]);
    Caller caller = authorize(req, t, "push");
    oci::Reference ref = oci::Reference::parse(req.path_params[1]);
    oci::Manifest m = oci::Manifest::parse(req.body, req.header("content-type"));
    if (ref.is_digest() && ref.digest_value() != m.digest)
      throw registry_error(oci::ErrorCode::kDigestInvalid,
                           fmt::format("the manifest hashes to {}, not {}", m.digest.str(), ref.digest_value().str()));

    auto session = session_of(t.did);
    std::string hold_did = push_hold(t.did, t.pds_url);
    HoldClient hold = hold_client(hold_did);

    // Everything it references must already be here.
    if (!m.referenced_blobs().empty()) {
      std::string token = hold_is_public(hold) ? std::string() : service_token(t.did, hold_did, "com.atproto.sync.getBlob");
      for (const oci::Descriptor& d : m.referenced_blobs()) {
        if (!hold.head_blob(d.digest, token))
          throw oci::RegistryError(oci::ErrorCode::kManifestBlobUnknown,
                                   fmt::format("blob {} is not on hold {}", d.digest.str(), hold_did),
                                   Value(Value::Map{{"digest", Value(d.digest.str())}}));
      }
    }
    for (const oci::Descriptor& d : m.referenced_manifests()) {
      if (!get_record(t, oci::kManifestCollection, oci::manifest_rkey(t.name.repository, d.digest)))
        throw oci::RegistryError(oci::ErrorCode::kManifestBlobUnknown,
                                 fmt::format("manifest {} is not in {}", d.digest.str(), t.str()),
                                 Value(Value::Map{{"digest", Value(d.digest.str())}}));
    }

    Value::Map notify{
        {"repository", Value(t.name.repository)},
        {"userDid", Value(t.did)},
        {"manifestDigest", Value(m.digest.str())},
        {"manifest", oci::manifest_info(m)},
        {"operation", Value("push")},
    };
    if (ref.is_tag()) notify["tag"] = Value(ref.tag_name());
    try {
      hold.notify_manifest(service_token(t.did, hold_did, "io.atcr.hold.notifyManifest"), Value(std::move(notify)));
    } catch (const xrpc::XrpcError& e) {
      if (e.error() == "QuotaExceeded")
        throw registry_error(oci::ErrorCode::kDenied, "quota exceeded on hold " + hold_did + ": " + e.message());
      if (e.error() == "BlobNotFound") throw registry_error(oci::ErrorCode::kManifestBlobUnknown, e.message());
      throw;
    }

    Value blob = session->upload_blob(as_bytes(req.body), m.media_type);
    std::string created = now_datetime();
    session->put_record(oci::kManifestCollection, oci::manifest_rkey(t.name.repository, m.digest),
                        oci::manifest_record(m, t.name.repository, m.digest, hold_did, blob, created));
    if (ref.is_tag()) {
      std::string uri = oci::manifest_uri(t.did, t.name.repository, m.digest);
      session->put_record(oci::kTagCollection, oci::tag_rkey(t.name.repository, ref.tag_name()),
                          oci::tag_record(t.name.repository, ref.tag_name(), uri, m.digest, created, created));
      tags.put(t.did + "/" + t.name.repository + ":" + ref.tag_name(), m.digest.str());
      tag_lists.erase(t.did + "/" + t.name.repository);
    }
    CachedManifest cached{m.media_type, std::string(req.body), m.subject ? m.subject->digest.str() : ""};
    manifests.put(t.did + "/" + t.name.repository + "@" + m.digest.str(), cached);
    repo_holds.put(t.did + "/" + t.name.repository, hold_did);
    store->add_repository(t.str(), t.did, t.name.repository, hold_did);
    log::info("appview", "{} pushed {}:{} ({})", caller.did(), t.str(), ref.str(), m.digest.str());

    auto response = xrpc::ServerResponse::empty(201);
    response.header("Location", manifest_location(t, m.digest)).header("Docker-Content-Digest", m.digest.str());
    if (m.subject) response.header("OCI-Subject", m.subject->digest.str());
    return response;
  }));

  server.route("DELETE", kManifestPath, guard("delete", [this](const xrpc::ServerRequest& req) {
    Target t = resolve_name(req.path_params[0]);
    authorize(req, t, "delete");
    oci::Reference ref = oci::Reference::parse(req.path_params[1]);
    auto session = session_of(t.did);
    if (ref.is_tag()) {
      if (!resolve_tag(t, ref.tag_name()))
        throw registry_error(oci::ErrorCode::kManifestUnknown, fmt::format("{}:{} is not a tag", t.str(), ref.str()));
      session->delete_record(oci::kTagCollection, oci::tag_rkey(t.name.repository, ref.tag_name()));
    } else {
      const oci::Digest& digest = ref.digest_value();
      auto record = get_record(t, oci::kManifestCollection, oci::manifest_rkey(t.name.repository, digest));
      if (!record || oci::ManifestRecord::from_value(*record).repository != t.name.repository)
        throw registry_error(oci::ErrorCode::kManifestUnknown,
                             fmt::format("{}@{} is not in the repository", t.str(), digest.str()));
      // Tags pointing at it go too, as in distribution: no dangling tags.
      for (const Value& v : list_records(t, oci::kTagCollection)) {
        oci::TagRecord tag;
        try {
          tag = oci::TagRecord::from_value(v);
        } catch (const ParseError&) {
          continue;  // someone else's malformed record is not ours to fix
        }
        if (tag.repository == t.name.repository && tag.digest() == digest)
          session->delete_record(oci::kTagCollection, oci::tag_rkey(tag.repository, tag.tag));
      }
      session->delete_record(oci::kManifestCollection, oci::manifest_rkey(t.name.repository, digest));
    }
    forget_repo_caches(t);
    return xrpc::ServerResponse::empty(202);
  }));
}

}  // namespace atcr::appview

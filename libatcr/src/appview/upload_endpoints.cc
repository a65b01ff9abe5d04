// /v2/<name>/blobs/uploads/: the distribution-spec's blob pushes, mapped
// onto the hold's multipart uploads.
//
//   POST   .../uploads/?digest=D  monolithic: the body is the blob -> 201
//   POST   .../uploads/?mount=D&from=N  201 if D is on the pusher's hold,
//                                 else a new upload (202)
//   POST   .../uploads/           initiateUpload on the hold -> 202 + Location
//   PATCH  .../uploads/<uuid>     a chunk (Content-Range) or the whole
//                                 stream; parts go to the hold as they fill
//   PUT    .../uploads/<uuid>?digest=D  optional last chunk, then
//                                 completeUpload -> 201 (DIGEST_INVALID when
//                                 the hold finds the bytes hash otherwise)
//   GET    .../uploads/<uuid>     204 with Range: 0-<offset-1>
//   DELETE .../uploads/<uuid>     abortUpload -> 204
//
// Upload sessions are bound to the pusher's DID and name, saved in the
// database after every request (the part being filled waits in a spill
// file, or in the database when it is shared), so they survive a restart;
// with a shared database each request reads the session afresh, so a
// chunked upload's requests may reach different instances. Each user and
// the AppView have a cap on them.
#include <fmt/core.h>

#include <algorithm>

#include "appview/appview_impl.h"
#include "atcr/crypto/random.h"
#include "atcr/encoding/hex.h"
#include "atcr/log.h"
#include "atcr/xrpc/error.h"

namespace atcr::appview {

namespace {

constexpr const char* kUploadsPath = "/v2/(.+)/blobs/uploads/?";
constexpr const char* kUploadPath = "/v2/(.+)/blobs/uploads/([^/]+)";
constexpr std::size_t kReadChunk = 1 << 20;
// The smallest chunk sent to a hold as a part of its own where the hold
// takes any size (start_upload).
constexpr std::uint64_t kStreamedPartFloor = 256 << 10;

constexpr std::string_view kPartLxm = "io.atcr.hold.getPartUploadUrl";
constexpr std::string_view kUploadPartLxm = "io.atcr.hold.uploadPart";

// What start_upload makes (16 random bytes, hex): the only ids looked up
// in the database or used as spill file names.
bool is_upload_id(std::string_view id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string blob_location(const std::string& name, const oci::Digest& d) {
  return fmt::format("/v2/{}/blobs/{}", name, d.str());
}

// 201: the blob is in the repository (pushed whole, completed or mounted).
xrpc::ServerResponse blob_created(const std::string& name, const oci::Digest& d) {
  return xrpc::ServerResponse::empty(201)
      .header("Location", blob_location(name, d))
      .header("Docker-Content-Digest", d.str())
      .header("Content-Length", "0");
}

// Parts of one upload, to the hold or where it says. (`State` is
// Appview::Impl, deduced: the type is private to Appview.)
template <class State>
class HoldPartSink : public PartSink {
 public:
  HoldPartSink(State& impl, UploadState& up)
      : impl_(impl), up_(up), hold_(up.hold, impl.http_for(up.hold), impl.part_destinations) {}

  std::string put_part(int part_number, BytesView data) override {
    auto [target, token] = target_of(part_number);
    return hold_.put_part(target, token, data);
  }

  std::string put_part_stream(int part_number, std::uint64_t size, const Reader& read) override {
    auto [target, token] = target_of(part_number);
    return hold_.put_part_stream(target, token, size, read);
  }

 private:
  // Where part `n` goes, and the token to send with it (none for a
  // presigned URL).
  std::pair<UploadTarget, std::string> target_of(int part_number) {
    UploadTarget target = hold_.part_target(impl_.service_token(up_.did, up_.hold.did, std::string(kPartLxm)),
                                            up_.hold_upload_id, part_number);
    std::string upload_token;
    if (target.url.starts_with(up_.hold.url + "/xrpc/"))
      upload_token = impl_.service_token(up_.did, up_.hold.did, std::string(kUploadPartLxm));
    return {std::move(target), std::move(upload_token)};
  }

  State& impl_;
  UploadState& up_;
  HoldClient hold_;
};

}  // namespace

std::shared_ptr<UploadState> Appview::Impl::start_upload(const Target& t, const std::string& did) {
  if (std::size_t n = store->count_uploads(did); n >= config.uploads.max_sessions_per_user)
    throw registry_error(oci::ErrorCode::kTooManyRequests,
                         fmt::format("{} uploads in progress (the limit is {}): finish or cancel some (DELETE "
                                     "/v2/<name>/blobs/uploads/<uuid>), or wait for idle ones to expire",
                                     n, config.uploads.max_sessions_per_user));
  if (store->count_uploads("") >= config.uploads.max_sessions)
    throw registry_error(oci::ErrorCode::kTooManyRequests, "the registry has too many uploads in progress; retry later");
  HoldClient hold = hold_client(push_hold(t.did, t.pds_url));
  // The tokens a push needs, fetched together rather than one PDS round
  // trip at a time as each call comes (they are reused for ~45 s).
  prefetch_service_tokens(did, hold.hold().did,
                          {"io.atcr.hold.initiateUpload", kPartLxm, kUploadPartLxm, "io.atcr.hold.completeUpload",
                           "io.atcr.hold.notifyManifest"});
  ensure_crew(did, hold);
  std::string uuid = hex::encode(random_bytes(16));
  auto up = std::make_shared<UploadState>(BlobUpload(config.uploads.part_size, spill_of(uuid)));
  up->uuid = uuid;
  up->name = t.str();
  up->did = did;
  up->hold = hold.hold();
  try {
    HoldClient::Initiated started =
        hold.initiate_upload(service_token(did, up->hold.did, "io.atcr.hold.initiateUpload"), "");
    up->hold_upload_id = started.upload_id;
    // A hold that takes small parts gets each chunk as it comes (no spill
    // to disk and back); below the floor a part of its own would cost a
    // hold round trip and a file, more than the spill.
    if (started.min_part_size) up->blob.stream_parts_from(std::max(started.min_part_size, kStreamedPartFloor));
  } catch (const xrpc::XrpcError& e) {
    if (e.status() == 401 || e.status() == 403)
      throw registry_error(oci::ErrorCode::kDenied,
                           fmt::format("hold {} does not let {} push: {}", up->hold.did, did, e.message()));
    throw;
  }
  save_upload(*up);
  if (store->shared()) return up;  // read afresh at its next request, wherever it lands
  std::lock_guard lock(uploads_mu);
  uploads[up->uuid] = up;
  return up;
}

std::unique_ptr<Spill> Appview::Impl::spill_of(const std::string& uuid) {
  return store->shared() ? store->spill(uuid) : file_spill(spill_dir / uuid);
}

std::shared_ptr<UploadState> Appview::Impl::load_upload(const std::string& uuid) {
  auto saved = store->load_upload(uuid);
  if (!saved) return nullptr;
  std::shared_ptr<UploadState> up;
  try {
    up = std::make_shared<UploadState>(
        BlobUpload::resume(saved->part_size, spill_of(uuid), saved->offset, std::move(saved->parts)));
  } catch (const StorageError& e) {
    log::warn("appview", "upload {} cannot be resumed: {}", uuid, e.what());
    store->delete_upload(uuid);
    return nullptr;
  }
  if (saved->stream_min) up->blob.stream_parts_from(saved->stream_min);
  up->uuid = uuid;
  up->name = saved->name;
  up->did = saved->did;
  up->hold = {saved->hold_did, saved->hold_url};
  up->hold_upload_id = saved->hold_upload_id;
  return up;
}

std::shared_ptr<UploadState> Appview::Impl::find_upload(const Target& t, const std::string& uuid,
                                                        const Caller& caller) {
  std::shared_ptr<UploadState> up;
  if (store->shared()) {
    // Another instance may have moved it on since: the database says where it is.
    if (is_upload_id(uuid)) up = load_upload(uuid);
  } else {
    std::lock_guard lock(uploads_mu);
    if (auto it = uploads.find(uuid); it != uploads.end()) {
      up = it->second;
    } else if (is_upload_id(uuid)) {  // saved before a restart?
      if ((up = load_upload(uuid))) uploads[uuid] = up;
    }
  }
  // Another user's (or repository's) upload id is as unknown as a made-up one.
  if (!up || up->name != t.str() || up->did != caller.did())
    throw registry_error(oci::ErrorCode::kBlobUploadUnknown, fmt::format("no upload {} in {}", uuid.substr(0, 64), t.str()));
  return up;
}

void Appview::Impl::save_upload(const UploadState& up) {
  store->save_upload({up.uuid, up.name, up.did, up.hold.did, up.hold.url, up.hold_upload_id,
                      config.uploads.part_size, up.blob.offset(), up.blob.parts(), 0, up.blob.stream_min()});
}

void Appview::Impl::drop_upload(UploadState& up) {
  up.dead = true;
  up.blob.discard();
  try {
    store->delete_upload(up.uuid);
  } catch (const StorageError& e) {
    log::error("appview", "forgetting upload {}: {}", up.uuid, e.what());
  }
  std::lock_guard lock(uploads_mu);
  uploads.erase(up.uuid);
}

void Appview::Impl::expire_uploads() {
  auto cutoff = std::chrono::system_clock::now() - config.uploads.session_ttl;
  auto idle = store->uploads_saved_before(
      std::chrono::duration_cast<std::chrono::seconds>(cutoff.time_since_epoch()).count());
  for (auto& saved : idle) {
    std::shared_ptr<UploadState> up;
    {
      std::lock_guard lock(uploads_mu);
      if (auto it = uploads.find(saved.uuid); it != uploads.end()) up = it->second;
    }
    if (!up) up = load_upload(saved.uuid);
    if (!up) continue;  // could not be resumed: already forgotten
    std::unique_lock lock(up->mu, std::try_to_lock);
    if (!lock.owns_lock()) continue;  // a request is using it right now
    if (!up->dead) abort_quietly(*up);
    drop_upload(*up);
  }
  // Spill files whose session is gone (a crash between the two).
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(spill_dir, ec)) {
    std::string uuid = entry.path().filename().string();
    std::error_code ec2;
    auto mtime = entry.last_write_time(ec2);
    if (ec2 || std::filesystem::file_time_type::clock::now() - mtime < config.uploads.session_ttl) continue;
    if (!store->load_upload(uuid)) std::filesystem::remove(entry.path(), ec2);
  }
}

void Appview::Impl::abort_quietly(UploadState& up) {
  up.dead = true;
  try {
    HoldClient(up.hold, http_for(up.hold)).abort_upload(service_token(up.did, up.hold.did, "io.atcr.hold.abortUpload"),
                                           up.hold_upload_id);
  } catch (const Error& e) {
    // The hold expires abandoned uploads itself; nothing more to do.
    log::info("appview", "aborting upload {} on {}: {}", up.uuid, up.hold.did, e.what());
  }
}

void Appview::Impl::feed(UploadState& up, StreamBody& body) {
  HoldPartSink sink(*this, up);
  Bytes buffer(kReadChunk);
  try {
    if (auto length = body.content_length(); length && up.blob.can_stream(*length)) {
      up.blob.append_stream(*length, [&](std::span<std::uint8_t> b) { return body.read(b); }, sink);
    }
    for (;;) {
      std::size_t n = body.read(buffer);
      if (n == 0) break;
      up.blob.append(BytesView(buffer).first(n), sink);
    }
  } catch (const oci::RegistryError&) {
    throw;
  } catch (const Error& e) {
    // A part that did not reach the hold, or a client that went away: the
    // upload cannot continue from a known offset.
    log::warn("appview", "upload {} failed: {}", up.uuid, e.what());
    abort_quietly(up);
    drop_upload(up);
    throw;
  }
  save_upload(up);
}

std::uint64_t Appview::Impl::finish_upload(UploadState& up, const oci::Digest& digest) {
  HoldPartSink sink(*this, up);
  std::uint64_t size = 0;
  try {
    up.blob.finish(sink);
    size = HoldClient(up.hold, http_for(up.hold))
               .complete_upload(service_token(up.did, up.hold.did, "io.atcr.hold.completeUpload"), up.hold_upload_id,
                                digest, up.blob.parts());
  } catch (const xrpc::XrpcError& e) {
    abort_quietly(up);
    drop_upload(up);
    if (e.error() == "InvalidDigest") throw registry_error(oci::ErrorCode::kDigestInvalid, e.message());
    throw;
  } catch (const Error&) {
    // The last part did not reach the hold: the upload cannot be finished.
    abort_quietly(up);
    drop_upload(up);
    throw;
  }
  up.dead = true;
  drop_upload(up);
  // The manifest that follows need not ask the hold again.
  hold_blobs.put(hold_blob_key(up.hold.did, digest), size);
  return size;
}

xrpc::ServerResponse Appview::Impl::upload_status(const UploadState& up, int status) {
  return xrpc::ServerResponse::empty(status)
      .header("Location", fmt::format("/v2/{}/blobs/uploads/{}", up.name, up.uuid))
      .header("Range", up.blob.range_header())
      .header("Docker-Upload-UUID", up.uuid)
      .header("Content-Length", "0");
}

std::optional<xrpc::ServerResponse> Appview::Impl::mount_blob(const Target& t, const oci::Digest& digest) {
  HoldClient hold = hold_client(push_hold(t.did, t.pds_url));
  std::string token = hold_is_public(hold) ? std::string()
                                           : service_token(t.did, hold.hold().did, "com.atproto.sync.getBlob");
  // Blobs are per hold, not per repository: if the pusher's hold has it,
  // it is mounted. Otherwise a plain upload starts (spec: 202).
  if (!hold.head_blob(digest, token)) return std::nullopt;
  return blob_created(t.str(), digest);
}

xrpc::ServerResponse Appview::Impl::post_upload(const xrpc::ServerRequest& req, xrpc::BodyReader& body) {
  Target t = resolve_name(req.path_params[0]);
  Caller caller = authorize(req, t, "push");
  if (auto mount = req.param("mount")) {
    if (auto mounted = mount_blob(t, digest_param(*mount))) return std::move(*mounted);
  }
  auto digest_text = req.param("digest");
  std::optional<oci::Digest> digest;
  if (digest_text) digest = pushed_digest(*digest_text);
  auto up = start_upload(t, caller.did());
  std::lock_guard lock(up->mu);
  if (!digest) return upload_status(*up, 202);
  // Monolithic upload: the body is the whole blob.
  feed(*up, body);
  finish_upload(*up, *digest);
  return blob_created(t.str(), *digest);
}

xrpc::ServerResponse Appview::Impl::patch_upload(const xrpc::ServerRequest& req, xrpc::BodyReader& body) {
  Target t = resolve_name(req.path_params[0]);
  Caller caller = authorize(req, t, "push");
  auto up = find_upload(t, req.path_params[1], caller);
  std::lock_guard lock(up->mu);
  if (up->dead) throw registry_error(oci::ErrorCode::kBlobUploadUnknown, "the upload has ended");
  up->blob.check_chunk(req.header("content-range"), body.content_length());
  feed(*up, body);
  return upload_status(*up, 202);
}

xrpc::ServerResponse Appview::Impl::put_upload(const xrpc::ServerRequest& req, xrpc::BodyReader& body) {
  Target t = resolve_name(req.path_params[0]);
  Caller caller = authorize(req, t, "push");
  auto up = find_upload(t, req.path_params[1], caller);
  auto digest_text = req.param("digest");
  if (!digest_text) throw registry_error(oci::ErrorCode::kDigestInvalid, "the digest parameter is required");
  oci::Digest digest = pushed_digest(*digest_text);
  std::lock_guard lock(up->mu);
  if (up->dead) throw registry_error(oci::ErrorCode::kBlobUploadUnknown, "the upload has ended");
  up->blob.check_chunk(req.header("content-range"), body.content_length());
  feed(*up, body);
  finish_upload(*up, digest);
  return blob_created(t.str(), digest);
}

xrpc::ServerResponse Appview::Impl::get_upload(const xrpc::ServerRequest& req) {
  Target t = resolve_name(req.path_params[0]);
  Caller caller = authorize(req, t, "push");
  auto up = find_upload(t, req.path_params[1], caller);
  std::lock_guard lock(up->mu);
  return upload_status(*up, 204);
}

xrpc::ServerResponse Appview::Impl::delete_upload(const xrpc::ServerRequest& req) {
  Target t = resolve_name(req.path_params[0]);
  Caller caller = authorize(req, t, "push");
  auto up = find_upload(t, req.path_params[1], caller);
  std::lock_guard lock(up->mu);
  if (!up->dead) abort_quietly(*up);
  drop_upload(*up);
  return xrpc::ServerResponse::empty(204);
}

void Appview::Impl::register_uploads(xrpc::XrpcServer& server) {
  using Streamed = xrpc::ServerResponse (Impl::*)(const xrpc::ServerRequest&, xrpc::BodyReader&);
  auto streamed = [this](Streamed handler) {
    return guard_stream("pull,push", [this, handler](const xrpc::ServerRequest& req, xrpc::BodyReader& body) {
      return (this->*handler)(req, body);
    });
  };
  auto plain = [this](PageHandler handler) {
    return guard("pull,push", [this, handler](const xrpc::ServerRequest& req) { return (this->*handler)(req); });
  };
  server.stream_route("POST", kUploadsPath, streamed(&Impl::post_upload));
  server.stream_route("PATCH", kUploadPath, streamed(&Impl::patch_upload));
  server.stream_route("PUT", kUploadPath, streamed(&Impl::put_upload));
  server.route("GET", kUploadPath, plain(&Impl::get_upload));
  server.route("DELETE", kUploadPath, plain(&Impl::delete_upload));
}

}  // namespace atcr::appview

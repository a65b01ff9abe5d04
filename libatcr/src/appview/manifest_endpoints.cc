// /v2/<name>/manifests/<reference>: GET, HEAD, PUT, DELETE.
//
// PUT: the manifest is validated (oci::Manifest), its blobs must be on the
// pusher's hold and an index's children in the pusher's repo; the hold is
// notified before any record is written (it checks quota and records the
// layers, so an over-quota push leaves nothing in the user's repo); then
// the io.atcr.manifest record (keyed by a TID, the exact bytes as its
// blob) and, for a tag, the io.atcr.tag record are written in one commit.
// The blob upload, the record lookups and the hold's token fetch run
// beside the checks: a push costs about two PDS round trips, not four.
// GET/HEAD: tag -> io.atcr.tag -> io.atcr.manifest -> manifestBlob from the
// PDS, re-hashed against the digest before it is served.
#include <fmt/core.h>

#include <chrono>
#include <future>

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

// When a manifest PUT's steps ended, in ms since its lookups started
// (logged at debug level).
struct PushTimes {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  double checked = 0, looked_up = 0, notified = 0, uploaded = 0;
  double now() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  }
  void log(const oci::Digest& digest) const {
    log::debug("appview",
               "manifest PUT {}: checked at {:.1f} ms, looked up at {:.1f}, hold notified at {:.1f}, blob stored "
               "at {:.1f}, records written at {:.1f}",
               digest.str(), checked, looked_up, notified, uploaded, now());
  }
};

index::RecordChange deletion(const Target& t, std::string_view collection, const std::string& rkey) {
  return {t.did, std::string(collection), rkey, index::RecordAction::kDelete, Value(), ""};
}

std::string manifest_location(const Target& t, const oci::Digest& d) {
  return fmt::format("/v2/{}/manifests/{}", t.str(), d.str());
}

// applyWrites has no "put": a create where the record is new, else an update.
xrpc::WriteOp upsert(std::string_view collection, const std::string& rkey, bool exists, Value record) {
  if (exists) return xrpc::WriteOp::update(std::string(collection), rkey, std::move(record));
  return xrpc::WriteOp::create(std::string(collection), std::move(record), rkey);
}

// The reference of a GET/HEAD. One that is neither a tag nor a digest
// (".INVALID_MANIFEST_NAME") names no manifest there can be: 404
// MANIFEST_UNKNOWN, as for any manifest that is not there.
oci::Reference pulled_reference(const Target& t, const std::string& text) {
  try {
    return oci::Reference::parse(text);
  } catch (const oci::RegistryError& e) {
    throw registry_error(oci::ErrorCode::kManifestUnknown, fmt::format("no such manifest in {}: {}", t.str(), e.message()));
  }
}

// Descriptors the records could not carry (see pushed_digest).
void refuse_unstorable_digests(const oci::Manifest& m) {
  std::vector<const oci::Descriptor*> all;
  if (m.config) all.push_back(&*m.config);
  if (m.subject) all.push_back(&*m.subject);
  for (const auto* list : {&m.layers, &m.manifests})
    for (const oci::Descriptor& d : *list) all.push_back(&d);
  for (const oci::Descriptor* d : all) {
    if (d->digest.algorithm() == "sha256") continue;
    throw registry_error(oci::ErrorCode::kManifestInvalid,
                         fmt::format("descriptor {}: {} digests are not supported here (ATCR's lexicons limit "
                                     "digests to 128 characters); use sha256",
                                     d->digest.str().substr(0, 20) + "...", d->digest.algorithm()));
  }
}

// The body of a manifest PUT, up to oci::Manifest::kMaxBytes. A larger one
// is read to its end (up to kDrainBytes) before the 413 MANIFEST_INVALID,
// so the client sees the answer, not a connection reset mid-upload.
constexpr std::uint64_t kDrainBytes = 64 << 20;

std::string read_manifest_body(xrpc::BodyReader& reader) {
  std::string body;
  std::uint64_t total = 0;
  std::uint8_t buffer[64 * 1024];
  auto too_large = [](std::uint64_t size) {
    return registry_error(oci::ErrorCode::kManifestInvalid,
                          fmt::format("the manifest is {} bytes, over this registry's limit of {} bytes", size,
                                      oci::Manifest::kMaxBytes),
                          413);
  };
  auto declared = reader.content_length();
  if (declared && *declared > kDrainBytes) throw too_large(*declared);
  for (;;) {
    std::size_t n = reader.read(buffer);
    if (n == 0) break;
    total += n;
    if (total <= oci::Manifest::kMaxBytes) body.append(reinterpret_cast<const char*>(buffer), n);
    if (total > kDrainBytes) break;
  }
  if (total > oci::Manifest::kMaxBytes) throw too_large(total);
  return body;
}

// The manifest's bytes as a blob in the user's PDS. A PDS whose blob limit
// is under the manifest's size refuses it: the client learns why (413).
Value upload_manifest_blob(const xrpc::PdsSession& session, const std::string& body, const std::string& media_type) {
  try {
    return session.upload_blob(as_bytes(body), media_type);
  } catch (const xrpc::XrpcError& e) {
    if (e.status() != 413 && e.error() != "BlobTooLarge") throw;
    throw registry_error(oci::ErrorCode::kManifestInvalid,
                         fmt::format("your PDS refuses a {}-byte manifest as a blob: {}", body.size(), e.message()),
                         413);
  }
}

// The manifest of a PUT to `ref`, validated: a digest reference must be
// one we can store and the one the bytes hash to.
oci::Manifest parse_pushed_manifest(const std::string& body, const std::string& content_type,
                                    const oci::Reference& ref) {
  if (ref.is_digest()) pushed_digest(ref.str());
  oci::Manifest m = oci::Manifest::parse(body, content_type);
  refuse_unstorable_digests(m);
  if (ref.is_digest() && ref.digest_value() != m.digest)
    throw registry_error(oci::ErrorCode::kDigestInvalid,
                         fmt::format("the manifest hashes to {}, not {}", m.digest.str(), ref.digest_value().str()));
  return m;
}

// Where a push's records go, and whether each is there already.
struct PushKeys {
  std::string manifest_rkey;
  bool manifest_exists = false;
  std::string tag_rkey;  // "" unless the push is to a tag
  bool tag_exists = false;
};

// The writes of a push: the io.atcr.manifest record (the manifest's bytes
// as `blob`) and, for a tag, the io.atcr.tag record naming it.
std::vector<xrpc::WriteOp> push_writes(const Target& t, const oci::Reference& ref, const oci::Manifest& m,
                                       const PushKeys& keys, const std::string& hold_did, const Value& blob) {
  std::string created = now_datetime();
  std::vector<xrpc::WriteOp> writes;
  writes.push_back(upsert(oci::kManifestCollection, keys.manifest_rkey, keys.manifest_exists,
                          oci::manifest_record(m, t.name.repository, m.digest, hold_did, blob, created)));
  if (ref.is_tag()) {
    const std::string uri = oci::manifest_uri(t.did, keys.manifest_rkey);
    writes.push_back(upsert(oci::kTagCollection, keys.tag_rkey, keys.tag_exists,
                            oci::tag_record(t.name.repository, ref.tag_name(), uri, m.digest, created, created)));
  }
  return writes;
}

xrpc::ServerResponse manifest_created(const Target& t, const oci::Manifest& m) {
  auto response = xrpc::ServerResponse::empty(201);
  response.header("Location", manifest_location(t, m.digest)).header("Docker-Content-Digest", m.digest.str());
  if (m.subject) response.header("OCI-Subject", m.subject->digest.str());
  return response;
}

}  // namespace

void Appview::Impl::check_blobs_on_hold(const oci::Manifest& m, const Target& t, const HoldClient& hold) {
  const std::string& hold_did = hold.hold().did;
  std::string token;
  bool token_known = false;
  for (const oci::Descriptor& d : m.referenced_blobs()) {
    std::string key = hold_blob_key(hold_did, d.digest);
    if (hold_blobs.get(key)) continue;  // uploaded (or seen) a moment ago
    if (!token_known) {
      token = hold_is_public(hold) ? std::string() : service_token(t.did, hold_did, "com.atproto.sync.getBlob");
      token_known = true;
    }
    auto size = hold.head_blob(d.digest, token);
    if (!size)
      throw oci::RegistryError(oci::ErrorCode::kManifestBlobUnknown,
                               fmt::format("blob {} is not on hold {}", d.digest.str(), hold_did),
                               Value(Value::Map{{"digest", Value(d.digest.str())}}));
    hold_blobs.put(key, *size);
  }
}

void Appview::Impl::notify_hold(const oci::Manifest& m, const Target& t, const oci::Reference& ref,
                                const HoldClient& hold, const std::string& manifest_uri) {
  const std::string& hold_did = hold.hold().did;
  Value::Map notify{
      {"repository", Value(t.name.repository)},
      {"userDid", Value(t.did)},
      {"manifestDigest", Value(m.digest.str())},
      {"manifest", oci::manifest_info(m)},
      {"operation", Value("push")},
      // Not in the published lexicon: the record the hold's layer records
      // point at (its key is a TID the hold cannot derive).
      {"manifestUri", Value(manifest_uri)},
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
}

void Appview::Impl::count_pull(const xrpc::ServerRequest& req, const Caller& caller, const Target& t) {
  std::string client = caller.anonymous() ? "ip " + req.remote_addr : caller.did();
  std::string key = client + " " + t.did + "/" + t.name.repository;
  try {
    if (pulls->first(key)) network_index->count_pull(t.did, t.name.repository);
  } catch (const StorageError& e) {  // a pull count is not worth failing the pull for
    log::warn("appview", "counting a pull of {}: {}", t.str(), e.what());
  }
}

xrpc::ServerResponse Appview::Impl::get_manifest(const xrpc::ServerRequest& req) {
  Target t = resolve_name(req.path_params[0]);
  Caller caller = authorize(req, t, "pull");
  oci::Reference ref = pulled_reference(t, req.path_params[1]);
  std::optional<oci::Digest> digest = ref.is_digest() ? std::optional(ref.digest_value())
                                                      : resolve_tag(t, ref.tag_name());
  if (!digest)
    throw registry_error(oci::ErrorCode::kManifestUnknown, fmt::format("{}:{} is not a tag", t.str(), ref.str()));
  auto m = fetch_manifest(t, *digest);
  if (!m)
    throw registry_error(oci::ErrorCode::kManifestUnknown,
                         fmt::format("{}@{} is not in the repository", t.str(), digest->str()));
  if (req.method == "GET") count_pull(req, caller, t);
  auto response = xrpc::ServerResponse::text(m->bytes, m->media_type);
  response.header("Docker-Content-Digest", digest->str());
  return response;
}

void Appview::Impl::check_referenced_manifests(const oci::Manifest& m, const Target& t) {
  for (const oci::Descriptor& d : m.referenced_manifests()) {
    if (!find_manifest_record(t, d.digest, true))
      throw oci::RegistryError(oci::ErrorCode::kManifestBlobUnknown,
                               fmt::format("manifest {} is not in {}", d.digest.str(), t.str()),
                               Value(Value::Map{{"digest", Value(d.digest.str())}}));
  }
}

bool Appview::Impl::tag_record_exists(const Target& t, const std::string& rkey) {
  // The network index answers when it follows the owner's repo (our own
  // pushes reach it at once, others' with the firehose's lag), sparing the
  // PDS a lookup it would serve before the manifest blob on the push's
  // critical path. A stale answer costs a refused applyWrites and
  // commit_records' record-by-record fallback, never a wrong record.
  try {
    if (auto known = network_index->has_tag_record(t.did, rkey)) return *known;
  } catch (const StorageError& e) {
    log::warn("appview", "the index cannot say whether {} has tag record {}: {}", t.did, rkey, e.what());
  }
  return get_record(t, oci::kTagCollection, rkey).has_value();
}

void Appview::Impl::commit_records(xrpc::PdsSession& session, const Target& t,
                                   const std::vector<xrpc::WriteOp>& writes) {
  try {
    session.apply_writes(writes);
  } catch (const xrpc::XrpcError& e) {
    // Someone wrote or deleted one of the records since the lookup (or
    // the index's answer was stale). The reference PDS refuses a create of
    // a record that is there with 400, but an update of one that is not
    // with 500. Put them one by one (putRecord creates or replaces, so
    // this is safe even if the commit went through), the manifest first
    // so a tag never points at a record that is not there.
    if (e.status() != 400 && e.status() != 500) throw;
    log::info("appview", "applyWrites for {} refused ({}); writing the records one by one", t.str(), e.message());
    for (const xrpc::WriteOp& w : writes) session.put_record(w.collection, w.rkey, w.value);
  }
}

void Appview::Impl::remember_push(const Target& t, const oci::Reference& ref, const oci::Manifest& m,
                                  std::string body, const std::string& manifest_rkey, const std::string& hold_did,
                                  const std::vector<xrpc::WriteOp>& writes) {
  if (ref.is_tag()) {
    tags.put(t.did + "/" + t.name.repository + ":" + ref.tag_name(), m.digest.str());
    tag_lists.erase(t.did + "/" + t.name.repository);
  }
  CachedManifest cached{m.media_type, std::move(body), m.subject ? m.subject->digest.str() : ""};
  manifests.put(manifest_cache_key(t.did, t.name.repository, m.digest), cached);
  remember_manifest_key(t.did, t.name.repository, m.digest, manifest_rkey);
  repo_holds.put(t.did + "/" + t.name.repository, hold_did);
  store->add_repository(t.str(), t.did, t.name.repository, hold_did);
  std::vector<index::RecordChange> changes;
  for (const xrpc::WriteOp& w : writes)
    changes.push_back({t.did, w.collection, w.rkey, index::RecordAction::kCreate, w.value, ""});
  index_own_records(t, changes);
}

xrpc::ServerResponse Appview::Impl::put_manifest(const xrpc::ServerRequest& req, xrpc::BodyReader& reader) {
  std::string body = read_manifest_body(reader);
  Target t = resolve_name(req.path_params[0]);
  Caller caller = authorize(req, t, "push");
  oci::Reference ref = oci::Reference::parse(req.path_params[1]);
  oci::Manifest m = parse_pushed_manifest(body, req.header("content-type"), ref);

  auto session = session_of(t.did);
  std::string hold_did = push_hold(t.did, t.pds_url);
  HoldClient hold = hold_client(hold_did);
  PushKeys keys;
  if (ref.is_tag()) keys.tag_rkey = oci::tag_rkey(t.name.repository, ref.tag_name());

  // What does not depend on the checks runs beside them, each its own
  // round trip: the manifest bytes go up to the PDS as a blob
  // (unreferenced, it is garbage if the push is refused), this digest's
  // record (a re-push updates it) and the tag's record are looked up, and
  // the notifyManifest token is fetched. One applyWrites commit then
  // writes both records: a push costs two PDS round trips in a row (the
  // slowest of these, then the commit), not four.
  PushTimes times;
  auto blob_ref = std::async(std::launch::async, [&] { return upload_manifest_blob(*session, body, m.media_type); });
  // A re-push updates the record it finds without a scan (its key
  // remembered, or a legacy key); otherwise the record gets a new TID.
  auto existing = std::async(std::launch::async, [&] {
    auto found = find_manifest_record(t, m.digest, false);
    return found ? std::optional(found->rkey) : std::nullopt;
  });
  auto tag_exists = std::async(std::launch::async, [&] { return ref.is_tag() && tag_record_exists(t, keys.tag_rkey); });
  auto notify_token = std::async(std::launch::async, [&] {
    prefetch_service_tokens(t.did, hold_did, {"io.atcr.hold.notifyManifest"});
  });
  // (A std::async future waits for its task when destroyed, so all end
  // before what they capture goes away, also when a check below throws.)

  check_blobs_on_hold(m, t, hold);
  check_referenced_manifests(m, t);
  times.checked = times.now();
  std::optional<std::string> existing_rkey = existing.get();
  keys.manifest_exists = existing_rkey.has_value();
  keys.manifest_rkey = existing_rkey ? *existing_rkey : tids.next().to_string();
  notify_token.get();
  times.looked_up = times.now();
  notify_hold(m, t, ref, hold, oci::manifest_uri(t.did, keys.manifest_rkey));
  times.notified = times.now();

  Value blob = blob_ref.get();
  keys.tag_exists = tag_exists.get();
  times.uploaded = times.now();
  std::vector<xrpc::WriteOp> writes = push_writes(t, ref, m, keys, hold_did, blob);
  commit_records(*session, t, writes);
  remember_push(t, ref, m, std::move(body), keys.manifest_rkey, hold_did, writes);
  log::info("appview", "{} pushed {}:{} ({})", caller.did(), t.str(), ref.str(), m.digest.str());
  times.log(m.digest);
  return manifest_created(t, m);
}

std::vector<index::RecordChange> Appview::Impl::delete_manifest_records(const Target& t, const oci::Digest& digest,
                                                                        xrpc::PdsSession& session) {
  // Every record of it (a restarted AppView may have written a second).
  std::vector<std::string> rkeys;
  for (const RecordEntry& e : list_record_entries(t, oci::kManifestCollection)) {
    try {
      oci::ManifestRecord r = oci::ManifestRecord::from_value(e.value);
      if (r.repository == t.name.repository && r.digest == digest) rkeys.push_back(e.rkey);
    } catch (const ParseError&) {
    }
  }
  if (rkeys.empty())
    throw registry_error(oci::ErrorCode::kManifestUnknown,
                         fmt::format("{}@{} is not in the repository", t.str(), digest.str()));
  // Tags pointing at it go too, as in distribution: no dangling tags.
  std::vector<index::RecordChange> deleted;
  for (const Value& v : list_records(t, oci::kTagCollection)) {
    oci::TagRecord tag;
    try {
      tag = oci::TagRecord::from_value(v);
    } catch (const ParseError&) {
      continue;  // someone else's malformed record is not ours to fix
    }
    if (tag.repository == t.name.repository && tag.digest() == digest) {
      std::string rkey = oci::tag_rkey(tag.repository, tag.tag);
      session.delete_record(oci::kTagCollection, rkey);
      deleted.push_back(deletion(t, oci::kTagCollection, rkey));
    }
  }
  for (const std::string& rkey : rkeys) {
    session.delete_record(oci::kManifestCollection, rkey);
    deleted.push_back(deletion(t, oci::kManifestCollection, rkey));
  }
  return deleted;
}

xrpc::ServerResponse Appview::Impl::delete_manifest(const xrpc::ServerRequest& req) {
  Target t = resolve_name(req.path_params[0]);
  authorize(req, t, "delete");
  oci::Reference ref = oci::Reference::parse(req.path_params[1]);
  auto session = session_of(t.did);
  if (ref.is_tag()) {
    if (!resolve_tag(t, ref.tag_name()))
      throw registry_error(oci::ErrorCode::kManifestUnknown, fmt::format("{}:{} is not a tag", t.str(), ref.str()));
    std::string rkey = oci::tag_rkey(t.name.repository, ref.tag_name());
    session->delete_record(oci::kTagCollection, rkey);
    index_own_records(t, {deletion(t, oci::kTagCollection, rkey)});
  } else {
    index_own_records(t, delete_manifest_records(t, ref.digest_value(), *session));
  }
  forget_repo_caches(t);
  return xrpc::ServerResponse::empty(202);
}

void Appview::Impl::register_manifests(xrpc::XrpcServer& server) {
  server.route("GET", kManifestPath, guard("pull", [this](const xrpc::ServerRequest& req) { return get_manifest(req); }));
  server.stream_route("PUT", kManifestPath,
                      guard_stream("pull,push", [this](const xrpc::ServerRequest& req, xrpc::BodyReader& reader) {
                        return put_manifest(req, reader);
                      }));
  server.route("DELETE", kManifestPath,
               guard("delete", [this](const xrpc::ServerRequest& req) { return delete_manifest(req); }));
}

}  // namespace atcr::appview

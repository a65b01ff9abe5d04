// Internal: the state behind atcr::hold::Hold, shared by the files that
// implement its endpoints (one file per group of methods).
#pragma once

#include <condition_variable>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <map>
#include <string>
#include <string_view>

#include "atcr/data/tid.h"
#include "atcr/hold/config.h"
#include "atcr/hold/crew.h"
#include "atcr/hold/hold.h"
#include "hold/quota.h"
#include "atcr/identity/resolver.h"
#include "atcr/oci/hold_records.h"
#include "atcr/net/http_client.h"
#include "atcr/pds/embedded_pds.h"
#include "atcr/pds/endpoints.h"
#include "atcr/storage/blob_key.h"
#include "atcr/storage/blob_store.h"
#include "atcr/storage/uploads.h"
#include "atcr/xrpc/metrics.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/service_auth.h"
#include "atcr/oci/manifest.h"
#include "atcr/scan/protocol.h"
#include "hold/gc_state.h"
#include "hold/part_urls.h"
#include "hold/post_log.h"
#include "hold/scan_queue.h"
#include "hold/user_images.h"

namespace atcr::hold {

inline constexpr std::string_view kControlSecretHeader = "x-hold-control-secret";

// Every record of a collection of the hold's repo, page by page.
template <typename Visit>
void for_each_record(const pds::EmbeddedPds& pds, std::string_view collection, Visit visit) {
  constexpr std::size_t kPage = 100;
  std::string cursor;
  for (;;) {
    pds::RecordPage page = pds.list_records(collection, kPage, cursor);
    for (const auto& record : page.records) visit(record);
    if (!page.cursor || page.records.empty()) return;
    cursor = *page.cursor;
  }
}

// What access decisions and quota checks read on every request: the
// captain, the crew by member DID, and usage by user. It mirrors the repo
// as of a revision (`rev`); when the repo moves on without us (an admin's
// deleteRecord, an import) the next reader rebuilds it. The hold's own
// writes update it in place (note_* below) to avoid a rebuild per push.
class AccessState {
 public:
  // Rebuilds from the repo if its head is not the one mirrored.
  void ensure_current(const pds::EmbeddedPds& pds);

  Captain captain() const;
  std::optional<CrewMember> crew(std::string_view member) const;
  std::vector<CrewMember> crew_members() const;
  UserUsage usage(std::string_view user) const;
  std::uint64_t added_by(std::string_view user, const std::vector<LayerUse>& layers) const;

  // Forgets the mirror: the next reader rebuilds it (after a commit that
  // removed records, which note_commit does not apply).
  void invalidate();

  // After a commit of ours that changed only what is given: applied in
  // place if the mirror was current at the commit's parent revision
  // (`since`, as the repo reports it: a head read before committing could
  // miss another writer's commit in between, e.g. a crew record's delete,
  // which the mirror would then never see), else left to a rebuild.
  void note_commit(const std::optional<std::string>& since, const std::string& rev,
                   const std::vector<CrewMember>& crew_added, const std::vector<LayerUse>& layers_added);

 private:
  void rebuild(const pds::EmbeddedPds& pds);

  mutable std::mutex mu_;
  std::optional<std::string> rev_;
  Captain captain_;
  std::map<std::string, CrewMember, std::less<>> crew_;
  Usage usage_;
};

// The captain's settings the owner may change at runtime (the admin panel).
// An io.atcr.hold.notifyManifest's fields, checked (manifest_endpoints.cc).
struct Notification {
  bool push = true;
  std::string operation;  // "push" or "pull"
  std::string user;
  std::string repository;
  oci::Digest manifest_digest;
  std::optional<std::string> tag;
};

struct CaptainSettings {
  bool is_public = false;
  bool allow_all_crew = false;
  bool bluesky_posts = false;

  static CaptainSettings of(const Captain& captain);
  static CaptainSettings of(const HoldConfig& config);
  void apply_to(Captain& captain) const;
  bool operator==(const CaptainSettings&) const = default;
};

class AdminPanel;

struct Hold::Impl {
  Impl();
  ~Impl();

  HoldConfig config;
  std::unique_ptr<identity::Resolver> own_resolver;
  identity::Resolver* resolver = nullptr;
  std::unique_ptr<pds::EmbeddedPds> pds;
  std::unique_ptr<storage::BlobStore> store;
  std::unique_ptr<storage::Blobs> blobs;
  std::unique_ptr<storage::Uploads> uploads;
  std::unique_ptr<xrpc::ServiceAuthVerifier> verifier;
  std::unique_ptr<PartUrlSigner> part_urls;  // uploadPart URLs that authorize themselves
  AccessState access;
  // Serialises read-modify-write of records (stats counters, crew joins).
  std::mutex records_mu;
  TidClock tids;  // thread-safe
  // Garbage collection (gc.cc): its persisted state, the digests clients
  // touched lately, one run at a time, and the client for users' PDSes.
  std::unique_ptr<GcState> gc_state;
  TouchedDigests touched;
  std::mutex gc_running;
  std::atomic<std::chrono::system_clock::time_point> last_gc{std::chrono::system_clock::now()};
  std::unique_ptr<net::HttpClient> user_http;
  class Collector;
  // Hold::gc: one run (ConflictError while another is on), recorded in
  // the history and the metrics.
  GcReport collect(bool dry_run);
  xrpc::Metrics* metrics = nullptr;  // Hold::instrument
  // The firehose's live sessions (their lag is a metric).
  std::shared_ptr<pds::FirehoseSessions> firehose_sessions = std::make_shared<pds::FirehoseSessions>();
  void report_gc(const GcReport& report);
  // data_dir/control.secret: lets a program on this host (atcr-hold gc)
  // drive the running hold.
  std::string control_secret;
  // The control secret's holder or one of the hold's admins; throws the refusal.
  void require_operator(const xrpc::ServerRequest& req, std::string_view lxm);
  void register_gc_endpoints(xrpc::XrpcServer& server, Hold& hold);
  void register_user_endpoints(xrpc::XrpcServer& server);
  // getLayersForManifest, exportUserData, updateCrewTier (user_endpoints.cc).
  xrpc::ServerResponse get_layers_for_manifest(const xrpc::ServerRequest& req);
  xrpc::ServerResponse export_user_data(const xrpc::ServerRequest& req);
  xrpc::ServerResponse update_crew_tier(const xrpc::ServerRequest& req);
  std::string tier_at_rank(std::int64_t rank) const;

  // A fresh record key for "tid"-keyed collections (layer records).
  std::string next_tid();

  // The caller's DID from the request's service-auth token ("" when the
  // request carries none). A bad token is a 401 even on public endpoints:
  // a client that sent credentials wants to know they failed.
  std::string caller(const xrpc::ServerRequest& req, std::string_view lxm) const;
  // The caller, who must hold `access`; throws the refusal as an XrpcError.
  std::string require(const xrpc::ServerRequest& req, std::string_view lxm, Access access);

  // Writes records in one commit and keeps `access` current.
  CommitResult commit(const std::vector<RecordWrite>& writes, const std::vector<CrewMember>& crew_added = {},
                      const std::vector<LayerUse>& layers_added = {});

  void bootstrap();
  std::optional<RecordWrite> profile_write();
  std::vector<std::string> former_owner_crew(const std::string& owner) const;  // crew rkeys
  // The uploader of a PUT to uploadPart: from its service token, or from
  // the URL's signature when getPartUploadUrl handed out a signed URL.
  std::string part_uploader(const xrpc::ServerRequest& req, const std::string& upload_id, int part);
  void register_upload_endpoints(xrpc::XrpcServer& server);
  // initiateUpload, getPartUploadUrl, uploadPart, completeUpload,
  // abortUpload (upload_endpoints.cc).
  xrpc::ServerResponse initiate_upload(const xrpc::ServerRequest& req);
  xrpc::ServerResponse get_part_upload_url(const xrpc::ServerRequest& req);
  xrpc::ServerResponse upload_part(const xrpc::ServerRequest& req, xrpc::BodyReader& body);
  xrpc::ServerResponse complete_upload(const xrpc::ServerRequest& req);
  xrpc::ServerResponse abort_upload(const xrpc::ServerRequest& req);
  void register_blob_endpoints(xrpc::XrpcServer& server);
  void register_manifest_endpoints(xrpc::XrpcServer& server);
  // notifyManifest, getQuota, listTiers (manifest_endpoints.cc). A push
  // is planned (layer records, quota, post) under records_mu, then
  // committed with the stats record in one commit.
  struct PushWrites;
  xrpc::ServerResponse notify_manifest(const xrpc::ServerRequest& req);
  void plan_push(const Value& in, const Notification& n, PushWrites& plan);
  void record_layers(const Notification& n, const oci::ManifestInfo& info, PushWrites& plan);
  void check_push_quota(const std::string& user, const PushWrites& plan);
  xrpc::ServerResponse get_quota(const xrpc::ServerRequest& req);
  xrpc::ServerResponse list_tiers() const;
  // Stores `data` as a blob of the hold's own records (a scan's SBOM, the
  // profile's avatar: raw sha256 CIDs, kept by GC while a record names
  // them) and returns its blob ref {$type: blob, ref, mimeType, size}.
  Value store_record_blob(const Bytes& data, std::string_view mime_type);
  // The profile's avatar (registration.profile_avatar): getBlob serves it
  // to anyone, as its own type. Set at boot, read-only after.
  std::string avatar_digest;
  std::string avatar_mime_type;
  // The users whose PDSes may hold images using this hold's blobs: the
  // owner, the crew and `layer_users` (those with layer records).
  std::set<std::string> image_users(std::set<std::string> layer_users);
  // What those users' kept images use, read from their PDSes at most once
  // a minute (blob_endpoints.cc): deleteBlob's check for blobs no layer
  // record names, as older images' config blobs.
  struct KeptImages {
    std::map<std::string, UserImages> users;
    std::set<std::string> unreachable;  // could not be read: may use anything
    std::chrono::steady_clock::time_point read_at;
    // How many kept images other than `user`'s in `repository` use `digest`.
    std::size_t others_using(const std::string& digest, const std::string& user, const std::string& repository) const;
  };
  std::shared_ptr<const KeptImages> kept_images();
  std::mutex kept_images_mu;
  std::shared_ptr<const KeptImages> kept_images_cache;
  // io.atcr.hold.deleteBlob for `user` (see blob_endpoints.cc), and its
  // route; 503 when a user's images cannot be read.
  Value delete_blob(const std::string& user, const std::string& repository, const oci::Digest& digest);
  std::size_t kept_images_using(const std::string& user, const std::string& repository, const oci::Digest& digest);
  xrpc::ServerResponse delete_blob(const xrpc::ServerRequest& req);
  // com.atproto.sync.getBlob, and the bytes it serves itself (a range).
  xrpc::ServerResponse get_blob(const xrpc::ServerRequest& req);
  xrpc::ServerResponse blob_bytes(const xrpc::ServerRequest& req, const oci::Digest& digest, std::uint64_t size,
                                  const std::string& content_type);
  void register_crew_endpoints(xrpc::XrpcServer& server);

  // The owner's changes (crew_admin.cc). Crew records and members as
  // stored (records that do not parse are skipped).
  std::vector<CrewMember> crew_members() const;
  // Creates or replaces `member`'s crew record (validated: a DID, a role
  // other than owner, known permissions, one of the quota tiers or "");
  // returns what was stored. ParseError for bad input or the owner.
  CrewMember put_crew(CrewMember member);
  // Deletes every crew record of `member_did`; false if there was none.
  // ParseError for the owner.
  bool remove_crew(const std::string& member_did);
  // Writes the captain record's settings.
  void set_captain_settings(const CaptainSettings& settings);
  // The config's settings as last applied at boot (data_dir/captain-config).
  std::optional<CaptainSettings> settings_last_applied() const;
  void remember_settings_applied(const CaptainSettings& settings);

  // bluesky.cc: the post announcing a push by `user` (their handle if it
  // resolves, else their DID, linked to the AppView's repository page).
  Value push_post_for(const std::string& user, const std::string& repository, const std::string& tag,
                      const oci::ManifestInfo& info);
  std::unique_ptr<PostLog> posts;  // which user each post is about
  // exportUserData's blueskyPosts: [{uri, text, createdAt}] of the posts
  // about `user` (those the post log names, and older ones whose link is
  // to a repository page of the user's DID or current handle).
  Value::Array posts_about(const std::string& user);

  std::unique_ptr<AdminPanel> admin;  // when config.admin.enabled

  // Scanning (scan_endpoints.cc).
  std::unique_ptr<ScanQueue> scans;
  std::mutex scan_mu;  // with scan_cv: connected scanners wait for jobs
  std::condition_variable scan_cv;
  // Whether the request carries the scanner secret (X-Scanner-Secret).
  bool scanner_authorized(const xrpc::ServerRequest& req) const;
  // After a push: queues a scan when the pusher's tier ("" for the owner) scans on push.
  void queue_scan(const std::string& user, const std::string& repository, const std::string& tag,
                  const oci::Digest& digest, const std::string& manifest_uri,
                  const std::vector<oci::Descriptor>& layers, std::string_view tier);

  void record_scan(const QueuedScan& job, const scan::ScanResult& result);
  std::string scan_job_message(const QueuedScan& job) const;
  bool await_scan_result(xrpc::WebSocket& ws, const QueuedScan& job);
  void serve_scanner(const xrpc::ServerRequest& req, xrpc::WebSocket& ws);
  void register_scan_endpoints(xrpc::XrpcServer& server);
};

}  // namespace atcr::hold

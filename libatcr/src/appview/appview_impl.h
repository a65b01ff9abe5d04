// Internal: the AppView's state and the helpers its endpoint files share.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "appview/device_store.h"
#include "appview/hold_client.h"
#include "appview/index_feed.h"
#include "appview/pull_window.h"
#include "appview/session_store.h"
#include "atcr/index/index.h"
#include "appview/web/avatars.h"
#include "appview/web/hold_health.h"
#include "appview/web/oauth_store.h"
#include "appview/web/views.h"
#include "appview/web/web_session.h"
#include "atcr/appview/appview.h"
#include "appview/blob_upload.h"
#include "atcr/appview/registry_token.h"
#include "atcr/data/tid.h"
#include "atcr/data/value.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/manifest.h"
#include "atcr/oci/reference.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/session.h"
#include "util/ttl_cache.h"

namespace atcr::appview {

using util::TtlCache;

// A resolved "<identity>/<repository>".
struct Target {
  oci::ImageName name;  // as the client spelled it (normalised)
  std::string did;
  std::string pds_url;
  std::string str() const { return name.str(); }
};

// A login name resolved: the normalised handle or DID, its DID and PDS.
struct LoginIdentity {
  std::string identity;
  std::string did;
  std::string pds_url;
};

// Who is calling, from the registry token (if any).
struct Caller {
  std::optional<RegistryClaims> claims;
  bool anonymous() const { return !claims || claims->anonymous(); }
  const std::string& did() const {
    static const std::string none;
    return claims ? claims->subject : none;
  }
};

struct CachedManifest {
  std::string media_type;
  std::string bytes;
  std::string subject_digest;  // for OCI-Subject
};

// One upload in progress (a distribution upload session).
struct UploadState {
  std::mutex mu;  // one request at a time per upload
  std::string uuid;
  std::string name;  // the Target's name
  std::string did;
  HoldRef hold;
  std::string hold_upload_id;
  BlobUpload blob;  // spills to data_dir/uploads/<uuid> (or the shared database)
  bool dead = false;  // completed, cancelled or failed
  explicit UploadState(BlobUpload b) : blob(std::move(b)) {}
};

// An app-password login /auth/token remembers (Impl::logins).
struct RememberedLogin {
  std::string did;
  std::weak_ptr<xrpc::PdsSession> session;  // the session it made
};

using StreamBody = xrpc::BodyReader;

// A record as listRecords returns it.
struct RecordEntry {
  std::string rkey;
  Value value;
};

// The owner of a web page's /r/ or /u/ path: a handle or DID, resolved.
struct WebOwner {
  std::string did;
  std::string pds_url;
  std::string handle;  // "" when the DID names none that resolves back
  // For record reads: the owner's repo with t.name.repository = `repository`.
  Target target(std::string_view repository) const;
};

// Collections the web UI reads and writes (atcr-features.md §3).
using index::kProfileCollection;
using index::kRepoPageCollection;
using index::kScanCollection;
using index::kStarCollection;
// io.atcr.repo.page's record key: the repository, '/' spelled '~' (record
// keys admit no '/').
std::string repo_page_rkey(std::string_view repository);
// A star's subject: the AT-URI of the repository's io.atcr.repo.page.
std::string star_subject(const std::string& owner_did, std::string_view repository);

inline constexpr int kMaxListPages = 1000;
// A client pulling the same repository again within this window (a
// multi-platform pull's index then its manifest, retries, CI loops) counts
// as one pull.
inline constexpr std::chrono::minutes kPullWindow{5};
// The distribution token endpoint (the challenges' realm).
inline constexpr std::string_view kTokenPath = "/auth/token";
inline constexpr int kManifestScanPages = 5;

struct Appview::Impl {
  Impl(AppviewConfig config, AppviewOptions options);
  ~Impl();
  // Starts feeding network_index from config.index's sources (if any).
  void follow_network();

  // A route handler that is a member (web pages, the device flow).
  using PageHandler = xrpc::ServerResponse (Impl::*)(const xrpc::ServerRequest&);

  AppviewConfig config;
  std::unique_ptr<identity::DirectoryResolver> own_resolver;
  identity::Resolver* resolver;
  std::shared_ptr<const net::HttpClient> http;
  // Where holds' part URLs may point besides the hold itself.
  std::shared_ptr<const PartDestinations> part_destinations;
  // For holds users named: every connection to a public address (loopback
  // too with identity.development); see http_for().
  std::shared_ptr<const net::HttpClient> hold_http;
  std::unique_ptr<RegistryTokenIssuer> issuer;
  std::unique_ptr<SessionStore> store;
  // Every io.atcr.* record on the network (data_dir/index.sqlite, or the
  // shared database): the catalog and the web UI read it; our own pushes and deletes go in at
  // once, the firehose brings everyone else's.
  std::unique_ptr<index::Index> network_index;
  // Follows config.index's sources into network_index while we run (none
  // configured, or AppviewOptions::follow_network false: null).
  std::unique_ptr<IndexFeed> index_feed;
  // With a shared database: runs the IndexFeed in whichever instance leads.
  std::unique_ptr<FeedLeader> feed_leader;
  // The AppView's state: data_dir/appview.sqlite, or config.database.url's
  // PostgreSQL database shared with other instances.
  std::shared_ptr<db::Database> database;
  std::unique_ptr<DeviceStore> devices;  // the device flow, devices' secrets
  std::unique_ptr<PullWindow> pulls;     // which pulls count (across instances)
  std::string realm;  // <public_url>/auth/token
  std::unique_ptr<web::WebSessions> web_sessions;  // browser sessions, CSRF, page layout
  std::unique_ptr<web::OAuthStore> oauth_sessions;  // OAuth client, sign-ins in flight, OAuth sessions

  TtlCache<std::string> names;          // identity -> "did pds_url"
  TtlCache<std::string> tags;           // did/repo:tag -> digest
  TtlCache<std::vector<std::string>> tag_lists;  // did/repo -> tag names (tags/list)
  TtlCache<CachedManifest> manifests;   // did/repo@digest -> manifest
  TtlCache<std::string> manifest_rkeys; // did/repo@digest -> key of its io.atcr.manifest record
  TtlCache<bool> tid_keyed;             // did -> every io.atcr.manifest record had a TID key at its login
  TtlCache<bool> missing_manifests;     // did/repo@digest searched for and not found (tag_ttl)
  TtlCache<std::string> repo_holds;     // did/repo -> hold DID
  TtlCache<std::string> push_holds;     // did -> hold DID
  TtlCache<bool> public_holds;          // hold DID -> public?
  TtlCache<bool> crew;                  // did hold -> approved
  TtlCache<std::string> service_tokens; // did hold lxm -> JWT
  TtlCache<RememberedLogin> logins;    // sha256(user:password) -> the login it made
  TtlCache<std::uint64_t> hold_blobs;   // hold_blob_key() -> size: seen on the hold (uploaded or HEADed)

  TidClock tids;  // manifest record keys

  // Upload sessions: all saved in `store`; those in use since the start
  // also here (the rest are loaded on their next request).
  std::mutex uploads_mu;
  std::map<std::string, std::shared_ptr<UploadState>> uploads;
  std::filesystem::path spill_dir;  // data_dir/uploads
  // Set by Appview::instrument (null: no metrics): for gauges a part keeps
  // current itself, e.g. the firehose consumer's lag.
  xrpc::Metrics* metrics = nullptr;

  // ---- endpoints (one file each) ----
  void register_auth(xrpc::XrpcServer& server);
  void register_manifests(xrpc::XrpcServer& server);
  // /v2/<name>/manifests/<reference> (manifest_endpoints.cc).
  xrpc::ServerResponse get_manifest(const xrpc::ServerRequest& req);
  xrpc::ServerResponse put_manifest(const xrpc::ServerRequest& req, xrpc::BodyReader& reader);
  xrpc::ServerResponse delete_manifest(const xrpc::ServerRequest& req);
  void register_blobs(xrpc::XrpcServer& server);
  // /v2/<name>/blobs/<digest> (blob_endpoints.cc): GET and HEAD try each
  // of blob_holds() in turn.
  xrpc::ServerResponse get_blob(const xrpc::ServerRequest& req);
  xrpc::ServerResponse delete_blob(const xrpc::ServerRequest& req);
  std::vector<std::string> blob_holds(const Target& t, bool owner);
  // What a GET or HEAD asks: blob_holds(), or for a pusher's HEAD only the push hold.
  std::vector<std::string> read_holds(const xrpc::ServerRequest& req, const Target& t, const Caller& caller);
  // The answer of one hold; nullopt if it has not the blob (get_blob_on
  // sets `denied` when the hold refused the caller).
  std::optional<xrpc::ServerResponse> head_blob_on(const std::string& hold_did, const HoldClient& hold,
                                                   const std::string& token, const oci::Digest& digest);
  std::optional<xrpc::ServerResponse> get_blob_on(const xrpc::ServerRequest& req, const HoldClient& hold,
                                                  const std::string& token, const oci::Digest& digest, bool& denied);
  // A private hold's bytes streamed through (Range honoured).
  std::optional<xrpc::ServerResponse> proxy_blob(const xrpc::ServerRequest& req, const HoldClient& hold,
                                                 const std::string& token, const oci::Digest& digest);
  void register_uploads(xrpc::XrpcServer& server);
  // /v2/<name>/blobs/uploads/ (upload_endpoints.cc).
  xrpc::ServerResponse post_upload(const xrpc::ServerRequest& req, xrpc::BodyReader& body);
  xrpc::ServerResponse patch_upload(const xrpc::ServerRequest& req, xrpc::BodyReader& body);
  xrpc::ServerResponse put_upload(const xrpc::ServerRequest& req, xrpc::BodyReader& body);
  xrpc::ServerResponse get_upload(const xrpc::ServerRequest& req);
  xrpc::ServerResponse delete_upload(const xrpc::ServerRequest& req);
  // A cross-repository mount: 201 if the pusher's hold has the blob.
  std::optional<xrpc::ServerResponse> mount_blob(const Target& t, const oci::Digest& digest);
  void register_lists(xrpc::XrpcServer& server);
  // /v2/_catalog, /v2/<name>/tags/list, /v2/<name>/referrers/<digest> (list_endpoints.cc).
  xrpc::ServerResponse list_catalog(const xrpc::ServerRequest& req);
  xrpc::ServerResponse list_tags(const xrpc::ServerRequest& req);
  xrpc::ServerResponse list_referrers(const xrpc::ServerRequest& req);
  // The names of t's valid tags (kept cache.tag_ttl in tag_lists).
  std::vector<std::string> tag_names(const Target& t);
  void register_device_flow(xrpc::XrpcServer& server);
  void register_install(xrpc::XrpcServer& server);

  // ---- installing the credential helper (install_endpoints.cc) ----
  xrpc::ServerResponse install_script(const xrpc::ServerRequest& req);
  xrpc::ServerResponse helper_binary(const xrpc::ServerRequest& req);
  // Where install.sh fetches the helper from; "" if the operator set none.
  std::string helper_download_url() const;

  // GET /auth/token (auth_endpoints.cc): a registry token for Basic
  // credentials (a device secret or an app password), or anonymous.
  xrpc::ServerResponse issue_token(const xrpc::ServerRequest& req);

  // ---- the device flow (device_endpoints.cc) ----
  // Runs a device-flow handler, answering failures as OAuth errors.
  xrpc::ServerResponse device_endpoint(const xrpc::ServerRequest& req, PageHandler handler);
  xrpc::ServerResponse start_device_code(const xrpc::ServerRequest& req);
  xrpc::ServerResponse poll_device_token(const xrpc::ServerRequest& req);
  // The DID's handle if it resolves back to the DID, else "".
  std::string verified_handle(const std::string& did);
  // /auth/token: a handle or DID typed at a login, resolved (UNAUTHORIZED
  // if it is neither or does not resolve).
  LoginIdentity resolve_login(const std::string& user);
  // An app password: the DID whose PDS accepts it (sessions kept, profile
  // created on first login).
  std::string password_login(const std::string& user, const std::string& password);
  // /auth/token with a device secret: the DID it signs in while its OAuth
  // session stands, or UNAUTHORIZED saying what to run.
  std::string device_login(const std::string& user, const std::string& secret);

  // ---- the device flow's pages (web/device_pages.cc) ----
  void register_device_pages(xrpc::XrpcServer& server);
  xrpc::ServerResponse device_page(const xrpc::ServerRequest& req);      // GET /device
  xrpc::ServerResponse device_decision(const xrpc::ServerRequest& req);  // POST /device
  xrpc::ServerResponse devices_page(const xrpc::ServerRequest& req);     // GET /settings/devices
  xrpc::ServerResponse revoke_device(const xrpc::ServerRequest& req);    // POST /settings/devices/revoke
  xrpc::ServerResponse install_page(const xrpc::ServerRequest& req);     // GET /install
  // The devices list with revoke buttons (/settings/devices, /settings).
  std::string devices_table(const web::WebUser& user);
  void register_web(xrpc::XrpcServer& server);  // web/oauth_routes.cc
  // A page handler wrapped so every failure is an HTML error page.
  xrpc::Handler web_page(PageHandler handler);

  // ---- web pages (web/oauth_routes.cc) ----
  xrpc::ServerResponse home_page(const xrpc::ServerRequest& req);
  xrpc::ServerResponse login_page(const xrpc::ServerRequest& req);
  xrpc::ServerResponse oauth_authorize(const xrpc::ServerRequest& req);
  xrpc::ServerResponse oauth_callback(const xrpc::ServerRequest& req);
  xrpc::ServerResponse logout(const xrpc::ServerRequest& req);
  xrpc::ServerResponse client_metadata(const xrpc::ServerRequest& req);
  xrpc::ServerResponse client_jwks(const xrpc::ServerRequest& req);
  // The DID's OAuth-backed PDS session (signed in on the web); nullptr if
  // it has none or its grant ended.
  std::shared_ptr<xrpc::PdsSession> oauth_session_of(const std::string& did);

  // ---- the web UI (web/repo_pages.cc, web/settings_pages.cc, web/browse_pages.cc) ----
  std::unique_ptr<web::HoldHealth> hold_health;
  std::unique_ptr<web::AvatarCache> avatars;  // repository avatars from owners' PDSes
  void register_repo_pages(xrpc::XrpcServer& server);
  void register_browse_pages(xrpc::XrpcServer& server);
  // From the network index: cards newest push first / most stars first;
  // search hits in rank order (`offset`, at most `limit`).
  std::vector<web::RepoCard> recent_repos(int limit);
  std::vector<web::RepoCard> most_starred_repos(int limit);
  std::vector<web::RepoCard> search_repos(const std::string& query, int offset, int limit);
  void register_settings_pages(xrpc::XrpcServer& server);
  xrpc::ServerResponse repo_page(const xrpc::ServerRequest& req);       // GET /r/<id>/<repo>
  xrpc::ServerResponse star_repo(const xrpc::ServerRequest& req);       // POST /r/<id>/<repo>/-/star
  xrpc::ServerResponse repo_editor(const xrpc::ServerRequest& req);     // GET /r/<id>/<repo>/-/edit
  xrpc::ServerResponse save_repo_page(const xrpc::ServerRequest& req);  // POST /r/<id>/<repo>/-/edit
  xrpc::ServerResponse user_page(const xrpc::ServerRequest& req);       // GET /u/<id>
  xrpc::ServerResponse repo_avatar(const xrpc::ServerRequest& req);     // GET /r/<id>/<repo>/-/avatar
  xrpc::ServerResponse settings_page(const xrpc::ServerRequest& req);   // GET /settings
  xrpc::ServerResponse save_settings(const xrpc::ServerRequest& req);   // POST /settings
  xrpc::ServerResponse search_page(const xrpc::ServerRequest& req);     // GET /search
  // A handle or DID from a page path, resolved; nullopt if it does not.
  std::optional<WebOwner> web_owner(const std::string& identity);
  // What /r/ shows; nullopt when the repository has neither tags nor a page record.
  std::optional<web::RepoPage> load_repo_page(const WebOwner& owner, const std::string& repository,
                                              const std::optional<web::WebUser>& viewer);
  void load_tags(const Target& t, web::RepoPage& page);
  void load_hold_facts(const Target& t, web::RepoPage& page);
  // The repository page as the network index knows it; nullopt if it does not.
  std::optional<web::RepoPage> indexed_repo_page(const WebOwner& owner, const std::string& repository,
                                                 const std::optional<web::WebUser>& viewer);
  // The same read from the owner's PDS (a repository the index has not seen yet).
  std::optional<web::RepoPage> pds_repo_page(const WebOwner& owner, const std::string& repository);
  // A record the user just wrote through us, applied to the index at once
  // (the firehose brings the same change later; applying is idempotent).
  void index_own_write(const std::string& did, std::string_view collection, const std::string& rkey,
                       std::optional<Value> record);
  std::vector<web::RepoCard> pds_user_repos(const WebOwner& owner);
  // A record in a hold's embedded PDS (public); nullopt if absent or the hold fails.
  std::optional<Value> hold_record(const std::string& hold_did, std::string_view collection, const std::string& rkey);
  std::vector<RecordEntry> stars_of(const std::string& did);  // the DID's io.atcr.sailor.star records
  std::string oci_client_of(const std::string& did);         // its profile's ociClient ("" if none)
  std::string hold_usage_row(const std::string& hold_did, const std::string& did);
  // Form POST refusals as HTML pages: 403 for a missing or wrong CSRF token
  // (or no sign-in), 401 when the user's OAuth session has ended.
  xrpc::ServerResponse stale_form(const xrpc::ServerRequest& req, std::string_view title);
  xrpc::ServerResponse session_ended(const web::WebUser& user, std::string_view title);

  // ---- requests ----
  // Wraps a handler so every failure becomes a distribution error body
  // (401s with the Bearer challenge for `scope_actions` on the name in
  // path_params[0]).
  xrpc::Handler guard(std::string scope_actions, xrpc::Handler handler);
  xrpc::StreamHandler guard_stream(std::string scope_actions, xrpc::StreamHandler handler);
  xrpc::ServerResponse error_response(const xrpc::ServerRequest& req, const std::string& scope_actions,
                                      const oci::RegistryError& error);

  // The registry token of the request, verified (nullopt: none sent).
  // Throws UNAUTHORIZED for a bad one.
  std::optional<RegistryClaims> claims_of(const xrpc::ServerRequest& req);
  // pull: anyone (anonymous included). push/delete: the owner, with a
  // token granting it. Throws UNAUTHORIZED / DENIED.
  Caller authorize(const xrpc::ServerRequest& req, const Target& target, std::string_view action);

  // ---- identities ----
  Target resolve_name(std::string_view raw_name);
  // handle or DID -> (did, pds_url); throws NAME_UNKNOWN.
  std::pair<std::string, std::string> resolve_identity(const std::string& identity);
  // The DID's PDS session: its OAuth session if alive, else its
  // app-password session; UNAUTHORIZED if neither.
  std::shared_ptr<xrpc::PdsSession> session_of(const std::string& did);
  // Creates io.atcr.sailor.profile/self (defaultHold = the default hold)
  // on a user's first login.
  void ensure_profile(const xrpc::PdsSession& session, const std::string& did, const std::string& pds_url);

  // ---- holds ----
  HoldClient hold_client(const std::string& hold_did);
  // The client for calls to a hold's own endpoint. A hold DID is whatever a
  // user names (profile, manifest record), so its service endpoint must not
  // reach this host's network: hold_http, unless it is the operator's
  // default hold or an origin listed in uploads.storage_origins.
  std::shared_ptr<const net::HttpClient> http_for(const HoldRef& hold) const;
  std::string push_hold(const std::string& did, const std::string& pds_url);
  std::string pull_hold(const Target& target);
  bool hold_is_public(const HoldClient& hold);
  // A service token of `did` for `hold_did` bound to `lxm` (cached ~45 s).
  std::string service_token(const std::string& did, const std::string& hold_did, const std::string& lxm);
  // Fetches the tokens for `lxms` that are not cached, all at once (each is
  // a PDS round trip), so the calls that follow find them. Failures are
  // left for those calls to meet.
  void prefetch_service_tokens(const std::string& did, const std::string& hold_did,
                               std::initializer_list<std::string_view> lxms);
  // The token to read blobs with: "" for a public hold, else the caller's.
  std::string read_token(const HoldClient& hold, const Caller& caller);
  void ensure_crew(const std::string& did, const HoldClient& hold);

  // Counts a manifest GET as a pull of t's repository, once per client
  // (caller DID, else address) and kPullWindow.
  void count_pull(const xrpc::ServerRequest& req, const Caller& caller, const Target& t);

  // ---- manifest pushes ----
  // MANIFEST_BLOB_UNKNOWN unless every blob `m` references is on the hold.
  void check_blobs_on_hold(const oci::Manifest& m, const Target& t, const HoldClient& hold);
  // notifyManifest (quota, layer records); maps its refusals to OCI codes.
  void notify_hold(const oci::Manifest& m, const Target& t, const oci::Reference& ref, const HoldClient& hold,
                   const std::string& manifest_uri);
  // MANIFEST_BLOB_UNKNOWN unless every manifest an index names is in t.
  void check_referenced_manifests(const oci::Manifest& m, const Target& t);
  // One applyWrites commit; if the PDS refuses it (a record changed since
  // the lookup), the records one by one, in order.
  void commit_records(xrpc::PdsSession& session, const Target& t, const std::vector<xrpc::WriteOp>& writes);
  // The caches and the index learn a push the user's PDS has committed.
  void remember_push(const Target& t, const oci::Reference& ref, const oci::Manifest& m, std::string body,
                     const std::string& manifest_rkey, const std::string& hold_did,
                     const std::vector<xrpc::WriteOp>& writes);
  // Deletes every manifest record of `digest` in t and the tags naming it
  // (MANIFEST_UNKNOWN if there is none); returns the index's changes.
  std::vector<index::RecordChange> delete_manifest_records(const Target& t, const oci::Digest& digest,
                                                           xrpc::PdsSession& session);

  // ---- records in the user's PDS (public reads) ----
  std::optional<Value> get_record(const Target& t, std::string_view collection, const std::string& rkey);
  // Whether the owner's repo has this io.atcr.tag record (manifest_endpoints.cc).
  bool tag_record_exists(const Target& t, const std::string& rkey);
  // The records of a collection, at most `max_pages` pages of 100.
  std::vector<RecordEntry> list_record_entries(const Target& t, std::string_view collection,
                                               int max_pages = kMaxListPages);
  std::vector<Value> list_records(const Target& t, std::string_view collection);
  // The io.atcr.manifest record of `digest` in t's repository: by the key
  // remembered for it (our writes, tags' AT-URIs, earlier scans), then the
  // legacy key (unless the user's login found only TID keys), then (with
  // `scan`) the first kManifestScanPages pages of
  // listRecords. Keys found are remembered; a digest not found with a scan
  // is not searched for again for cache.tag_ttl (a client probing made-up
  // digests costs the user's PDS a few requests, not a scan each).
  std::optional<RecordEntry> find_manifest_record(const Target& t, const oci::Digest& digest, bool scan);
  void remember_manifest_key(const std::string& did, const std::string& repository, const oci::Digest& digest,
                             const std::string& rkey);
  // Our own record writes (or deletes, a null value) under `t`, into the index.
  void index_own_records(const Target& t, const std::vector<index::RecordChange>& changes);
  // Re-keys a user's manifest records written under legacy keys to TIDs
  // (tags pointing at them follow), on login, and remembers every record's
  // key. Failures are logged only.
  void migrate_manifest_keys(const xrpc::PdsSession& session, const std::string& did, const std::string& pds_url);
  std::optional<CachedManifest> fetch_manifest(const Target& t, const oci::Digest& digest);
  std::optional<oci::Digest> resolve_tag(const Target& t, const std::string& tag);
  void forget_repo_caches(const Target& t);

  // ---- uploads ----
  // TOOMANYREQUESTS past uploads.max_sessions(_per_user).
  std::shared_ptr<UploadState> start_upload(const Target& t, const std::string& did);
  // In memory, else as saved (a restart in between). BLOB_UPLOAD_UNKNOWN
  // when none, another user's or another repository's.
  std::shared_ptr<UploadState> find_upload(const Target& t, const std::string& uuid, const Caller& caller);
  std::shared_ptr<UploadState> load_upload(const std::string& uuid);
  // Where upload `uuid` keeps the part being filled: a file under spill_dir,
  // or the shared database.
  std::unique_ptr<Spill> spill_of(const std::string& uuid);
  // Saves the session's offset and parts (after each request).
  void save_upload(const UploadState& up);
  // Forgets the session: memory, database and spill file.
  void drop_upload(UploadState& up);
  // Aborts and drops the sessions idle past uploads.session_ttl.
  void expire_uploads();
  void abort_quietly(UploadState& up);
  // Reads the body into the upload (parts go to the hold as they fill).
  void feed(UploadState& up, StreamBody& body);
  // finish + completeUpload; DIGEST_INVALID on mismatch. Returns the size.
  std::uint64_t finish_upload(UploadState& up, const oci::Digest& digest);
  xrpc::ServerResponse upload_status(const UploadState& up, int status);
};

// The key of a manifest in Impl::manifests and Impl::manifest_rkeys.
inline std::string manifest_cache_key(const std::string& did, const std::string& repository,
                                      const oci::Digest& digest) {
  return did + "/" + repository + "@" + digest.str();
}

// The key of a blob in Impl::hold_blobs.
inline std::string hold_blob_key(const std::string& hold_did, const oci::Digest& digest) {
  return hold_did + " " + digest.str();
}

// A digest from a request path or query; DIGEST_INVALID if malformed.
oci::Digest digest_param(const std::string& text);
// A digest a client pushes content under: digest_param, and sha256 only.
// ATCR's published lexicons cap digests at 128 characters (completeUpload,
// notifyManifest, every record's `digest`), and "sha512:<128 hex>" is 135:
// no ATCR hold or record can carry one, so it is refused up front with
// DIGEST_INVALID (distribution-spec: an unsupported algorithm is a 400).
oci::Digest pushed_digest(const std::string& text);

// The registry error an upstream (PDS, hold) failure becomes when the
// handler did not map it itself: 401/403 DENIED, 429 TOOMANYREQUESTS, a
// full hold (507) UNAVAILABLE 507 saying storage is full, else 502.
oci::RegistryError from_upstream(const xrpc::XrpcError& e);

// Shorthand for the distribution errors.
inline oci::RegistryError registry_error(oci::ErrorCode code, std::string message = {}, int status = 0) {
  return oci::RegistryError(code, std::move(message), {}, status);
}



}  // namespace atcr::appview

// A logged-in session with a user's PDS: the com.atproto.server.createSession
// tokens of an app-password login, refreshed as they expire, or any other
// way of authorizing calls (a CallAuthorizer: atcr::oauth's DPoP-bound OAuth
// tokens), and the repo calls ATCR makes with them.
//
//   PdsSession s = PdsSession::create("https://pds.example.com", "alice.example.com", app_password);
//   Value blob = s.upload_blob(manifest_bytes, "application/vnd.oci.image.manifest.v1+json");
//   auto ref = s.create_record("io.atcr.manifest", record);
//   std::string token = s.get_service_auth(hold_did, "io.atcr.hold.initiateUpload");
//
// Expiry: when a call fails with error "ExpiredToken" (400 or 401), the
// session refreshes once (com.atproto.server.refreshSession) and retries the
// call once. A PDS checks the token before doing anything, so retrying a
// write is safe. Concurrent calls that hit the expiry together share a
// single refresh. All methods may be called from many threads at once.
//
// Errors: XrpcError for error responses (a wrong password is 401
// "AuthenticationRequired"; a refresh token that expired too surfaces as
// "ExpiredToken"/"InvalidToken" and means logging in again), net::HttpError
// for transport failures, ParseError for responses of the wrong shape.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/cid.h"
#include "atcr/data/value.h"
#include "atcr/xrpc/client.h"

namespace atcr::xrpc {

struct SessionTokens {
  std::string did;
  std::string handle;
  std::string access_jwt;
  std::string refresh_jwt;
};

struct WriteResult {
  std::string uri;  // at://did/collection/rkey
  Cid cid;
};

struct Record {
  std::string uri;
  std::optional<Cid> cid;
  Value value;
};

struct RecordPage {
  std::vector<Record> records;
  std::optional<std::string> cursor;  // absent on the last page
};

struct ListRecordsOptions {
  std::optional<int> limit{};  // the PDS's default (50) when absent; at most 100
  std::string cursor{};
  bool reverse = false;
};

// One operation of com.atproto.repo.applyWrites.
struct WriteOp {
  enum class Action { kCreate, kUpdate, kDelete };
  Action action = Action::kCreate;
  std::string collection;
  std::string rkey;  // optional for kCreate
  Value value;       // the record; unused for kDelete

  static WriteOp create(std::string collection, Value record, std::string rkey = {});
  static WriteOp update(std::string collection, std::string rkey, Value record);
  static WriteOp remove(std::string collection, std::string rkey);
};

// Authorizes a session's calls some other way than app-password bearer
// tokens (atcr::oauth implements it with DPoP-bound OAuth tokens).
class CallAuthorizer {
 public:
  virtual ~CallAuthorizer() = default;
  // Calls `send` with the headers that authorize `http_method` on `url`
  // (the full URL, query included), and again if the server asks for it
  // (a fresh nonce, a refreshed token), returning the last answer or
  // throwing its XrpcError. Called from many threads at once.
  virtual XrpcResponse authorize(std::string_view http_method, const std::string& url,
                                 const std::function<XrpcResponse(const net::Headers&)>& send) = 0;
};

class PdsSession {
 public:
  // Logs in with a handle/DID/email and an (app) password.
  // `auth_factor_token` answers a PDS that asks for a 2FA code.
  static PdsSession create(std::string pds_url, std::string_view identifier,
                           std::string_view password,
                           std::shared_ptr<const net::HttpClient> http = nullptr,
                           std::string_view auth_factor_token = {});
  // A session whose calls `authorizer` signs; tokens() has the DID and
  // handle and no JWTs, refresh() and on_refresh() do nothing (the
  // authorizer refreshes its own credentials).
  static PdsSession with_authorizer(std::string pds_url, std::string did, std::string handle,
                                    std::shared_ptr<CallAuthorizer> authorizer,
                                    std::shared_ptr<const net::HttpClient> http = nullptr);
  // Picks up saved tokens without a network call.
  static PdsSession resume(std::string pds_url, SessionTokens tokens,
                           std::shared_ptr<const net::HttpClient> http = nullptr);

  PdsSession(PdsSession&&) noexcept;
  PdsSession& operator=(PdsSession&&) noexcept;
  ~PdsSession();

  // A snapshot of the current tokens (e.g. to save them).
  SessionTokens tokens() const;
  std::string did() const;
  std::string handle() const;
  // The PDS, unauthenticated (for public reads).
  const XrpcClient& client() const;

  // Called with the new tokens after every refresh, so they can be saved.
  // It runs under the refresh lock, so saves happen in refresh order; it
  // must not call refresh() or make calls through this session. Set it
  // before sharing the session between threads.
  void on_refresh(std::function<void(const SessionTokens&)> callback);
  // Called when the PDS refuses a refresh (an error answer: the refresh
  // token expired or was revoked, e.g. with its app password), before the
  // XrpcError propagates, so the session can be ended at once. Same rules
  // as on_refresh.
  void on_refresh_refused(std::function<void(const XrpcError&)> callback);

  // com.atproto.server.refreshSession, now.
  void refresh();

  // Any call with the session's token and the expiry retry.
  Value query(std::string_view nsid, const Params& params = {},
              const CallOptions& options = {}) const;
  Value procedure(std::string_view nsid, const Value& input, const Params& params = {},
                  const CallOptions& options = {}) const;
  XrpcResponse call(std::string_view http_method, std::string_view nsid, const Params& params,
                    BytesView body, std::string_view content_type,
                    const CallOptions& options = {}) const;

  // Writes to the session's own repo (com.atproto.repo.*). `validate` unset
  // lets the PDS validate records whose lexicon it knows.
  WriteResult create_record(std::string_view collection, const Value& record,
                            std::string_view rkey = {},
                            std::optional<bool> validate = std::nullopt) const;
  // `swap_record`: fail with "InvalidSwap" unless the record is currently
  // this CID (compare-and-swap).
  WriteResult put_record(std::string_view collection, std::string_view rkey, const Value& record,
                         const std::optional<Cid>& swap_record = std::nullopt,
                         std::optional<bool> validate = std::nullopt) const;
  void delete_record(std::string_view collection, std::string_view rkey,
                     const std::optional<Cid>& swap_record = std::nullopt) const;
  // The whole response: {"commit": {"cid", "rev"}, "results": [...]}.
  Value apply_writes(const std::vector<WriteOp>& writes,
                     std::optional<bool> validate = std::nullopt,
                     const std::optional<Cid>& swap_commit = std::nullopt) const;
  // The blob reference to put in a record:
  // {"$type": "blob", "ref": {"$link": cid}, "mimeType": ..., "size": n}.
  Value upload_blob(BytesView data, std::string_view mime_type) const;

  // Reads. `repo` is a DID or handle; empty means the session's own repo.
  // nullopt when the PDS answers RecordNotFound.
  std::optional<Record> get_record(std::string_view repo, std::string_view collection,
                                   std::string_view rkey) const;
  RecordPage list_records(std::string_view repo, std::string_view collection,
                          const ListRecordsOptions& options = {}) const;
  Value describe_repo(std::string_view repo = {}) const;
  // com.atproto.sync.getRecord: a CAR with the record and its proof
  // (verify it with the repo layer). `did` empty: the session's own.
  Bytes sync_get_record(std::string_view did, std::string_view collection,
                        std::string_view rkey) const;

  // com.atproto.server.getServiceAuth: a JWT for calling `aud` (a service
  // DID, optionally "#service_id") on this user's behalf, bound to `lxm`
  // when given; `exp` in unix seconds (the PDS's default, 60 s, if unset).
  std::string get_service_auth(std::string_view aud, std::string_view lxm = {},
                               std::optional<std::int64_t> exp = std::nullopt) const;

 private:
  struct Impl;
  explicit PdsSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::xrpc

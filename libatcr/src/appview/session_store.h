// Internal: what the AppView keeps in SQLite (data_dir/appview.sqlite):
//  - users' PDS sessions (from app-password logins at /auth/token), so
//    pushes can write records and mint hold service tokens after a
//    restart; refreshed tokens are saved as the PDS rotates them;
//  - the repositories pushed through this AppView, with the hold their
//    latest manifest named (the catalog, and the pull-side hold lookup);
//  - blob upload sessions in progress (the bytes of the part being filled
//    are in a spill file next to it, or, in a shared database, in its
//    upload_spill table), so a push resumes after a restart, and on another
//    instance when several share a PostgreSQL database.
// The database: data_dir/appview.sqlite, or the one database.url names.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "appview/blob_upload.h"
#include "atcr/net/http_client.h"
#include "atcr/xrpc/session.h"
#include "atcr/db/database.h"

namespace atcr::appview {

// One upload session as saved (see UploadState).
struct SavedUpload {
  std::string uuid;
  std::string name;  // the Target's name
  std::string did;
  std::string hold_did;
  std::string hold_url;
  std::string hold_upload_id;
  std::uint64_t part_size = 0;
  std::uint64_t offset = 0;
  std::vector<UploadedPartInfo> parts;
  std::int64_t updated_at = 0;  // unix seconds
  std::uint64_t stream_min = 0;  // BlobUpload::stream_min(); 0: part_size
};

class SessionStore {
 public:
  SessionStore(const std::string& db_path, std::shared_ptr<const net::HttpClient> http);
  SessionStore(std::shared_ptr<db::Database> database, std::shared_ptr<const net::HttpClient> http);

  // Whether other instances share the database (uploads are then read from
  // it at every request, their spills kept in it).
  bool shared() const { return db_->shared(); }
  // The part being filled of upload `uuid`, kept in the database.
  std::unique_ptr<Spill> spill(const std::string& uuid);

  // Keeps a fresh login (replacing any older session of the DID).
  std::shared_ptr<xrpc::PdsSession> adopt(xrpc::PdsSession session, const std::string& pds_url);
  // The DID's session (from memory, else resumed from the database);
  // nullptr if the user never logged in here.
  std::shared_ptr<xrpc::PdsSession> get(const std::string& did);
  // Forgets a session whose refresh token no longer works.
  void drop(const std::string& did);
  // drop(), unless the DID's live session is no longer `session`.
  void drop_if_current(const std::string& did, const xrpc::PdsSession* session);

  void add_repository(const std::string& name, const std::string& did, const std::string& repository,
                      const std::string& hold_did);
  void remove_repository(const std::string& name);
  std::vector<std::string> repositories();
  std::optional<std::string> repository_hold(const std::string& did, const std::string& repository);

  // Upload sessions: saved (insert or update, stamped now), loaded, deleted.
  void save_upload(const SavedUpload& up);
  std::optional<SavedUpload> load_upload(const std::string& uuid);
  void delete_upload(const std::string& uuid);
  // Sessions in progress: of `did`, or of everyone with did empty.
  std::size_t count_uploads(const std::string& did);
  // The sessions last saved before `cutoff` (unix seconds).
  std::vector<SavedUpload> uploads_saved_before(std::int64_t cutoff);

 private:
  void save(const xrpc::SessionTokens& tokens, const std::string& pds_url);
  std::shared_ptr<xrpc::PdsSession> install(xrpc::PdsSession session, const std::string& pds_url);

  std::shared_ptr<const net::HttpClient> http_;
  std::shared_ptr<db::Database> db_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<xrpc::PdsSession>> live_;
};

}  // namespace atcr::appview

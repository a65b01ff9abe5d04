// Verified blob uploads: the state machine behind the hold's
// io.atcr.hold.{initiateUpload, getPartUploadUrl, uploadPart,
// completeUpload, abortUpload}.
//
// An upload is assembled at upload_key(id) with the store's multipart
// upload, then hashed, and only if it matches the digest the client
// claims is it moved to blob_key(digest). So nothing unverified is ever
// visible at a blob key, and a blob key's content always hashes to its
// digest. Sessions are kept in SQLite (WAL) and survive a restart.
//
// An upload id is bound to the DID that started it: any other DID gets
// InvalidUploadId, exactly as for an unknown id, so ids cannot be probed.
// Uploads is thread-safe; storage I/O runs outside its lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/error.h"
#include "atcr/oci/digest.h"
#include "atcr/storage/blob_store.h"

namespace atcr::storage {

class UploadError : public Error {
 public:
  // One per XRPC error name of the io.atcr.hold upload lexicons.
  enum class Kind {
    InvalidUploadId,   // unknown, finished, expired, or another DID's
    InvalidDigest,     // malformed, unsupported, or the content does not match
    InvalidPartNumber, // not in 1..10000, or listed twice
    MissingParts,      // no parts, or a listed part was never uploaded / wrong ETag
    CompletionFailed,  // the backend failed to assemble or move the blob
    AbortFailed,       // the backend failed to discard the upload
    PartTooLarge,      // a proxied part over Options::max_part_bytes
  };
  UploadError(Kind kind, const std::string& message) : Error(message), kind_(kind) {}
  Kind kind() const { return kind_; }
  // The XRPC error name: "InvalidUploadId", ...
  std::string_view error_name() const { return name(kind_); }
  static std::string_view name(Kind kind);

 private:
  Kind kind_;
};

struct UploadOptions {
  std::chrono::seconds presign_expiry{15 * 60};
  std::uint64_t max_part_bytes = 5ULL << 30;
};

struct CompletedBlob {
  oci::Digest digest;
  std::uint64_t size = 0;
};

class Uploads {
 public:
  // `db_path`: the SQLite file (created if needed). The store must outlive
  // this object. Throws StorageError if the database cannot be opened.
  Uploads(BlobStore& store, const std::filesystem::path& db_path, UploadOptions options = {});
  ~Uploads();
  Uploads(const Uploads&) = delete;
  Uploads& operator=(const Uploads&) = delete;

  // Starts an upload; returns its id (24 url-safe characters, 144 random
  // bits). `digest_hint` is what the client announced (may be empty; it
  // is checked for syntax only: the real digest comes with complete()).
  std::string initiate(std::string_view owner_did, std::string_view digest_hint = {});

  // Where the client should PUT part `part_number`; nullopt: send it
  // through the server, which calls write_part().
  std::optional<PartTarget> part_target(std::string_view upload_id, std::string_view owner_did, int part_number);

  // Stores a part sent through the server; returns its ETag.
  std::string write_part(std::string_view upload_id, std::string_view owner_did, int part_number,
                         const Reader& read, std::optional<std::uint64_t> size = {});

  // Assembles, verifies and publishes the blob. On a digest mismatch every
  // trace of the upload is deleted and InvalidDigest thrown. If the blob is
  // already there (another upload won), the upload is discarded and this
  // succeeds. On MissingParts / InvalidPartNumber the upload stays open, so
  // the client may send the missing parts and complete again.
  CompletedBlob complete(std::string_view upload_id, std::string_view owner_did, std::string_view digest,
                         const std::vector<UploadedPart>& parts);

  void abort(std::string_view upload_id, std::string_view owner_did);

  // Aborts sessions older than `max_age`, deletes data under "_uploads/"
  // that belongs to no session (left by a crash) once it is older than
  // `max_age` too (a bucket shared with another hold holds its uploads in
  // progress there), and the store's scratch files as old
  // (BlobStore::sweep_scratch), and backend multipart uploads under
  // "_uploads/" that no session knows (BlobStore::pending_uploads) once
  // initiated longer than `max_age` ago. Returns how many sessions, stray
  // objects, multipart uploads and scratch files it removed.
  std::size_t expire(std::chrono::seconds max_age);

  // The digests clients announced for the sessions still open (their
  // initiate() hints): what uploads in flight will publish.
  std::vector<std::string> announced_digests() const;

  // Open sessions (for stats and tests).
  std::size_t count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::storage

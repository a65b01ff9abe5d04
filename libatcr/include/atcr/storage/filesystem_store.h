// A BlobStore on a local directory.
//
// A key maps to the path root/<key>. Keys that could escape the root or
// alias another key are refused (InvalidKey): absolute, empty segments,
// "." / ".." or any segment starting with '.', NUL, backslash, control
// characters; and the resolved path must stay under the canonical root
// (no symlink escapes).
//
// Writes go to a temp file under root/.tmp, are fsynced and renamed into
// place, so a reader sees a whole object or none. Multipart parts live in
// root/_uploads/<upload id>/<n>.<etag> (the ETag is the first 32 hex digits
// of the part's SHA-256, kept in the name so finish() can check it without
// rereading); finish() concatenates them in order, hashing as it goes.
// Every object's bytes are fsynced before it gets its name. The name is
// synced (its directory fsynced) by write() and move(); a part's and
// finish()'s are not: they are scratch that Uploads moves into place (a
// crash may lose them, which fails that upload, never a stored blob).
// With NameSync::kDeferred, move() returns once the object has its name
// (its bytes already synced) and a background thread fsyncs the directory
// right after, so the caller's next request overlaps that sync;
// sync_names() waits for it. Until then an OS crash or power loss may lose
// the name (the object is then missing, never wrong or partial): the hold
// calls sync_names() before a manifest that needs the blob is committed.
// Files are created 0644 and directories 0755, less the umask.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "atcr/storage/blob_store.h"

namespace atcr::storage {

class FilesystemStore : public BlobStore {
 public:
  // Creates the root if needed; removes temp files older than an hour
  // that a crash left in root/.tmp. Throws BackendError.
  // When move() makes the new name durable (see above).
  enum class NameSync { kInline, kDeferred };
  explicit FilesystemStore(std::filesystem::path root, NameSync name_sync = NameSync::kInline);
  ~FilesystemStore() override;

  const std::filesystem::path& root() const { return root_; }

  std::optional<ObjectStat> stat(std::string_view key) const override;
  ObjectStat read(std::string_view key, std::optional<ByteRange> range, const Sink& sink) const override;
  void write(std::string_view key, std::uint64_t size, const Reader& read) override;
  void remove(std::string_view key) override;
  void move(std::string_view from, std::string_view to) override;
  ListPage list(std::string_view prefix, std::string_view continuation = {}, int max_keys = 1000) const override;

  std::string begin(std::string_view key) override;
  std::string write_part(std::string_view key, std::string_view upload_id, int part_number,
                         std::optional<std::uint64_t> size, const Reader& read) override;
  FinishResult finish(std::string_view key, std::string_view upload_id,
                      const std::vector<UploadedPart>& parts) override;
  void abort(std::string_view key, std::string_view upload_id) override;

  std::optional<std::filesystem::path> local_path(std::string_view key) const override;
  // Parts are files of their own, concatenated by finish(): any size.
  std::uint64_t min_part_size() const override { return 1; }
  // Partial temp files under root/.tmp (a part or blob write that never
  // finished).
  std::size_t sweep_scratch(std::chrono::seconds max_age) override;
  // Waits until the directories of every move() before it are fsynced
  // (kDeferred); BackendError naming the first that failed since the last
  // call.
  void sync_names() override;

 private:
  // The path of a key (validated: throws StorageError on a bad key).
  std::filesystem::path path_of(std::string_view key) const;
  std::filesystem::path parts_dir(std::string_view upload_id) const;
  FinishResult finish_single(const std::filesystem::path& dest, const std::filesystem::path& dir,
                             const UploadedPart& part);
  std::filesystem::path root_;
  class DirSyncer;
  std::unique_ptr<DirSyncer> dir_syncer_;  // kDeferred only
};

}  // namespace atcr::storage

// A BlobStore on an S3-compatible bucket, over s3::S3Client.
//
// With `presign` on (the default) clients get presigned URLs for blob reads
// and part uploads and talk to the bucket directly; off ("proxy mode", for
// buckets the clients cannot reach) every presign_* answers nullopt and the
// bytes go through the server.
//
// S3 errors become storage errors: 404 NotFound, 416 RangeError, InvalidPart
// and InvalidPartOrder InvalidPart, anything else BackendError with the S3
// message.
#pragma once

#include <chrono>
#include <memory>

#include "atcr/s3/client.h"
#include "atcr/storage/blob_store.h"

namespace atcr::storage {

struct S3StoreOptions {
  bool presign = true;
  // Every key lives under this prefix in the bucket ("" or ending in '/'),
  // like Distribution's rootdirectory, so a bucket can be shared.
  std::string root;
  // A part whose size the caller does not know is spooled to a temp file
  // first (S3 needs a Content-Length); this bounds it.
  std::uint64_t max_unsized_part = 5ULL << 30;
};

class S3Store : public BlobStore {
 public:
  explicit S3Store(s3::S3Config config, S3StoreOptions options = {});
  // Shares an existing client.
  S3Store(std::shared_ptr<const s3::S3Client> client, S3StoreOptions options = {});

  const s3::S3Client& client() const { return *client_; }
  const S3StoreOptions& options() const { return options_; }

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

  std::vector<PendingUpload> pending_uploads(std::string_view prefix) const override;

  std::optional<std::string> presign_get(std::string_view key, std::chrono::seconds expires) const override;
  std::optional<std::string> presign_head(std::string_view key, std::chrono::seconds expires) const override;
  std::optional<PartTarget> presign_part(std::string_view key, std::string_view upload_id, int part_number,
                                         std::chrono::seconds expires) const override;

 private:
  // The bucket key of a store key (validated).
  std::string full(std::string_view key, std::string_view what = "key") const;

  std::shared_ptr<const s3::S3Client> client_;
  S3StoreOptions options_;
};

}  // namespace atcr::storage

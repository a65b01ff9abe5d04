// Where blobs live in a BlobStore, and digest-addressed access to them.
//
// The layout is Docker Distribution's, so a bucket an existing registry or
// an older hold filled stays readable:
//   docker/registry/v2/blobs/<alg>/<first 2 hex>/<hex>/data
// Uploads in progress live under "_uploads/", away from every blob key, so
// nothing partial is ever visible at a blob key.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/oci/digest.h"
#include "atcr/storage/blob_store.h"

namespace atcr::storage {

inline constexpr std::string_view kUploadsPrefix = "_uploads/";
// Every blob key starts with it (and ends with "/data").
inline constexpr std::string_view kBlobsPrefix = "docker/registry/v2/blobs/";

std::string blob_key(const oci::Digest& digest);
// The digest whose blob_key() `key` is; nullopt for any other key.
std::optional<oci::Digest> digest_of_blob_key(std::string_view key);
// "_uploads/<upload id>": where an upload is assembled before verification.
std::string upload_key(std::string_view upload_id);

// A BlobStore seen through digests. Does not own the store.
class Blobs {
 public:
  explicit Blobs(BlobStore& store, std::chrono::seconds presign_expiry = std::chrono::minutes(15))
      : store_(store), expiry_(presign_expiry) {}

  std::optional<ObjectStat> stat(const oci::Digest& digest) const { return store_.stat(blob_key(digest)); }
  ObjectStat read(const oci::Digest& digest, std::optional<ByteRange> range, const Sink& sink) const {
    return store_.read(blob_key(digest), range, sink);
  }
  std::optional<std::string> presign_get(const oci::Digest& digest) const {
    return store_.presign_get(blob_key(digest), expiry_);
  }
  std::optional<std::string> presign_head(const oci::Digest& digest) const {
    return store_.presign_head(blob_key(digest), expiry_);
  }
  std::optional<std::filesystem::path> local_path(const oci::Digest& digest) const {
    return store_.local_path(blob_key(digest));
  }
  void remove(const oci::Digest& digest) { store_.remove(blob_key(digest)); }

  BlobStore& store() const { return store_; }

 private:
  BlobStore& store_;
  std::chrono::seconds expiry_;
};

}  // namespace atcr::storage

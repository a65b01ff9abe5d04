#include "atcr/storage/blob_store.h"

#include <fmt/format.h>

#include "atcr/storage/blob_key.h"

namespace atcr::storage {

// Defaults for drivers that cannot hand out URLs or files.
std::optional<std::string> BlobStore::presign_get(std::string_view, std::chrono::seconds) const { return {}; }
std::optional<std::string> BlobStore::presign_head(std::string_view, std::chrono::seconds) const { return {}; }
std::optional<PartTarget> BlobStore::presign_part(std::string_view, std::string_view, int,
                                                  std::chrono::seconds) const {
  return {};
}
std::optional<std::filesystem::path> BlobStore::local_path(std::string_view) const { return {}; }
std::size_t BlobStore::sweep_scratch(std::chrono::seconds) { return 0; }

std::string blob_key(const oci::Digest& digest) {
  // A Digest is validated lowercase hex of a fixed length, so it is safe
  // in a path as is.
  std::string_view hex = digest.hex();
  return fmt::format("{}{}/{}/{}/data", kBlobsPrefix, digest.algorithm(), hex.substr(0, 2), hex);
}

std::string upload_key(std::string_view upload_id) { return std::string(kUploadsPrefix) + std::string(upload_id); }

}  // namespace atcr::storage

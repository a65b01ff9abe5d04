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
std::uint64_t BlobStore::min_part_size() const { return std::uint64_t{5} << 20; }
std::size_t BlobStore::sweep_scratch(std::chrono::seconds) { return 0; }
std::vector<PendingUpload> BlobStore::pending_uploads(std::string_view) const { return {}; }
void BlobStore::sync_names() {}

std::string blob_key(const oci::Digest& digest) {
  // A Digest is validated lowercase hex of a fixed length, so it is safe
  // in a path as is.
  std::string_view hex = digest.hex();
  return fmt::format("{}{}/{}/{}/data", kBlobsPrefix, digest.algorithm(), hex.substr(0, 2), hex);
}

std::optional<oci::Digest> digest_of_blob_key(std::string_view key) {
  // <prefix><algorithm>/<2 hex>/<hex>/data
  if (!key.starts_with(kBlobsPrefix) || !key.ends_with("/data")) return std::nullopt;
  std::string_view rest = key.substr(kBlobsPrefix.size(), key.size() - kBlobsPrefix.size() - 5);
  std::size_t a = rest.find('/'), b = a == std::string_view::npos ? a : rest.find('/', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  std::string text = fmt::format("{}:{}", rest.substr(0, a), rest.substr(b + 1));
  if (!oci::Digest::valid(text)) return std::nullopt;
  oci::Digest digest = oci::Digest::parse(text);
  if (blob_key(digest) != key) return std::nullopt;
  return digest;
}

std::string upload_key(std::string_view upload_id) { return std::string(kUploadsPrefix) + std::string(upload_id); }

}  // namespace atcr::storage

#include "atcr/oci/media_types.h"

namespace atcr::oci::media_type {

namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// restricted-name = restricted-name-first *126restricted-name-chars
bool restricted_name(std::string_view s) {
  if (s.empty() || s.size() > 127 || !alnum(s[0])) return false;
  for (char c : s.substr(1)) {
    bool ok = alnum(c) || c == '!' || c == '#' || c == '$' || c == '&' || c == '-' || c == '^' ||
              c == '_' || c == '.' || c == '+';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool is_manifest_media_type(std::string_view type) noexcept {
  return type == kImageManifest || type == kDockerManifest;
}

bool is_index_media_type(std::string_view type) noexcept {
  return type == kImageIndex || type == kDockerManifestList;
}

bool is_foreign_layer_media_type(std::string_view type) noexcept {
  return type == kDockerForeignLayer || type == kImageLayerNondistributable ||
         type == kImageLayerNondistributableGzip || type == kImageLayerNondistributableZstd;
}

bool is_valid_media_type(std::string_view type) noexcept {
  auto slash = type.find('/');
  if (slash == std::string_view::npos) return false;
  return restricted_name(type.substr(0, slash)) && restricted_name(type.substr(slash + 1));
}

}  // namespace atcr::oci::media_type

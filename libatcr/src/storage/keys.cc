#include "storage/keys.h"

#include <fmt/format.h>

#include "atcr/storage/blob_store.h"

namespace atcr::storage::detail {

namespace {

constexpr std::size_t kMaxKey = 1024;

// Checks every character and every complete segment; `allow_open_end`
// lets the last segment be empty or partial (a prefix).
void check_segments(std::string_view key, std::string_view what, bool allow_open_end) {
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      throw InvalidKey(fmt::format("storage: {} has a control character", what));
    if (c == '\\') throw InvalidKey(fmt::format("storage: {} '{}' has a backslash", what, key));
  }
  if (!key.empty() && key.front() == '/') throw InvalidKey(fmt::format("storage: {} '{}' is absolute", what, key));
  std::size_t start = 0;
  while (start <= key.size()) {
    std::size_t end = key.find('/', start);
    bool last = end == std::string_view::npos;
    if (last) end = key.size();
    std::string_view segment = key.substr(start, end - start);
    if (segment.empty() && !(last && allow_open_end))
      throw InvalidKey(fmt::format("storage: {} '{}' has an empty path segment", what, key));
    // Refusing every leading dot covers "." and ".." and keeps the
    // filesystem driver's own ".tmp" out of reach of any key.
    if (!segment.empty() && segment.front() == '.')
      throw InvalidKey(fmt::format("storage: {} '{}' has a path segment starting with '.'", what, key));
    start = end + 1;
  }
}

}  // namespace

void check_key(std::string_view key, std::string_view what) {
  if (key.empty()) throw InvalidKey(fmt::format("storage: empty {}", what));
  if (key.size() > kMaxKey)
    throw InvalidKey(fmt::format("storage: {} of {} bytes (the limit is {})", what, key.size(), kMaxKey));
  check_segments(key, what, false);
}

void check_prefix(std::string_view prefix) {
  if (prefix.size() > kMaxKey) throw InvalidKey(fmt::format("storage: list prefix of {} bytes", prefix.size()));
  check_segments(prefix, "list prefix", true);
}

std::string_view unquote(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') return etag.substr(1, etag.size() - 2);
  return etag;
}

}  // namespace atcr::storage::detail

// Pagination of the list endpoints (/v2/<name>/tags/list, /v2/_catalog):
// the distribution-spec's `n` and `last` query parameters and the Link
// header that points at the next page.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atcr::appview {

// The largest page a client may ask for; bigger `n` are clamped to it.
inline constexpr std::size_t kMaxPageSize = 10000;

struct Page {
  std::vector<std::string> items;
  bool more = false;  // items after the last one returned remain
};

// `n` as given in the query: nullopt when absent; throws
// oci::RegistryError(PAGINATION_NUMBER_INVALID) when not a non-negative
// integer. Values over kMaxPageSize are clamped.
std::optional<std::size_t> parse_page_size(const std::optional<std::string>& n);

// Sorts `items` lexically, drops duplicates, and returns at most `n` of
// those strictly after `last` ("" = from the start). No `n`: all of them.
Page paginate(std::vector<std::string> items, std::optional<std::size_t> n, std::string_view last);

// `<path?n=<n>&last=<last>>; rel="next"` (last percent-encoded).
std::string next_link(std::string_view path, std::size_t n, std::string_view last);

}  // namespace atcr::appview

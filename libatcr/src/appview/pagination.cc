#include "appview/pagination.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>

#include "atcr/net/http_client.h"
#include "atcr/oci/errors.h"

namespace atcr::appview {

std::optional<std::size_t> parse_page_size(const std::optional<std::string>& n) {
  if (!n) return std::nullopt;
  std::uint64_t v = 0;
  const std::string& s = *n;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec == std::errc::invalid_argument || end != s.data() + s.size())
    throw oci::RegistryError(oci::ErrorCode::kPaginationNumberInvalid,
                             fmt::format("n must be a non-negative integer, not '{}'", s.substr(0, 32)));
  if (ec == std::errc::result_out_of_range || v > kMaxPageSize) return kMaxPageSize;
  return static_cast<std::size_t>(v);
}

Page paginate(std::vector<std::string> items, std::optional<std::size_t> n, std::string_view last) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  auto begin = last.empty() ? items.begin() : std::upper_bound(items.begin(), items.end(), last);
  std::size_t available = static_cast<std::size_t>(items.end() - begin);
  std::size_t take = n ? std::min(*n, available) : available;
  Page page;
  page.items.assign(begin, begin + static_cast<std::ptrdiff_t>(take));
  page.more = take < available;
  return page;
}

std::string next_link(std::string_view path, std::size_t n, std::string_view last) {
  return fmt::format("<{}?n={}&last={}>; rel=\"next\"", path, n, net::url_encode(last));
}

}  // namespace atcr::appview

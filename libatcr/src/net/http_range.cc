#include "atcr/net/http_range.h"
#include "util/text.h"

#include <fmt/core.h>

#include <charconv>

namespace atcr::net {

namespace {

// All-digit text as a number; nullopt for anything else, including "".
std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

HttpRange unsatisfiable(std::uint64_t total) { return HttpRange{false, 0, 0, total}; }

}  // namespace

std::string HttpRange::content_range() const {
  if (!satisfiable) return fmt::format("bytes */{}", total);
  return fmt::format("bytes {}-{}/{}", offset, offset + length - 1, total);
}

std::optional<HttpRange> parse_range(std::string_view header, std::uint64_t total) {
  header = util::trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size()) return std::nullopt;
  for (std::size_t i = 0; i < kUnit.size(); ++i)
    if ((header[i] | 0x20) != kUnit[i] && header[i] != kUnit[i]) return std::nullopt;
  std::string_view spec = util::trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return std::nullopt;  // several ranges: send it all
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = util::trim(spec.substr(0, dash));
  auto last = util::trim(spec.substr(dash + 1));

  if (first.empty()) {  // suffix: the last N bytes
    auto n = number(last);
    if (!n) return std::nullopt;
    if (*n == 0 || total == 0) return unsatisfiable(total);
    std::uint64_t len = std::min(*n, total);
    return HttpRange{true, total - len, len, total};
  }
  auto start = number(first);
  if (!start) return std::nullopt;
  std::optional<std::uint64_t> end;
  if (!last.empty()) {
    end = number(last);
    if (!end || *end < *start) return std::nullopt;
  }
  if (*start >= total) return unsatisfiable(total);
  std::uint64_t stop = end ? std::min(*end, total - 1) : total - 1;
  return HttpRange{true, *start, stop - *start + 1, total};
}

}  // namespace atcr::net

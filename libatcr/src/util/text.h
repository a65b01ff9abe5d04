// Internal: the small text helpers every layer needs, written once.
// ASCII only (protocol text: header names, handles, hostnames, config
// values), never locale-dependent.
#pragma once

#include <string>
#include <string_view>

namespace atcr::util {

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `s` with A-Z mapped to a-z; every other byte unchanged.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// Equal ignoring ASCII case.
constexpr bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// Whitespace as protocols and config files mean it.
inline constexpr std::string_view kWhitespace = " \t\r\n\f\v";

// `s` without leading and trailing characters from `chars` (whitespace by
// default; HTTP's optional whitespace is " \t").
constexpr std::string_view trim(std::string_view s, std::string_view chars = kWhitespace) {
  auto first = s.find_first_not_of(chars);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(chars) - first + 1);
}

// A base URL or path without its trailing slashes ("https://pds.example/"
// -> "https://pds.example"), so "/xrpc/..." can be appended.
constexpr std::string_view strip_trailing_slashes(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

// Whether `text` is well-formed UTF-8: shortest forms, no surrogates,
// nothing past U+10FFFF (what atproto text and PostgreSQL's text accept).
bool is_valid_utf8(std::string_view text);

}  // namespace atcr::util

// HTTP Range requests (RFC 9110 §14) for one range of a resource whose
// size is known: "bytes=0-499", "bytes=500-", "bytes=-500".
//
// Servers that answer blob downloads use it the same way:
//   auto r = net::parse_range(req.header("range"), size);
//   if (!r)                   -> 200, the whole body
//   else if (!r->satisfiable) -> 416, Content-Range: bytes */<size>
//   else                      -> 206, Content-Range: r->content_range()
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace atcr::net {

struct HttpRange {
  bool satisfiable = true;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t total = 0;

  // "bytes 0-499/1234", or "bytes */1234" when unsatisfiable.
  std::string content_range() const;
};

// nullopt: no Range header, or one this server may ignore (a unit other
// than bytes, several ranges, or malformed syntax: RFC 9110 lets a server
// answer those with the whole resource). A well-formed single range that
// starts past the end is unsatisfiable.
std::optional<HttpRange> parse_range(std::string_view header, std::uint64_t total);

}  // namespace atcr::net

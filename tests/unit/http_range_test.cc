#include "atcr/net/http_range.h"

#include <doctest/doctest.h>

using atcr::net::parse_range;

namespace {

// "offset+length" for a satisfiable range, "416" otherwise, "all" for none.
std::string outcome(std::string_view header, std::uint64_t total) {
  auto r = parse_range(header, total);
  if (!r) return "all";
  if (!r->satisfiable) return "416";
  return std::to_string(r->offset) + "+" + std::to_string(r->length);
}

}  // namespace

TEST_CASE("http range: single byte ranges") {
  CHECK(outcome("bytes=0-499", 1000) == "0+500");
  CHECK(outcome("bytes=500-", 1000) == "500+500");
  CHECK(outcome("bytes=-200", 1000) == "800+200");
  CHECK(outcome("bytes=-2000", 1000) == "0+1000");
  CHECK(outcome("bytes=900-5000", 1000) == "900+100");  // clipped to the end
  CHECK(outcome("bytes=999-999", 1000) == "999+1");
  CHECK(outcome("Bytes=10-19 ", 1000) == "10+10");
}

TEST_CASE("http range: unsatisfiable and ignorable ranges") {
  CHECK(outcome("bytes=1000-", 1000) == "416");
  CHECK(outcome("bytes=-0", 1000) == "416");
  CHECK(outcome("bytes=0-", 0) == "416");
  CHECK(outcome("", 1000) == "all");
  CHECK(outcome("items=0-1", 1000) == "all");
  CHECK(outcome("bytes=0-1,5-6", 1000) == "all");
  CHECK(outcome("bytes=5-1", 1000) == "all");
  CHECK(outcome("bytes=a-b", 1000) == "all");
  CHECK(outcome("bytes=-", 1000) == "all");
  CHECK(outcome("bytes=18446744073709551616-", 1000) == "all");  // overflow
}

TEST_CASE("http range: Content-Range") {
  CHECK(parse_range("bytes=0-499", 1234)->content_range() == "bytes 0-499/1234");
  CHECK(parse_range("bytes=2000-", 1234)->content_range() == "bytes */1234");
}

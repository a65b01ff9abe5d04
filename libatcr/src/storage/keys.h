// Internal: the key rules both drivers share, so a key valid on the
// filesystem is valid on S3 and the other way round.
#pragma once

#include <string_view>

namespace atcr::storage::detail {

// Throws InvalidKey unless `key` is 1..1024 bytes of '/'-separated
// non-empty segments, none starting with '.', with no NUL, backslash or
// other control characters. `what` names the argument in the message.
void check_key(std::string_view key, std::string_view what = "key");

// The same rules for a list() prefix, which may be empty or end in '/'
// or part of a segment.
void check_prefix(std::string_view prefix);

// ETags travel quoted in HTTP headers and S3's XML; we keep them bare.
std::string_view unquote(std::string_view etag);

}  // namespace atcr::storage::detail

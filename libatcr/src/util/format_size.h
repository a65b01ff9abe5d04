// Internal: byte counts for people ("5.0 GB"), in decimal units as
// registries and io.atcr.hold.listTiers' quotaFormatted show them.
#pragma once

#include <cstdint>
#include <string>

namespace atcr::util {

// "999 B", "1.5 MB", "5.0 GB".
std::string format_size(std::uint64_t bytes);

}  // namespace atcr::util

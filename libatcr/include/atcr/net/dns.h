// DNS TXT lookups (for atproto handle resolution), via the system resolver.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/error.h"

namespace atcr::net {

class DnsError : public Error {
 public:
  using Error::Error;
};

// The TXT strings at `name` (each record's character-strings concatenated).
// An empty vector when the name or its TXT records do not exist (NXDOMAIN,
// NODATA); DnsError when the lookup itself fails (timeout, SERVFAIL).
std::vector<std::string> lookup_txt(std::string_view name,
                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

}  // namespace atcr::net

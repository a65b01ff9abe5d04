// DNS TXT lookups (for atproto handle resolution), via the system resolver.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/error.h"

namespace atcr::net {

class DnsError : public Error {
 public:
  using Error::Error;
};

// The TXT strings at `name` (each record's character-strings concatenated).
// An empty vector when the name or its TXT records do not exist (NXDOMAIN,
// NODATA); DnsError when the lookup itself fails (timeout, SERVFAIL), naming
// the name and the reason. ParseError, before any query, when `name` is not
// a hostname: over 253 characters, an empty or over-63-character label, or
// a character other than letters, digits, '-' and '_' (one trailing dot is
// allowed). The resolver counts in whole seconds: `timeout` is shared among
// the configured nameservers, but each gets at least one second.
std::vector<std::string> lookup_txt(std::string_view name,
                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

// The TXT strings for `name` in a DNS response (RFC 1035 wire format): the
// class IN TXT records of the answer section owned by `name`, or by the name
// its CNAME records there lead to. Empty for NXDOMAIN or no such records.
// DnsError for another response code, a truncated (TC) response, one that
// answers a different question, or malformed bytes. lookup_txt applies it to
// the system resolver's answer; it also suits DNS-over-HTTPS answers.
std::vector<std::string> parse_txt_response(BytesView message, std::string_view name);

}  // namespace atcr::net

// Handle -> DID resolution: DNS TXT "_atproto.<handle>" ("did=<did>"),
// then HTTPS GET https://<handle>/.well-known/atproto-did, then optionally
// a configured com.atproto.identity.resolveHandle service.
//
// The methods run one after another and the first DID found wins, so DNS
// is preferred when DNS and HTTPS disagree (as the spec asks) without
// waiting for HTTPS. The answer is only what the handle claims: confirm it
// against the DID document (Resolver::resolve() does).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/net/http_client.h"

namespace atcr::identity {

inline constexpr std::size_t kMaxAtprotoDidBytes = 2048;  // /.well-known/atproto-did body
inline constexpr int kHandleMaxRedirects = 3;

struct HandleOptions {
  // Development only: accept handles under ".test" (refused otherwise, as
  // atproto reserves it) and fetch their /.well-known/atproto-did over
  // plain http. Point them at loopback servers with the HTTP client's
  // HttpOptions::connect_to, e.g. "alice.test:80:127.0.0.1:2583".
  bool allow_test_handles = false;
  // Base URL of a service answering com.atproto.identity.resolveHandle
  // (e.g. a development PDS, "http://localhost:2583"), asked when DNS and
  // HTTPS find no DID. Empty: none. It is trusted to resolve honestly.
  std::string resolver_service;
  // TXT lookups; empty means net::lookup_txt. Tests substitute a fake.
  std::function<std::vector<std::string>(std::string_view name)> lookup_txt;
};

// Validates and lowercases `handle`, and applies the TLD policy. Throws
// ParseError for invalid syntax and ResolutionError for a handle that may
// not be resolved (.local, .onion, handle.invalid, ..., and .test unless
// allowed).
std::string normalize_resolvable_handle(std::string_view handle, const HandleOptions& options = {});

// The DID in the handle's TXT records, or nullopt when there is none.
// Throws ResolutionError when the records name two different DIDs and
// net::DnsError when the lookup fails (not for NXDOMAIN).
std::optional<std::string> resolve_handle_dns(std::string_view handle, const HandleOptions& options = {});

// The DID served at /.well-known/atproto-did (2xx, whitespace trimmed, a
// valid DID, at most kMaxAtprotoDidBytes, at most kHandleMaxRedirects
// redirects), or nullopt when the host answers anything else. Throws
// net::HttpError when there is no answer.
std::optional<std::string> resolve_handle_https(const net::HttpClient& http, std::string_view handle,
                                                const HandleOptions& options = {});

// The DID `handle` claims, by DNS, HTTPS, then the resolver service.
// Throws ParseError / ResolutionError as normalize_resolvable_handle(),
// ResolutionError when no method finds a DID (the message says what each
// one saw), net::DnsError when the DNS lookup failed and nothing else
// found a DID, net::HttpError when the resolver service cannot be reached.
std::string resolve_handle(const net::HttpClient& http, std::string_view handle, const HandleOptions& options = {});

}  // namespace atcr::identity

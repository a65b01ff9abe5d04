// The Resolver that talks to the network: did:plc through a PLC directory,
// did:web over HTTPS, handles by DNS TXT and HTTPS (handle.h), with a TTL
// cache in front of each.
//
// Caching: answers are kept for `ttl`; definite failures (ResolutionError,
// and ParseError for a malformed remote document) for `negative_ttl`;
// trouble reaching the other side (net::HttpError, net::DnsError,
// PlcError) for `unreachable_ttl` (default 0: not cached). Each cache holds at most `max_entries`,
// dropping the least recently used. `fresh` skips the cached answer and
// replaces it.
//
// Concurrency: all methods may be called from any number of threads.
// Concurrent lookups of the same key share one network request (single
// flight); a `fresh` lookup joins one already under way rather than
// starting another.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "atcr/identity/did_web.h"
#include "atcr/identity/handle.h"
#include "atcr/identity/plc_client.h"
#include "atcr/identity/resolver.h"
#include "atcr/net/http_client.h"

namespace atcr::identity {

struct ResolverOptions {
  std::string plc_directory = std::string(kDefaultPlcDirectory);
  HandleOptions handles;  // .test handles, resolver service, TXT lookup
  DidWebOptions did_web;  // plain http for did:web:localhost
  // Timeouts, connect_to and user agent for every request; body and
  // redirect caps are set per request and override these.
  net::HttpOptions http;

  std::chrono::milliseconds ttl = std::chrono::minutes(10);
  std::chrono::milliseconds negative_ttl = std::chrono::minutes(1);
  // A server that resolves DIDs named by unauthenticated requests (a
  // service token's iss) sets this, so a DID whose host hangs costs one
  // timeout per period, not one per request.
  std::chrono::milliseconds unreachable_ttl{0};
  std::size_t max_entries = 10000;  // per cache (DIDs, handles)
  // The cache's clock; tests substitute a manual one.
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
};

class DirectoryResolver : public Resolver {
 public:
  explicit DirectoryResolver(ResolverOptions options = {});
  ~DirectoryResolver() override;
  DirectoryResolver(const DirectoryResolver&) = delete;
  DirectoryResolver& operator=(const DirectoryResolver&) = delete;

  // did:plc and did:web; other methods are a ResolutionError. Throws
  // ParseError for a malformed DID or document.
  DidDocument resolve_did(std::string_view did, bool fresh = false) override;
  // As identity::resolve_handle(). Handles are case-insensitive:
  // "Alice.Example.COM" and "alice.example.com" share a cache entry.
  std::string resolve_handle(std::string_view handle, bool fresh = false) override;
  // A DID: its document, with `handle` set only if the document's handle
  // resolves back to the DID (any failure to confirm leaves it empty).
  // A handle: its DID's document, which must name the handle as its
  // primary handle (ResolutionError otherwise).
  Identity resolve(std::string_view handle_or_did, bool fresh = false) override;

  // Forgets what is cached for a DID or handle, e.g. after an #identity
  // event on the firehose.
  void invalidate(std::string_view handle_or_did);

  const PlcClient& plc() const;
  const net::HttpClient& http() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::identity

// did:web resolution as atproto allows it: hostname-level DIDs only
// ("did:web:example.com"), fetched from https://<host>/.well-known/did.json.
// did:web:localhost and did:web:127.0.0.1 (with a percent-encoded port,
// "did:web:localhost%3A8080") exist only in development mode: otherwise a
// token naming one could make a service fetch from its own loopback.
#pragma once

#include <string>
#include <string_view>

#include "atcr/identity/did_document.h"
#include "atcr/net/http_client.h"

namespace atcr::identity {

inline constexpr int kDidWebMaxRedirects = 3;

struct DidWebOptions {
  // Development only: resolve did:web:localhost[%3A<port>] (and 127.0.0.1)
  // documents, over plain http. Off, such DIDs are refused (ParseError)
  // without a request. Every other host is always fetched over https.
  bool allow_http_localhost = false;
};

// The URL of `did`'s document. Throws ParseError for anything atproto does
// not allow: another method, a path ("did:web:example.com:user:alice"), a
// port on a host other than localhost, a loopback host outside development, an invalid hostname or one under a
// disallowed TLD (.local, .onion, ...).
std::string did_web_url(std::string_view did, const DidWebOptions& options = {});

// Fetches and parses `did`'s document: at most kMaxDidDocumentBytes and
// kDidWebMaxRedirects redirects, within `http`'s timeouts; never redirected
// from https to http. Throws ParseError (bad DID or document),
// ResolutionError (a 4xx answer, or the document of another DID),
// net::HttpError (no answer, a 5xx answer, a body over the cap).
DidDocument resolve_did_web(const net::HttpClient& http, std::string_view did, const DidWebOptions& options = {});

}  // namespace atcr::identity

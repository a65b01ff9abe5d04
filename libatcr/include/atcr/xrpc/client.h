// XRPC client: calls /xrpc/<nsid> on one service (a PDS, a hold, an AppView)
// over net::HttpClient.
//
//   XrpcClient pds("https://pds.example.com");
//   Value repo = pds.query("com.atproto.repo.describeRepo", Params().add("repo", did));
//   Value out = pds.procedure("com.atproto.repo.createRecord", input, {}, {.bearer = access_jwt});
//
// Errors: a non-2xx response throws XrpcError with the status and the
// body's {"error", "message"}; a body that is not an XRPC error (an HTML
// page from a proxy, say) gives the status's conventional name and an
// excerpt of the body as the message. Transport failures (DNS, connect,
// timeouts, oversized responses) throw net::HttpError. An invalid NSID
// throws ParseError before anything is sent.
//
// Timeouts and size limits are the HttpClient's options, or per call
// CallOptions::http. A client is immutable once configured and may be used
// from many threads at once.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/value.h"
#include "atcr/net/http_client.h"
#include "atcr/xrpc/error.h"

namespace atcr::xrpc {

// Query parameters, in order. Array parameters repeat their key.
class Params {
 public:
  Params() = default;
  Params(std::initializer_list<std::pair<std::string, std::string>> items) : items_(items) {}

  Params& add(std::string_view key, std::string_view value);
  Params& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  Params& add(std::string_view key, bool value) { return add(key, value ? "true" : "false"); }
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Params& add(std::string_view key, T value) {
    return add(key, std::string_view(std::to_string(value)));
  }
  // One entry per element (an array parameter).
  Params& add(std::string_view key, const std::vector<std::string>& values);
  // Nothing when absent: optional lexicon parameters.
  template <class T>
  Params& add(std::string_view key, const std::optional<T>& value) {
    if (value) add(key, *value);
    return *this;
  }

  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  // "key=value&..." percent-encoded, without the leading '?'.
  std::string encode() const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct CallOptions {
  // Sent as "Authorization: Bearer <token>" (a session access token or a
  // service-auth JWT). Empty: the client's AuthProvider decides.
  // (The braces let callers write {.bearer = token} without -Wextra
  // warning about the members left out.)
  std::string bearer{};
  // Extra headers, e.g. {"atproto-proxy", "did:web:api.example#svc"}.
  net::Headers headers{};
  // Timeouts and limits for this call instead of the HttpClient's.
  std::optional<net::HttpOptions> http{};
};

struct XrpcResponse {
  int status = 0;
  net::Headers headers;  // names lowercased
  Bytes body;

  // The first header with this (case-insensitive) name, or "".
  std::string header(std::string_view name) const;
  // The bare media type, lowercased: "application/json".
  std::string content_type() const;
  // The body as atproto JSON; null for an empty body. Throws ParseError.
  Value json() const;
};

class XrpcClient {
 public:
  // Gives the bearer token for a call to `nsid`, or "" for none. Lets a
  // client mint or fetch a service-auth token per method (lxm = nsid).
  using AuthProvider = std::function<std::string(std::string_view nsid)>;

  // `service_url` is the service's origin, "https://host[:port]" (a trailing
  // '/' is dropped). Throws ParseError for anything else. Without an
  // HttpClient, the client makes its own with default options; share one to
  // share its connection pool.
  explicit XrpcClient(std::string service_url, std::shared_ptr<const net::HttpClient> http = nullptr);

  const std::string& service_url() const { return service_url_; }
  const net::HttpClient& http() const { return *http_; }

  // Consulted for calls whose CallOptions have no bearer. Set it before
  // sharing the client between threads.
  void set_auth(AuthProvider provider) { auth_ = std::move(provider); }

  // GET /xrpc/<nsid>: the JSON response (null if the body is empty).
  Value query(std::string_view nsid, const Params& params = {},
              const CallOptions& options = {}) const;
  // The same, for responses that are not JSON (CARs, blobs).
  XrpcResponse query_raw(std::string_view nsid, const Params& params = {},
                         const CallOptions& options = {}) const;

  // POST /xrpc/<nsid> with a JSON body (none if `input` is null): the JSON
  // response, null if the body is empty.
  Value procedure(std::string_view nsid, const Value& input, const Params& params = {},
                  const CallOptions& options = {}) const;
  // POST with a binary body (uploadBlob, ...).
  Value procedure(std::string_view nsid, BytesView body, std::string_view content_type,
                  const Params& params = {}, const CallOptions& options = {}) const;

  // Any HTTP method (HEAD for existence checks, PUT for ATCR's uploadPart);
  // a body needs a content type. Throws XrpcError on a non-2xx status.
  XrpcResponse call(std::string_view http_method, std::string_view nsid, const Params& params,
                    BytesView body, std::string_view content_type,
                    const CallOptions& options = {}) const;

  // "<service_url>/xrpc/<nsid>[?params]"; throws ParseError for a bad NSID.
  std::string url(std::string_view nsid, const Params& params = {}) const;

 private:
  std::string service_url_;
  std::shared_ptr<const net::HttpClient> http_;
  AuthProvider auth_;
};

// Every record of `collection` in `repo` (a DID) on the PDS `pds` talks
// to, page by page (com.atproto.repo.listRecords, 100 a page):
// visit(rkey, value) for each, until it returns false. Returns false when
// `max_pages` pages were read and the server offered more (the listing is
// incomplete), true otherwise. Throws what the client throws, and
// ParseError for a page without a records list.
bool for_each_listed_record(const XrpcClient& pds, std::string_view repo, std::string_view collection,
                            std::size_t max_pages,
                            const std::function<bool(const std::string& rkey, const Value& value)>& visit);

}  // namespace atcr::xrpc

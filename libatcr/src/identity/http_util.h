// HTTP helpers shared by the identity sources; not part of the public API.
#pragma once

#include <string>

#include "atcr/net/http_client.h"

namespace atcr::identity::detail {

// `http`'s own options (timeouts, connect_to, user agent) with a cap on the
// response body and on redirects for one request. Every identity fetch
// sets both: the other side is untrusted.
net::HttpOptions bounded(const net::HttpClient& http, std::size_t max_bytes, int max_redirects);

// What an error response says, for messages: "404: <message>" with the
// XRPC/PLC JSON "message" (and "error") when there is one, else the start
// of the body, printable ASCII only.
std::string describe(const net::HttpResponse& response);

}  // namespace atcr::identity::detail

// Internal: the URLs of firehose sources.
#pragma once

#include <string>
#include <string_view>

namespace atcr::index {

// "scheme://host[:port]" of a service URL, lowercased, ws->http and
// wss->https, default ports dropped, path dropped: what a PDS source and a
// DID document's PDS endpoint are compared by. "" for something else.
std::string origin_of(std::string_view url);

// The subscribeRepos WebSocket URL of a service: ws(s)://host[:port]
// /xrpc/com.atproto.sync.subscribeRepos (http->ws, https->wss).
std::string subscribe_url(std::string_view service_url);

}  // namespace atcr::index

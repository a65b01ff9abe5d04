// An XRPC subscription's WebSocket: accepts the upgrade on a connection
// and runs the subscription handler on the connection's thread.
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <string>

#include "atcr/xrpc/server.h"
#include "xrpc/stop_relay.h"
#include "xrpc/sync_stream.h"

namespace atcr::xrpc {

// Completes the handshake for `upgrade`, runs `handler` until it returns
// (or throws: the socket then closes with 1011 and `internal_error` says
// why), closes the socket and returns the status for the log: 101, or the
// error status Beast answered a bad handshake with. The connection is
// finished afterwards. `stop` reaches the session while it runs.
int serve_websocket(SyncStream& io, const ServerOptions& options, const SubscriptionOptions& subscription,
                    const beast::http::request<beast::http::empty_body>& upgrade,
                    const ServerRequest& request, const SocketHandler& handler, StopRelay& stop,
                    std::string& internal_error);

}  // namespace atcr::xrpc

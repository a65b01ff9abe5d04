// One accepted HTTP connection: the HTTP/1.1 request loop (keep-alive,
// limits, 100-continue, buffered and streamed request bodies, responses)
// and the hand-over to a WebSocket session on an upgrade. It runs on a
// thread of its own; see server.cc for the threading model.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <memory>

#include "atcr/xrpc/server.h"

namespace atcr::xrpc {

class Router;

// What every connection of one server shares; it outlives them all.
struct ServerContext {
  const ServerOptions& options;
  const Router& router;
  // Set once stop() begins: finish the request in flight, then close.
  const std::atomic<bool>& stopping;
};

// The largest request header (request line and fields) accepted; beyond it
// the answer is 431.
inline constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;

class HttpConnection {
 public:
  // `socket` belongs to `context`, which this connection alone runs.
  HttpConnection(const ServerContext& server, std::unique_ptr<boost::asio::io_context> context,
                 boost::asio::ip::tcp::socket socket);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Serves requests until the peer closes, a timeout or error, or a stop;
  // closes the socket before returning. On the connection's own thread.
  void serve();
  // From any thread: closes the connection if it is waiting for a request
  // (a request in flight finishes first, then the connection closes), and
  // makes a WebSocket session's closed() true.
  void request_stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::xrpc

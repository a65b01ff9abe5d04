// One connection's socket on an io_context of its own, driven by the
// connection's thread: each operation is started asynchronously and the
// io_context is run until it completes. That gives blocking code (handlers
// block, so the transport is thread-per-connection) what plain blocking
// sockets lack: a deadline per operation (beast::tcp_stream's timer), and a
// way for another thread to interrupt a wait (post a cancel to the
// io_context; see HttpConnection::request_stop).
//
// Internal to the xrpc layer; Beast stays out of public headers.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

namespace atcr::xrpc {

namespace asio = boost::asio;
namespace beast = boost::beast;
using error_code = boost::system::error_code;

class SyncStream {
 public:
  SyncStream(std::unique_ptr<asio::io_context> context, asio::ip::tcp::socket socket)
      : context_(std::move(context)), stream_(std::move(socket)) {}
  SyncStream(const SyncStream&) = delete;
  SyncStream& operator=(const SyncStream&) = delete;

  asio::io_context& context() { return *context_; }
  beast::tcp_stream& stream() { return stream_; }

  // Starts an operation with `initiate(handler)` and runs the io_context
  // until it completes, at most `timeout` (then the socket is closed and the
  // operation fails with beast::error::timeout). The handler accepts
  // (error_code) and (error_code, std::size_t).
  template <class Initiate>
  error_code run(std::chrono::steady_clock::duration timeout, Initiate&& initiate,
                 std::size_t* transferred = nullptr) {
    stream_.expires_after(timeout);
    return run_untimed(std::forward<Initiate>(initiate), transferred);
  }

  // The same without touching the stream's deadline (WebSocket operations
  // keep their own timers).
  template <class Initiate>
  error_code run_untimed(Initiate&& initiate, std::size_t* transferred = nullptr) {
    Completion done;
    initiate(Handler{&done});
    context_->restart();
    // run() also executes posted interrupts (request_stop) while we wait,
    // and returns once nothing is pending: our operation and its timer.
    context_->run();
    if (transferred) *transferred = done.bytes;
    return done.ec;
  }

  // Waits until the socket can take more bytes (for writes made on the
  // native socket, e.g. sendfile), at most `timeout`: then the socket is
  // closed and the result is beast::error::timeout.
  error_code wait_writable(std::chrono::steady_clock::duration timeout) {
    asio::steady_timer timer(*context_, timeout);
    error_code result;
    bool done = false;
    bool timed_out = false;
    stream_.socket().async_wait(asio::ip::tcp::socket::wait_write, [&](error_code ec) {
      done = true;
      result = timed_out ? error_code(beast::error::timeout) : ec;
      timer.cancel();
    });
    timer.async_wait([&](error_code ec) {
      if (ec || done) return;
      timed_out = true;
      error_code ignored;
      stream_.socket().close(ignored);
    });
    context_->restart();
    context_->run();
    return result;
  }

  // Half-closes, then reads and discards what the peer still sends for at
  // most `timeout` or `max_bytes`, then closes. Closing a socket with unread
  // input makes the kernel send a reset, which can destroy the response
  // still in flight to the peer (e.g. a 413 answered before the body).
  void lingering_close(std::chrono::steady_clock::duration timeout, std::size_t max_bytes) {
    error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    stream_.expires_after(timeout);
    char scratch[16 * 1024];
    std::size_t drained = 0;
    while (drained < max_bytes && stream_.socket().is_open()) {
      std::size_t n = 0;
      error_code ec = run_untimed(
          [&](auto handler) { stream_.async_read_some(asio::buffer(scratch), handler); }, &n);
      if (ec) break;
      drained += n;
    }
    close();
  }

  // Closes the connection politely: a FIN, then the socket.
  void close() {
    error_code ignored;
    if (!stream_.socket().is_open()) return;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

 private:
  struct Completion {
    error_code ec;
    std::size_t bytes = 0;
  };
  struct Handler {
    Completion* done;
    void operator()(error_code ec) const { done->ec = ec; }
    void operator()(error_code ec, std::size_t bytes) const {
      done->ec = ec;
      done->bytes = bytes;
    }
  };

  std::unique_ptr<asio::io_context> context_;
  beast::tcp_stream stream_;
};

}  // namespace atcr::xrpc

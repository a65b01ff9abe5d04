// WebSocket sessions on Beast.
//
// The handler runs on the connection's thread and blocks in send_*(); the
// socket must meanwhile keep reading, to answer pings and the peer's close
// and to notice that the peer is gone. A Beast websocket stream allows one
// pending read and one pending write (plus a close) at a time, but only as
// asynchronous operations on one executor: so a second thread, the pump,
// runs the connection's io_context for the session's life. It keeps one
// read pending (data frames are discarded, unless the subscription receives
// them: then they queue for receive(), and the pump reads the next only once
// the handler has taken them, so a flooding client waits on TCP), and
// executes the writes and the close the handler's thread posts to it, which
// that thread then waits for.
#include "xrpc/websocket_session.h"

#include <fmt/core.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

namespace atcr::xrpc {

namespace websocket = beast::websocket;
using Clock = std::chrono::steady_clock;

namespace {

// Clients of one-way subscriptions send nothing but control frames; a
// larger data frame is refused.
constexpr std::size_t kMaxIncomingMessage = 64 * 1024;
// Received messages queued before the pump stops reading.
constexpr std::size_t kMaxQueuedMessages = 2;
// After a stop, a write still blocked on a slow peer gets this long before
// the socket is closed under it.
constexpr auto kStopGrace = std::chrono::seconds(1);
// How long the closing handshake may take before the socket is closed.
constexpr auto kCloseTimeout = std::chrono::seconds(3);

class Session final : public WebSocket {
 public:
  Session(SyncStream& io, const ServerOptions& options, const SubscriptionOptions& subscription)
      : io_(io), options_(options), receiving_(subscription.max_incoming_bytes > 0), ws_(io.stream()) {
    max_incoming_ = receiving_ ? subscription.max_incoming_bytes : kMaxIncomingMessage;
  }

  ~Session() override { stop_pump(); }

  error_code accept(const beast::http::request<beast::http::empty_body>& upgrade) {
    // The websocket stream keeps its own timers; the stream's must be off.
    io_.stream().expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = options_.read_timeout;
    // A quiet peer is pinged halfway and dropped if it stays silent.
    timeouts.idle_timeout = options_.read_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(max_incoming_);
    ws_.binary(true);
    return io_.run_untimed([&](auto handler) { ws_.async_accept(upgrade, handler); });
  }

  void start_pump() {
    guard_.emplace(asio::make_work_guard(io_.context()));
    asio::post(io_.context(), [this] { read_next(); });
    io_.context().restart();
    pump_ = std::thread([this] { io_.context().run(); });
  }

  // From XrpcServer::stop(), any thread.
  void on_stop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    closed_ = true;
    cv_.notify_all();
  }

  bool stopping() const {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  // After the handler: the closing handshake (unless done), then the pump ends.
  void finish(std::uint16_t code, std::string_view reason) {
    {
      // Nobody receives any more: read (and drop) until the peer's close.
      std::lock_guard lock(mu_);
      discard_ = true;
      received_.clear();
      if (read_paused_) {
        read_paused_ = false;
        asio::post(io_.context(), [this] { read_next(); });
      }
    }
    close(code, reason);
    std::unique_lock lock(mu_);
    // The pending read completes once the peer answers the close.
    if (!cv_.wait_for(lock, kCloseTimeout, [&] { return read_ended_; })) {
      lock.unlock();
      drop_socket();
      lock.lock();
      cv_.wait(lock, [&] { return read_ended_; });
    }
    lock.unlock();
    stop_pump();
  }

  bool send_binary(BytesView message) override {
    return send(asio::const_buffer(message.data(), message.size()), true);
  }

  bool send_text(std::string_view message) override {
    return send(asio::const_buffer(message.data(), message.size()), false);
  }

  void close(std::uint16_t code, std::string_view reason) override {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      cv_.notify_all();
      if (close_started_ || read_ended_) return;
      close_started_ = true;
    }
    // A close frame carries at most 123 bytes of reason.
    websocket::close_reason why(code);
    why.reason.assign(reason.data(), std::min<std::size_t>(reason.size(), why.reason.max_size()));
    asio::post(io_.context(), [this, why] {
      ws_.async_close(why, [this](error_code) {
        std::lock_guard lock(mu_);
        close_done_ = true;
        cv_.notify_all();
      });
    });
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kCloseTimeout, [&] { return close_done_; })) {
      lock.unlock();
      drop_socket();
      lock.lock();
      cv_.wait(lock, [&] { return close_done_; });
    }
  }

  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }

  bool wait_closed(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return closed_; });
  }

  std::optional<std::string> receive(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !received_.empty() || closed_; });
    if (received_.empty()) return std::nullopt;
    std::string message = std::move(received_.front());
    received_.pop_front();
    if (read_paused_ && !read_ended_) {
      read_paused_ = false;
      asio::post(io_.context(), [this] { read_next(); });
    }
    return message;
  }

 private:
  // On the pump: keeps one read pending for the session's life.
  void read_next() {
    ws_.async_read(incoming_, [this](error_code ec, std::size_t) {
      if (!ec && receiving_) {
        std::lock_guard lock(mu_);
        if (discard_) {
          incoming_.clear();
          return read_next();
        }
        received_.push_back(beast::buffers_to_string(incoming_.data()));
        incoming_.clear();
        cv_.notify_all();
        if (received_.size() >= kMaxQueuedMessages) {
          read_paused_ = true;  // receive() resumes it
          return;
        }
      }
      incoming_.clear();
      if (!ec) return read_next();
      std::lock_guard lock(mu_);
      read_ended_ = true;
      closed_ = true;
      cv_.notify_all();
    });
  }

  bool send(asio::const_buffer message, bool binary) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return false;
      write_done_ = false;
    }
    asio::post(io_.context(), [this, message, binary] {
      ws_.binary(binary);
      ws_.async_write(message, [this](error_code ec, std::size_t) {
        std::lock_guard lock(mu_);
        write_done_ = true;
        write_error_ = ec;
        cv_.notify_all();
      });
    });
    // The message lives in the caller's buffer: wait for the write to
    // finish, bounded by write_timeout (and a short grace after a stop).
    std::unique_lock lock(mu_);
    Clock::time_point deadline = Clock::now() + options_.write_timeout;
    bool grace_started = false;
    while (!write_done_) {
      if (stopping_ && !grace_started) {
        grace_started = true;
        deadline = std::min(deadline, Clock::now() + kStopGrace);
      }
      if (Clock::now() >= deadline) {
        lock.unlock();
        drop_socket();
        lock.lock();
        cv_.wait(lock, [&] { return write_done_; });
        break;
      }
      cv_.wait_until(lock, deadline, [&] { return write_done_ || (stopping_ && !grace_started); });
    }
    if (write_error_) closed_ = true;
    return !write_error_;
  }

  // Closes the TCP socket under any pending operation (they fail at once).
  void drop_socket() {
    asio::post(io_.context(), [this] { io_.stream().close(); });
  }

  void stop_pump() {
    if (!pump_.joinable()) return;
    // Close the socket so nothing stays pending, then stop the pump: the
    // websocket's idle timer would otherwise keep it running.
    drop_socket();
    guard_.reset();
    asio::post(io_.context(), [this] { io_.context().stop(); });
    pump_.join();
  }

  SyncStream& io_;
  const ServerOptions& options_;
  const bool receiving_;  // data messages queue for receive()
  std::size_t max_incoming_ = kMaxIncomingMessage;
  websocket::stream<beast::tcp_stream&> ws_;
  beast::flat_buffer incoming_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread pump_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;       // what closed() reports
  bool stopping_ = false;     // XrpcServer::stop() began
  bool read_ended_ = false;   // the peer closed or the connection broke
  bool close_started_ = false;
  bool close_done_ = false;
  bool write_done_ = false;
  error_code write_error_;
  std::deque<std::string> received_;
  bool read_paused_ = false;  // the queue is full: no read pending
  bool discard_ = false;      // the handler returned
};

}  // namespace

int serve_websocket(SyncStream& io, const ServerOptions& options, const SubscriptionOptions& subscription,
                    const beast::http::request<beast::http::empty_body>& upgrade,
                    const ServerRequest& request, const SocketHandler& handler, StopRelay& stop,
                    std::string& internal_error) {
  Session session(io, options, subscription);
  if (error_code ec = session.accept(upgrade)) {
    // Beast has answered a bad handshake with a 400 already.
    io.close();
    return 400;
  }
  stop.set_action([&session] { session.on_stop(); });
  session.start_pump();
  std::uint16_t code = websocket::close_code::normal;
  std::string reason;
  try {
    handler(request, session);
  } catch (const std::exception& e) {
    internal_error = e.what();
    code = websocket::close_code::internal_error;
    reason = "internal error";
  } catch (...) {
    internal_error = "exception of unknown type";
    code = websocket::close_code::internal_error;
    reason = "internal error";
  }
  // RFC 6455 7.4.1: 1001 "going away" is a server going down.
  if (code == websocket::close_code::normal && session.stopping())
    code = websocket::close_code::going_away;
  session.finish(code, reason);
  stop.set_action(nullptr);
  io.close();
  return 101;
}

}  // namespace atcr::xrpc

// XrpcServer: registration, the listening socket and the connections'
// threads. Routing lives in router.cc, the HTTP protocol in
// http_connection.cc (on Boost.Beast), WebSockets in websocket_session.cc.
//
// Threading: one acceptor thread, and one thread per connection for its
// whole life (keep-alive requests one after the other, or a WebSocket
// session). Handlers block (they call other services and stream blobs from
// disk or S3), so a thread per connection is the simplest model that never
// lets one slow handler hold up another connection; the number of threads
// is bounded by ServerOptions::max_connections, beyond which new
// connections are answered 503 and closed at once. Every socket operation
// has a deadline (idle_timeout for a request's header, read_timeout and
// write_timeout for each body read and write), so a stalled or hostile
// client holds its thread for a bounded time.
//
// stop(): the acceptor closes; connections waiting for a request are closed
// at once; requests in flight finish and their connections then close;
// WebSocket sessions see closed() and their handlers return. stop() joins
// every thread before it returns.
#include "atcr/xrpc/server.h"

#include <fmt/core.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "atcr/data/syntax.h"
#include "atcr/log.h"
#include "xrpc/http_connection.h"
#include "xrpc/router.h"

namespace atcr::xrpc {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// Sent to connections beyond max_connections: cheap, and a clear signal
// for a client or proxy to back off, unlike a bare reset.
constexpr std::string_view kBusyBody =
    R"({"error":"NotEnoughResources","message":"too many connections"})";
const std::string kBusyResponse = fmt::format(
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: {}\r\n"
    "Connection: close\r\n"
    "Retry-After: 1\r\n"
    "\r\n{}",
    kBusyBody.size(), kBusyBody);

// After a failed accept (out of descriptors, say), wait this long before
// the next, rather than spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);

void check_method(std::string_view http_method, bool xrpc) {
  if (xrpc && (!is_supported_method(http_method) || http_method == "HEAD"))
    throw std::invalid_argument(
        fmt::format("xrpc server: cannot serve XRPC on HTTP method \"{}\"", http_method));
  if (!is_supported_method(http_method))
    throw std::invalid_argument(
        fmt::format("xrpc server: unsupported HTTP method \"{}\"", http_method));
}

}  // namespace

struct XrpcServer::Impl {
  ServerOptions options;
  Router router;
  std::atomic<bool> stopping{false};
  ServerContext context{options, router, stopping};

  std::mutex lifecycle_mu;
  bool started = false;
  // Read without the lock: stop() holds it while it waits for handlers,
  // which may ask.
  std::atomic<bool> running{false};
  int port = 0;

  // The acceptor and its thread.
  asio::io_context accept_context{1};
  tcp::acceptor acceptor{accept_context};
  asio::steady_timer retry_timer{accept_context};
  std::thread accept_thread;

  // Live connections by id, with their threads. A finished connection moves
  // its (not yet joined) thread to `finished`; the acceptor and stop() join
  // those.
  struct Live {
    std::shared_ptr<HttpConnection> connection;
    std::thread thread;
  };
  std::mutex connections_mu;
  std::condition_variable connections_cv;
  std::map<std::uint64_t, Live> live;
  std::vector<std::thread> finished;
  std::uint64_t next_id = 0;

  explicit Impl(ServerOptions o) : options(std::move(o)), router(options.version) {}

  void check_not_started(std::string_view what) {
    std::lock_guard lock(lifecycle_mu);
    if (started) throw std::logic_error(fmt::format("xrpc server: {} after start()", what));
  }

  void bind();
  void accept_next();
  void retry_later();
  void on_accept(std::unique_ptr<asio::io_context> context, tcp::socket socket);
  void run_connection(std::uint64_t id, std::shared_ptr<HttpConnection> connection);
  void join_finished();
};

void XrpcServer::Impl::bind() {
  error_code ec;
  tcp::endpoint endpoint;
  auto address = asio::ip::make_address(options.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<unsigned short>(options.port));
  } else {
    tcp::resolver resolver(accept_context);
    auto results = resolver.resolve(options.host, std::to_string(options.port),
                                    tcp::resolver::passive, ec);
    if (ec || results.empty())
      throw Error(fmt::format("xrpc server: cannot resolve {}: {}", options.host,
                              ec ? ec.message() : "no address"));
    endpoint = results.begin()->endpoint();
  }
  acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only: a restarted server may bind over TIME_WAIT sockets,
  // but (unlike SO_REUSEPORT) never share a port another server holds.
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw Error(fmt::format("xrpc server: cannot bind {}:{}: {}", options.host, options.port,
                            ec.message()));
  port = acceptor.local_endpoint().port();
}

void XrpcServer::Impl::accept_next() {
  // Each connection gets an io_context of its own (see sync_stream.h); the
  // accepted socket is created on it directly.
  std::unique_ptr<asio::io_context> context;
  try {
    context = std::make_unique<asio::io_context>(1);
  } catch (const std::system_error& e) {
    // Out of descriptors (an io_context holds an epoll fd, an eventfd and a
    // timerfd): wait for connections to end rather than end the acceptor.
    std::fprintf(stderr, "xrpc server: cannot set up a connection: %s\n", log::escape(e.what()).c_str());
    retry_later();
    return;
  }
  asio::io_context& target = *context;
  acceptor.async_accept(target, [this, context = std::move(context)](
                                    error_code ec, tcp::socket socket) mutable {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      std::fprintf(stderr, "xrpc server: accept failed: %s\n", ec.message().c_str());
      retry_later();
      return;
    }
    on_accept(std::move(context), std::move(socket));
    accept_next();
  });
}

void XrpcServer::Impl::retry_later() {
  retry_timer.expires_after(kAcceptRetryDelay);
  retry_timer.async_wait([this](error_code ec) {
    if (!ec && acceptor.is_open()) accept_next();
  });
}

void XrpcServer::Impl::on_accept(std::unique_ptr<asio::io_context> context, tcp::socket socket) {
  join_finished();
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::lock_guard lock(connections_mu);
  if (stopping) return;  // the socket closes as it goes out of scope
  if (live.size() >= options.max_connections) {
    // Best effort and never blocking: the acceptor must not wait on a peer.
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(kBusyResponse), ignored);
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    // Unread input at close() makes the kernel reset the connection, which
    // can destroy the 503 in flight; take what has arrived already.
    char scratch[4096];
    for (int i = 0; i < 16 && socket.available(ignored) > 0; ++i)
      socket.read_some(asio::buffer(scratch), ignored);
    return;
  }
  std::uint64_t id = next_id++;
  auto connection = std::make_shared<HttpConnection>(this->context, std::move(context),
                                                     std::move(socket));
  Live& entry = live[id];
  entry.connection = connection;
  try {
    // The thread's first act waits for connections_mu, held here until the
    // entry is complete.
    entry.thread = std::thread([this, id, connection] { run_connection(id, connection); });
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "xrpc server: cannot start a connection thread: %s\n", e.what());
    live.erase(id);
  }
}

void XrpcServer::Impl::run_connection(std::uint64_t id, std::shared_ptr<HttpConnection> connection) {
  try {
    connection->serve();
  } catch (const std::exception& e) {
    // serve() reports its errors on the wire; this is a bug, not a client.
    std::fprintf(stderr, "xrpc server: connection failed: %s\n", log::escape(e.what()).c_str());
  }
  std::shared_ptr<HttpConnection> last;
  {
    std::lock_guard lock(connections_mu);
    auto node = live.extract(id);
    finished.push_back(std::move(node.mapped().thread));
    last = std::move(node.mapped().connection);
    connections_cv.notify_all();
  }
  // The socket and io_context go with the last reference, outside the lock.
  connection.reset();
  last.reset();
}

void XrpcServer::Impl::join_finished() {
  std::vector<std::thread> done;
  {
    std::lock_guard lock(connections_mu);
    done.swap(finished);
  }
  for (auto& t : done) t.join();
}

XrpcServer::XrpcServer(ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

XrpcServer::~XrpcServer() { stop(); }

void XrpcServer::method(std::string_view http_method, std::string_view nsid, Handler handler) {
  check_method(http_method, true);
  syntax::validate_nsid(nsid);
  impl_->check_not_started("registering a method");
  impl_->router.add_method(http_method, nsid, std::move(handler));
}

void XrpcServer::query(std::string_view nsid, Handler handler) {
  method("GET", nsid, std::move(handler));
}

void XrpcServer::procedure(std::string_view nsid, Handler handler) {
  method("POST", nsid, std::move(handler));
}

void XrpcServer::route(std::string_view http_method, std::string_view pattern, Handler handler) {
  check_method(http_method, false);
  impl_->check_not_started("registering a route");
  impl_->router.add_route(http_method, pattern, std::move(handler));
}

void XrpcServer::stream_route(std::string_view http_method, std::string_view pattern,
                              StreamHandler handler) {
  check_method(http_method, false);
  impl_->check_not_started("registering a route");
  impl_->router.add_stream_route(http_method, pattern, std::move(handler));
}

void XrpcServer::stream_method(std::string_view http_method, std::string_view nsid,
                               StreamHandler handler) {
  check_method(http_method, true);
  syntax::validate_nsid(nsid);
  impl_->check_not_started("registering a method");
  impl_->router.add_stream_method(http_method, nsid, std::move(handler));
}

void XrpcServer::subscription(std::string_view nsid, SocketHandler handler) {
  subscription(nsid, std::move(handler), SubscriptionOptions{});
}

void XrpcServer::subscription(std::string_view nsid, SocketHandler handler, SubscriptionOptions options) {
  syntax::validate_nsid(nsid);
  impl_->check_not_started("registering a subscription");
  impl_->router.add_subscription(nsid, std::move(handler), std::move(options));
}

void XrpcServer::start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started) throw std::logic_error("xrpc server: start() called twice");
  impl_->started = true;
  impl_->bind();
  impl_->accept_next();
  impl_->accept_thread = std::thread([impl = impl_.get()] { impl->accept_context.run(); });
  impl_->running = true;
}

void XrpcServer::stop() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (!impl_->running) return;
  impl_->stopping = true;
  // No new connections: close the acceptor on its own thread.
  asio::post(impl_->accept_context, [impl = impl_.get()] {
    error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry_timer.cancel();
  });
  impl_->accept_thread.join();
  {
    std::unique_lock connections_lock(impl_->connections_mu);
    for (auto& [id, entry] : impl_->live) entry.connection->request_stop();
    impl_->connections_cv.wait(connections_lock, [&] { return impl_->live.empty(); });
  }
  impl_->join_finished();
  impl_->running = false;
}

bool XrpcServer::running() const { return impl_->running; }

int XrpcServer::port() const { return impl_->port; }

std::string XrpcServer::url() const {
  const std::string& host = impl_->options.host;
  bool ipv6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}", ipv6 ? "[" : "", host, ipv6 ? "]" : "", impl_->port);
}

}  // namespace atcr::xrpc

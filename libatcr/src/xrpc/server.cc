// XrpcServer on cpp-httplib (Debian's 0.11).
//
// httplib does the sockets, HTTP parsing and the worker pool; we route. Every
// HTTP method is registered as one catch-all that hands the request to
// Impl::handle, so routing, the XRPC error mapping and logging live here
// and behave the same for every path.
//
// Each connection carries one request (no keep-alive). httplib 0.11 gives a
// handler no way to close a connection, so a request refused before its
// body was read (413, a body on a GET) would leave that body on the wire to
// be parsed as the next request: a desync a proxy in front could be
// tricked with. Closing after every response rules that out, and stop()
// never waits for idle connections. The servers bind to loopback behind a
// proxy, where a new connection per request costs next to nothing.
#include "atcr/xrpc/server.h"

#include <fmt/core.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <map>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <thread>

#include "atcr/data/syntax.h"

namespace atcr::xrpc {

namespace {

using Clock = std::chrono::steady_clock;

// What the logger needs to know about the request this worker thread is
// serving. httplib runs a request start to finish on one thread and calls
// the logger there, so a thread_local carries it from dispatch to the log.
struct RequestScope {
  Clock::time_point start{};
  std::string nsid;
  std::string internal_error;
};
thread_local RequestScope tl_scope;

constexpr std::string_view kXrpcPrefix = "/xrpc/";

bool is_body_method(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool is_supported_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || is_body_method(method);
}

// Does a route registered for `registered` answer `actual`?
bool method_matches(std::string_view registered, std::string_view actual) {
  return registered == actual || (registered == "GET" && actual == "HEAD");
}

std::string lowercase(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

void write_error(httplib::Response& res, int status, std::string_view error,
                 std::string_view message) {
  ServerResponse body = ServerResponse::error(status, error, message);
  res.status = status;
  res.set_header("Content-Type", body.content_type);
  res.body = std::move(body.body);
}

std::optional<std::uint64_t> content_length(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) return std::nullopt;
  std::string value = req.get_header_value("Content-Length");
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return n;
}

struct XrpcRoute {
  std::string http_method;
  Handler handler;
};

struct PlainRoute {
  std::string http_method;
  std::regex regex;
  Handler handler;
};

}  // namespace

Logger stderr_logger() {
  return [](const RequestLog& log) {
    std::string line = fmt::format("{} {} {} {:.3f}ms {}", log.method, log.path, log.status,
                                   static_cast<double>(log.latency.count()) / 1000.0,
                                   log.remote_addr);
    if (!log.internal_error.empty()) line += fmt::format(" error: {}", log.internal_error);
    line += '\n';
    // One fwrite per line, so lines from concurrent requests do not interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

struct XrpcServer::Impl {
  ServerOptions options;
  httplib::Server http;
  std::map<std::string, XrpcRoute, std::less<>> methods;  // by NSID
  std::vector<PlainRoute> routes;

  std::mutex lifecycle_mu;
  std::thread listener;
  std::atomic<bool> listening_done{false};
  bool started = false;
  int port = 0;
  int listen_fd = -1;

  explicit Impl(ServerOptions o) : options(std::move(o)) {}

  void check_not_started(std::string_view what) {
    std::lock_guard lock(lifecycle_mu);
    if (started)
      throw std::logic_error(fmt::format("xrpc server: {} after start()", what));
  }

  void configure();
  void handle(const httplib::Request& hreq, httplib::Response& hres, std::string_view body);
  void handle_with_body(const httplib::Request& hreq, httplib::Response& hres,
                        const httplib::ContentReader& reader);
  ServerResponse route(ServerRequest& req);
  ServerResponse route_plain(ServerRequest& req);
  bool reject_early(const httplib::Request& req, httplib::Response& res);
  void log(const httplib::Request& req, const httplib::Response& res);
};

ServerResponse XrpcServer::Impl::route(ServerRequest& req) {
  if (!req.path.starts_with(kXrpcPrefix)) return route_plain(req);
  std::string_view nsid = std::string_view(req.path).substr(kXrpcPrefix.size());
  tl_scope.nsid = std::string(nsid);

  if (nsid == "_health") {
    if (req.method != "GET" && req.method != "HEAD")
      throw invalid_request(fmt::format("Incorrect HTTP method ({}) expected GET", req.method));
    return ServerResponse::json(Value::Map{{"version", options.version}});
  }
  if (auto it = methods.find(nsid); it != methods.end()) {
    if (!method_matches(it->second.http_method, req.method))
      throw invalid_request(fmt::format("Incorrect HTTP method ({}) expected {}", req.method,
                                        it->second.http_method));
    req.nsid = it->first;
    return it->second.handler(req);
  }
  if (!syntax::is_valid_nsid(nsid)) throw invalid_request("invalid xrpc path");
  throw not_implemented("Method Not Implemented");
}

ServerResponse XrpcServer::Impl::route_plain(ServerRequest& req) {
  std::vector<std::string> allowed;
  for (const PlainRoute& r : routes) {
    std::smatch match;
    if (!std::regex_match(req.path, match, r.regex)) continue;
    if (!method_matches(r.http_method, req.method)) {
      if (std::find(allowed.begin(), allowed.end(), r.http_method) == allowed.end())
        allowed.push_back(r.http_method);
      continue;
    }
    for (std::size_t i = 1; i < match.size(); ++i) req.path_params.push_back(match[i].str());
    return r.handler(req);
  }
  if (allowed.empty()) return ServerResponse::error(404, "NotFound", "Not Found");
  std::string allow;
  for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
  if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end()) allow += ", HEAD";
  return ServerResponse::error(405, "MethodNotAllowed",
                               fmt::format("{} is not allowed here", req.method))
      .header("Allow", allow);
}

void XrpcServer::Impl::handle(const httplib::Request& hreq, httplib::Response& hres,
                              std::string_view body) {
  ServerRequest req;
  req.method = hreq.method;
  req.path = hreq.path;
  req.params.assign(hreq.params.begin(), hreq.params.end());
  for (const auto& [name, value] : hreq.headers) {
    // httplib files the socket addresses among the headers; they were not sent.
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
        name == "LOCAL_PORT")
      continue;
    req.headers.emplace_back(lowercase(name), value);
  }
  req.body = body;
  req.remote_addr = hreq.remote_addr;

  ServerResponse res;
  try {
    res = route(req);
  } catch (const XrpcError& e) {
    if (e.status() >= 400 && e.status() <= 599) {
      res = ServerResponse::error(e.status(), e.error(), e.message());
      res.headers = e.headers();
      // RFC 9110: a 401 names the scheme to authenticate with.
      if (e.status() == 401 &&
          std::none_of(res.headers.begin(), res.headers.end(),
                       [](const auto& h) { return lowercase(h.first) == "www-authenticate"; }))
        res.header("WWW-Authenticate", "Bearer");
    } else {
      tl_scope.internal_error = fmt::format("XrpcError with non-error status: {}", e.what());
      res = ServerResponse::error(500, "InternalServerError", "Internal Server Error");
    }
  } catch (const std::exception& e) {
    tl_scope.internal_error = e.what();
    res = ServerResponse::error(500, "InternalServerError", "Internal Server Error");
  } catch (...) {
    tl_scope.internal_error = "exception of unknown type";
    res = ServerResponse::error(500, "InternalServerError", "Internal Server Error");
  }

  hres.status = res.status;
  for (auto& [name, value] : res.headers) hres.set_header(name, value);
  if (!res.content_type.empty()) hres.set_header("Content-Type", res.content_type);
  hres.body = std::move(res.body);
}

void XrpcServer::Impl::handle_with_body(const httplib::Request& hreq, httplib::Response& hres,
                                        const httplib::ContentReader& reader) {
  // Read the body ourselves: httplib 0.11 enforces its payload limit on
  // Content-Length bodies only, not on chunked ones.
  std::string body;
  bool too_large = false;
  bool complete = reader([&](const char* data, std::size_t n) {
    if (body.size() + n > options.max_body_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_large) {
    write_error(hres, 413, "PayloadTooLarge",
                fmt::format("request body exceeds {} bytes", options.max_body_bytes));
    return;
  }
  if (!complete) {
    write_error(hres, 400, "InvalidRequest", "could not read the request body");
    return;
  }
  handle(hreq, hres, body);
}

// Requests refused before their body is read. True when `res` is the answer.
bool XrpcServer::Impl::reject_early(const httplib::Request& req, httplib::Response& res) {
  if (auto length = content_length(req); length && *length > options.max_body_bytes) {
    write_error(res, 413, "PayloadTooLarge",
                fmt::format("request body of {} bytes exceeds {} bytes", *length,
                            options.max_body_bytes));
    return true;
  }
  bool has_body = req.has_header("Transfer-Encoding") || content_length(req).value_or(0) > 0;
  if (has_body && !is_body_method(req.method) && is_supported_method(req.method)) {
    // httplib would buffer it without a limit, and no route wants one.
    write_error(res, 400, "InvalidRequest", fmt::format("{} requests take no body", req.method));
    return true;
  }
  // httplib parses multipart bodies itself and needs handlers we do not
  // have; neither XRPC nor the OCI API uses them.
  if (req.get_header_value("Content-Type").starts_with("multipart/form-data")) {
    write_error(res, 400, "InvalidRequest", "multipart/form-data bodies are not supported");
    return true;
  }
  return false;
}

void XrpcServer::Impl::log(const httplib::Request& req, const httplib::Response& res) {
  if (options.logger) {
    RequestLog entry;
    entry.method = req.method;
    entry.path = req.path;
    entry.nsid = std::move(tl_scope.nsid);
    entry.status = res.status;
    if (tl_scope.start != Clock::time_point{})
      entry.latency =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - tl_scope.start);
    entry.remote_addr = req.remote_addr;
    entry.internal_error = std::move(tl_scope.internal_error);
    // httplib calls us outside any handler's try: an exception escaping a
    // logger would end the worker thread, and with it the process.
    try {
      options.logger(entry);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "xrpc server: request logger failed: %s\n", e.what());
    }
  }
  tl_scope = RequestScope{};
}

void XrpcServer::Impl::configure() {
  std::size_t threads = std::max<std::size_t>(options.threads, 1);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib's default also sets SO_REUSEPORT, which lets a second server
  // bind a port that is in use and silently split its traffic. This is also
  // where we learn the listening socket (see start()).
  http.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = sock;
  });
  http.set_read_timeout(options.read_timeout.count());
  http.set_write_timeout(options.write_timeout.count());
  // One request per connection (see the top of this file). The "keep-alive"
  // timeout also bounds the wait for a new connection's first request.
  http.set_keep_alive_max_count(1);
  http.set_keep_alive_timeout(options.idle_timeout.count());
  http.set_payload_max_length(options.max_body_bytes);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    tl_scope.start = Clock::now();
    return reject_early(req, res) ? httplib::Server::HandlerResponse::Handled
                                  : httplib::Server::HandlerResponse::Unhandled;
  });
  // "Expect: 100-continue": refuse an oversized body before the client sends it.
  http.set_expect_100_continue_handler([this](const httplib::Request& req,
                                              httplib::Response& res) {
    tl_scope.start = Clock::now();
    if (auto length = content_length(req); length && *length > options.max_body_bytes) {
      write_error(res, 413, "PayloadTooLarge",
                  fmt::format("request body of {} bytes exceeds {} bytes", *length,
                              options.max_body_bytes));
      return 413;
    }
    return 100;
  });
  // Errors httplib produces itself (bad request line, 413 from its own limit,
  // unsupported method) get an XRPC error body like ours.
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        write_error(res, res.status, default_error_name(res.status), "");
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    log(req, res);
  });

  const std::string any = ".*";
  auto plain = [this](const httplib::Request& req, httplib::Response& res) {
    handle(req, res, req.body);
  };
  auto with_body = [this](const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
    handle_with_body(req, res, reader);
  };
  http.Get(any, plain);  // and HEAD
  http.Options(any, plain);
  http.Post(any, with_body);
  http.Put(any, with_body);
  http.Patch(any, with_body);
  http.Delete(any, with_body);
}

XrpcServer::XrpcServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

XrpcServer::~XrpcServer() { stop(); }

void XrpcServer::method(std::string_view http_method, std::string_view nsid, Handler handler) {
  if (!is_supported_method(http_method) || http_method == "HEAD")
    throw std::invalid_argument(
        fmt::format("xrpc server: cannot serve XRPC on HTTP method \"{}\"", http_method));
  syntax::validate_nsid(nsid);
  impl_->check_not_started("registering a method");
  auto [it, inserted] = impl_->methods.try_emplace(
      std::string(nsid), XrpcRoute{std::string(http_method), std::move(handler)});
  if (!inserted)
    throw std::logic_error(fmt::format("xrpc server: {} is already registered", nsid));
}

void XrpcServer::query(std::string_view nsid, Handler handler) {
  method("GET", nsid, std::move(handler));
}

void XrpcServer::procedure(std::string_view nsid, Handler handler) {
  method("POST", nsid, std::move(handler));
}

void XrpcServer::route(std::string_view http_method, std::string_view pattern, Handler handler) {
  if (!is_supported_method(http_method))
    throw std::invalid_argument(
        fmt::format("xrpc server: unsupported HTTP method \"{}\"", http_method));
  impl_->check_not_started("registering a route");
  impl_->routes.push_back(PlainRoute{std::string(http_method),
                                     std::regex(std::string(pattern), std::regex::ECMAScript),
                                     std::move(handler)});
}

void XrpcServer::start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  // One attempt per server, successful or not: configure() registers
  // httplib handlers, which cannot be registered twice.
  if (impl_->started) throw std::logic_error("xrpc server: start() called twice");
  impl_->started = true;
  impl_->configure();
  const ServerOptions& o = impl_->options;
  int port = o.port;
  bool bound = false;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    bound = port > 0;
  } else {
    bound = impl_->http.bind_to_port(o.host, port);
  }
  if (!bound) throw Error(fmt::format("xrpc server: cannot bind {}:{}", o.host, o.port));
  // httplib 0.11 listens with a backlog of 5: a burst of connections beyond
  // that loses SYNs, and their clients stall for a second before retrying.
  // On Linux a second listen() on the socket just raises the backlog.
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  impl_->port = port;
  impl_->listener = std::thread([impl = impl_.get()] {
    impl->http.listen_after_bind();
    impl->listening_done = true;
  });
  // stop() only works once httplib reports running; wait for that so a stop
  // right after start cannot be lost.
  while (!impl_->http.is_running() && !impl_->listening_done)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void XrpcServer::stop() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (!impl_->listener.joinable()) return;
  // Closes the listening socket; the listener thread then drains the worker
  // pool, which finishes every request already accepted.
  impl_->http.stop();
  impl_->listener.join();
}

bool XrpcServer::running() const { return impl_->http.is_running(); }

int XrpcServer::port() const { return impl_->port; }

std::string XrpcServer::url() const {
  const std::string& host = impl_->options.host;
  bool ipv6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}", ipv6 ? "[" : "", host, ipv6 ? "]" : "", impl_->port);
}

}  // namespace atcr::xrpc

// TEMPORARY: declared for the Beast-based server that replaces this file;
// they refuse until it lands.
namespace atcr::xrpc {
void XrpcServer::stream_route(std::string_view, std::string_view, StreamHandler) {
  throw std::logic_error("XrpcServer::stream_route: not implemented yet");
}
void XrpcServer::stream_method(std::string_view, std::string_view, StreamHandler) {
  throw std::logic_error("XrpcServer::stream_method: not implemented yet");
}
void XrpcServer::subscription(std::string_view, SocketHandler) {
  throw std::logic_error("XrpcServer::subscription: not implemented yet");
}
}  // namespace atcr::xrpc

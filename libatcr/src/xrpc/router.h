// XrpcServer's routing, independent of the transport: the tables of XRPC
// methods, plain routes and subscriptions, the lookup of a request's
// handler, and the mapping of handler exceptions onto XRPC error responses.
//
// The transport (http_connection.cc) resolves a route as soon as it has the
// request's header, because the kind of handler decides how the body is
// read: buffered, streamed, or not at all (a WebSocket upgrade).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/xrpc/server.h"

namespace atcr::xrpc {

// Methods a route may be registered for (HEAD comes with GET).
bool is_supported_method(std::string_view method);
// Methods that may carry a request body.
bool is_body_method(std::string_view method);

// What a request resolved to: exactly one of the handlers, or a response
// given without one (health, 404, 405, 426...).
struct RouteMatch {
  const Handler* handler = nullptr;
  const StreamHandler* stream_handler = nullptr;
  const SocketHandler* socket_handler = nullptr;
  const SubscriptionOptions* subscription_options = nullptr;  // with socket_handler
  std::optional<ServerResponse> response;
};

// The literal text a route pattern requires, to turn most paths away
// without running the regex (libstdc++'s std::regex backtracks one
// std::function call per character: trying every route's `(.+)` on a long
// path was most of the CPU of a cached manifest GET). Built from the
// pattern's top-level literals; a pattern with alternation gets no filter.
class PathFilter {
 public:
  PathFilter() = default;
  explicit PathFilter(std::string_view pattern);
  // False only if `path` cannot match the pattern.
  bool may_match(std::string_view path) const;

 private:
  std::vector<std::string> runs_;  // in order
  bool anchored_start_ = false;    // runs_.front() begins the pattern
  bool anchored_end_ = false;      // runs_.back() ends it
};

class Router {
 public:
  explicit Router(std::string version) : version_(std::move(version)) {}

  // Registration; the XrpcServer methods of the same names check the
  // arguments (see server.h) and forward here. Not thread-safe: it happens
  // before the server starts, after which the tables are only read.
  void add_method(std::string_view http_method, std::string_view nsid, Handler handler);
  void add_stream_method(std::string_view http_method, std::string_view nsid,
                         StreamHandler handler);
  void add_subscription(std::string_view nsid, SocketHandler handler, SubscriptionOptions options);
  void add_route(std::string_view http_method, std::string_view pattern, Handler handler);
  void add_stream_route(std::string_view http_method, std::string_view pattern,
                        StreamHandler handler);

  // Finds the handler for req.method and req.path, filling req.nsid and
  // req.path_params. Throws XrpcError for XRPC-level refusals (wrong HTTP
  // method, invalid NSID, 501); callers pass it through respond_to_error().
  RouteMatch resolve(ServerRequest& req) const;

 private:
  struct XrpcEntry {
    std::string http_method;
    Handler handler;
    StreamHandler stream_handler;
    SocketHandler socket_handler;
    SubscriptionOptions subscription_options;
  };
  struct PlainEntry {
    std::string http_method;
    std::string pattern;  // ServerRequest::route
    std::regex regex;
    PathFilter filter;  // cheap necessary conditions, checked before the regex
    Handler handler;
    StreamHandler stream_handler;
  };

  void add_xrpc(std::string_view nsid, XrpcEntry entry);
  RouteMatch resolve_xrpc(ServerRequest& req) const;
  RouteMatch resolve_plain(ServerRequest& req) const;

  std::string version_;
  std::map<std::string, XrpcEntry, std::less<>> methods_;  // by NSID
  std::vector<PlainEntry> routes_;
};

// Runs `produce` and turns what it throws into the XRPC error response
// (XrpcError: its status, name, message and headers; anything else: 500
// with the detail in `internal_error` only, never on the wire).
ServerResponse respond_or_error(const std::function<ServerResponse()>& produce,
                                std::string& internal_error);

}  // namespace atcr::xrpc

// Routing by NSID and by path pattern, and the XRPC error mapping. See
// router.h; the semantics follow the TypeScript reference server (server.h).
#include "xrpc/router.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "atcr/data/syntax.h"
#include "util/text.h"

namespace atcr::xrpc {

namespace {

constexpr std::string_view kXrpcPrefix = "/xrpc/";

// Does a route registered for `registered` answer `actual`?
bool method_matches(std::string_view registered, std::string_view actual) {
  return registered == actual || (registered == "GET" && actual == "HEAD");
}

ServerResponse from_xrpc_error(const XrpcError& e, std::string& internal_error) {
  if (e.status() < 400 || e.status() > 599) {
    internal_error = fmt::format("XrpcError with non-error status: {}", e.what());
    return ServerResponse::error(500, "InternalServerError", "Internal Server Error");
  }
  ServerResponse res = ServerResponse::error(e.status(), e.error(), e.message());
  res.headers = e.headers();
  // RFC 9110: a 401 names the scheme to authenticate with.
  if (e.status() == 401 &&
      std::none_of(res.headers.begin(), res.headers.end(),
                   [](const auto& h) { return util::iequals_ascii(h.first, "www-authenticate"); }))
    res.header("WWW-Authenticate", "Bearer");
  return res;
}

// Past the group or bracket expression that starts at pattern[i]; npos if
// it is not closed.
std::size_t skip_construct(std::string_view pattern, std::size_t i) {
  const char open = pattern[i];
  int depth = 0;
  bool in_brackets = false;
  for (; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (in_brackets) {
      if (c == ']') {
        if (open == '[') return i + 1;
        in_brackets = false;
      }
      continue;
    }
    if (c == '[') {
      in_brackets = true;  // ECMAScript: the first ']' closes it ("[]" is empty)
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

bool is_quantifier(char c) { return c == '*' || c == '+' || c == '?' || c == '{'; }

}  // namespace

PathFilter::PathFilter(std::string_view pattern) {
  std::string run;
  bool run_at_start = true;  // nothing but literals so far
  auto end_run = [&] {
    if (!run.empty()) {
      if (runs_.empty() && run_at_start) anchored_start_ = true;
      runs_.push_back(std::move(run));
      run.clear();
    }
    run_at_start = false;
  };
  for (std::size_t i = 0; i < pattern.size();) {
    char c = pattern[i];
    if (c == '|') {  // alternatives: no single set of required literals
      *this = PathFilter();
      return;
    }
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[i + 1];
      if (std::isalnum(static_cast<unsigned char>(e))) {
        end_run();  // a class (\d, \w...) or an assertion (\b)
      } else {
        run += e;
      }
      i += 2;
    } else if (c == '(' || c == '[') {
      end_run();
      i = skip_construct(pattern, i);
      if (i == std::string_view::npos) {
        *this = PathFilter();
        return;
      }
    } else if (is_quantifier(c)) {
      // The atom before it may repeat, or be absent: it leaves the run.
      if (c != '+' && !run.empty()) run.pop_back();
      if (c == '{') i = pattern.find('}', i);
      if (i == std::string_view::npos) {
        *this = PathFilter();
        return;
      }
      end_run();
      ++i;
      if (i < pattern.size() && pattern[i] == '?') ++i;  // lazy
    } else if (c == '.' || c == '^' || c == '$' || c == ')' || c == ']') {
      end_run();
      ++i;
    } else {
      run += c;
      ++i;
    }
  }
  bool ends_with_literal = !run.empty();
  end_run();
  anchored_end_ = ends_with_literal;
}

bool PathFilter::may_match(std::string_view path) const {
  if (runs_.empty()) return true;
  if (anchored_start_ && !path.starts_with(runs_.front())) return false;
  if (anchored_end_ && !path.ends_with(runs_.back())) return false;
  std::size_t pos = 0;
  for (const std::string& r : runs_) {
    pos = path.find(r, pos);
    if (pos == std::string_view::npos) return false;
    pos += r.size();
  }
  return true;
}

bool is_body_method(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool is_supported_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || is_body_method(method);
}

void Router::add_xrpc(std::string_view nsid, XrpcEntry entry) {
  auto [it, inserted] = methods_.try_emplace(std::string(nsid), std::move(entry));
  if (!inserted)
    throw std::logic_error(fmt::format("xrpc server: {} is already registered", nsid));
}

void Router::add_method(std::string_view http_method, std::string_view nsid, Handler handler) {
  add_xrpc(nsid, XrpcEntry{std::string(http_method), std::move(handler), {}, {}, {}});
}

void Router::add_stream_method(std::string_view http_method, std::string_view nsid,
                               StreamHandler handler) {
  add_xrpc(nsid, XrpcEntry{std::string(http_method), {}, std::move(handler), {}, {}});
}

void Router::add_subscription(std::string_view nsid, SocketHandler handler, SubscriptionOptions options) {
  add_xrpc(nsid, XrpcEntry{"GET", {}, {}, std::move(handler), std::move(options)});
}

void Router::add_route(std::string_view http_method, std::string_view pattern, Handler handler) {
  routes_.push_back(PlainEntry{std::string(http_method), std::string(pattern),
                               std::regex(std::string(pattern), std::regex::ECMAScript),
                               PathFilter(pattern), std::move(handler), {}});
}

void Router::add_stream_route(std::string_view http_method, std::string_view pattern,
                              StreamHandler handler) {
  routes_.push_back(PlainEntry{std::string(http_method), std::string(pattern),
                               std::regex(std::string(pattern), std::regex::ECMAScript),
                               PathFilter(pattern), {}, std::move(handler)});
}

RouteMatch Router::resolve(ServerRequest& req) const {
  return req.path.starts_with(kXrpcPrefix) ? resolve_xrpc(req) : resolve_plain(req);
}

RouteMatch Router::resolve_xrpc(ServerRequest& req) const {
  std::string_view nsid = std::string_view(req.path).substr(kXrpcPrefix.size());
  RouteMatch match;
  if (nsid == "_health") {
    req.route = "/xrpc/_health";
    if (req.method != "GET" && req.method != "HEAD")
      throw invalid_request(fmt::format("Incorrect HTTP method ({}) expected GET", req.method));
    match.response = ServerResponse::json(Value::Map{{"version", version_}});
    return match;
  }
  if (auto it = methods_.find(nsid); it != methods_.end()) {
    const XrpcEntry& entry = it->second;
    if (!method_matches(entry.http_method, req.method))
      throw invalid_request(fmt::format("Incorrect HTTP method ({}) expected {}", req.method,
                                        entry.http_method));
    req.nsid = it->first;
    req.route = "/xrpc/" + it->first;
    if (entry.handler) match.handler = &entry.handler;
    if (entry.stream_handler) match.stream_handler = &entry.stream_handler;
    if (entry.socket_handler) {
      match.socket_handler = &entry.socket_handler;
      match.subscription_options = &entry.subscription_options;
    }
    return match;
  }
  if (!syntax::is_valid_nsid(nsid)) throw invalid_request("invalid xrpc path");
  throw not_implemented("Method Not Implemented");
}

RouteMatch Router::resolve_plain(ServerRequest& req) const {
  RouteMatch match;
  // The routes of the request's method first, in registration order...
  for (const PlainEntry& r : routes_) {
    if (!method_matches(r.http_method, req.method) || !r.filter.may_match(req.path)) continue;
    std::smatch groups;
    if (!std::regex_match(req.path, groups, r.regex)) continue;
    for (std::size_t i = 1; i < groups.size(); ++i) req.path_params.push_back(groups[i].str());
    req.route = r.pattern;
    if (r.handler) match.handler = &r.handler;
    if (r.stream_handler) match.stream_handler = &r.stream_handler;
    return match;
  }
  // ...then the others, only to tell a 405 (with Allow) from a 404.
  std::vector<std::string> allowed;
  for (const PlainEntry& r : routes_) {
    if (method_matches(r.http_method, req.method) || !r.filter.may_match(req.path)) continue;
    if (!std::regex_match(req.path, r.regex)) continue;
    if (std::find(allowed.begin(), allowed.end(), r.http_method) == allowed.end())
      allowed.push_back(r.http_method);
  }
  if (allowed.empty()) {
    match.response = ServerResponse::error(404, "NotFound", "Not Found");
    return match;
  }
  std::string allow;
  for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
  if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end()) allow += ", HEAD";
  match.response = ServerResponse::error(405, "MethodNotAllowed",
                                         fmt::format("{} is not allowed here", req.method))
                       .header("Allow", allow);
  return match;
}

ServerResponse respond_or_error(const std::function<ServerResponse()>& produce,
                                std::string& internal_error) {
  try {
    return produce();
  } catch (const XrpcError& e) {
    return from_xrpc_error(e, internal_error);
  } catch (const std::exception& e) {
    internal_error = e.what();
  } catch (...) {
    internal_error = "exception of unknown type";
  }
  return ServerResponse::error(500, "InternalServerError", "Internal Server Error");
}

}  // namespace atcr::xrpc

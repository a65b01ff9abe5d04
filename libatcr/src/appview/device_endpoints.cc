// The device flow's machine side (RFC 8628), for docker-credential-atcr:
//
//   POST /auth/device/code   form (or JSON): device_name, host
//     -> {device_code, user_code, verification_uri, verification_uri_complete,
//         expires_in, interval}; 429 {error: slow_down} while the caller's
//         address has too many codes waiting
//   POST /auth/device/token  form (or JSON): grant_type =
//        urn:ietf:params:oauth:grant-type:device_code, device_code
//     -> 400 {error: authorization_pending | slow_down | access_denied |
//             expired_token | invalid_grant | invalid_request |
//             unsupported_grant_type, error_description}
//     -> 200 {device_secret, did, handle, token_type: "device_secret"}
//
// Errors use OAuth's format (RFC 6749 5.2), not the registry's. The person
// approves on /device (device_pages.cc); the secret then works as the
// Basic password at /auth/token (auth_endpoints.cc).
#include <fmt/core.h>

#include "appview/appview_impl.h"
#include "appview/device_store.h"
#include "atcr/log.h"
#include "xrpc/request_target.h"

namespace atcr::appview {

namespace {

constexpr std::string_view kDeviceGrantType = "urn:ietf:params:oauth:grant-type:device_code";
constexpr std::size_t kMaxFormBytes = 8192;

// An RFC 6749 5.2 error answer.
xrpc::ServerResponse oauth_error(std::string_view error, std::string_view description, int status = 400) {
  Value body(Value::Map{{"error", Value(std::string(error))}, {"error_description", Value(std::string(description))}});
  auto r = xrpc::ServerResponse::json(body, status);
  r.header("Cache-Control", "no-store");
  return r;
}

// A client mistake in the request itself.
struct BadRequest : Error {
  using Error::Error;
};

// The fields of a form-encoded (RFC 8628 says so) or JSON body.
std::map<std::string, std::string> form_fields(const xrpc::ServerRequest& req) {
  std::map<std::string, std::string> out;
  if (req.body.size() > kMaxFormBytes) throw BadRequest("the request body is too large");
  if (req.content_type() == "application/json") {
    Value v;
    try {
      v = req.json();
    } catch (const xrpc::XrpcError& e) {
      throw BadRequest(e.message());
    }
    for (const auto& [k, f] : v.as_map())
      if (f.is_string()) out[k] = f.as_string();
    return out;
  }
  try {
    for (auto& [k, v] : xrpc::parse_request_target("/?" + std::string(req.body)).params) out.emplace(k, v);
  } catch (const xrpc::XrpcError& e) {
    throw BadRequest("the form body is malformed: " + e.message());
  }
  return out;
}

std::string field_or(const std::map<std::string, std::string>& f, const char* key, std::string fallback = {}) {
  auto it = f.find(key);
  return it == f.end() || it->second.empty() ? fallback : it->second;
}

}  // namespace

void Appview::Impl::register_device_flow(xrpc::XrpcServer& server) {
  server.route("POST", "/auth/device/code",
               [this](const xrpc::ServerRequest& req) { return device_endpoint(req, &Impl::start_device_code); });
  server.route("POST", "/auth/device/token",
               [this](const xrpc::ServerRequest& req) { return device_endpoint(req, &Impl::poll_device_token); });
}

xrpc::ServerResponse Appview::Impl::device_endpoint(const xrpc::ServerRequest& req, PageHandler handler) {
  try {
    return (this->*handler)(req);
  } catch (const BadRequest& e) {
    return oauth_error("invalid_request", e.what());
  } catch (const TooManyCodes& e) {
    return oauth_error("slow_down", e.what(), 429);
  } catch (const std::exception& e) {
    log::error("appview", "{} {}: {}", req.method, req.path, e.what());
    return oauth_error("server_error", "internal error", 500);
  }
}

xrpc::ServerResponse Appview::Impl::start_device_code(const xrpc::ServerRequest& req) {
  auto f = form_fields(req);
  std::string host = field_or(f, "host", "unknown host");
  DeviceCode code = devices->start(field_or(f, "device_name", host), host, req.remote_addr);
  std::string verify = config.server.public_url + "/device";
  Value body(Value::Map{
      {"device_code", Value(code.device_code)},
      {"user_code", Value(code.user_code)},
      {"verification_uri", Value(verify)},
      {"verification_uri_complete", Value(verify + "?code=" + code.user_code)},
      {"expires_in", Value(code.expires_in)},
      {"interval", Value(code.interval)},
  });
  auto r = xrpc::ServerResponse::json(body);
  r.header("Cache-Control", "no-store");
  return r;
}

xrpc::ServerResponse Appview::Impl::poll_device_token(const xrpc::ServerRequest& req) {
  auto f = form_fields(req);
  if (field_or(f, "grant_type") != kDeviceGrantType)
    return oauth_error("unsupported_grant_type", fmt::format("grant_type must be {}", kDeviceGrantType));
  std::string device_code = field_or(f, "device_code");
  if (device_code.empty()) return oauth_error("invalid_request", "device_code is missing");
  PollResult r = devices->poll(device_code);
  switch (r.status) {
    case PollStatus::kUnknown:
      return oauth_error("invalid_grant", "unknown device_code (it was used already, or never issued)");
    case PollStatus::kPending:
      return oauth_error("authorization_pending", "waiting for the user to approve the code");
    case PollStatus::kSlowDown:
      return oauth_error("slow_down", fmt::format("polled too fast: wait {} s between requests", r.interval));
    case PollStatus::kDenied:
      return oauth_error("access_denied", "the user denied the request");
    case PollStatus::kExpired:
      return oauth_error("expired_token", "the code expired: start the login again");
    case PollStatus::kApproved:
      break;
  }
  Value body(Value::Map{
      {"device_secret", Value(r.secret)},
      {"token_type", Value("device_secret")},
      {"did", Value(r.did)},
      {"handle", Value(verified_handle(r.did))},
  });
  auto resp = xrpc::ServerResponse::json(body);
  resp.header("Cache-Control", "no-store");
  return resp;
}

std::string Appview::Impl::verified_handle(const std::string& did) {
  try {
    auto handle = resolver->resolve_did(did).handle();
    if (handle && resolve_identity(*handle).first == did) return *handle;
  } catch (const std::exception& e) {
    log::info("appview", "no verified handle for {}: {}", did, e.what());
  }
  return "";
}

}  // namespace atcr::appview

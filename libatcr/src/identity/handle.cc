#include "atcr/identity/handle.h"

#include <fmt/format.h>

#include <exception>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/identity/resolver.h"
#include "atcr/net/dns.h"
#include "http_util.h"
#include "util/text.h"

namespace atcr::identity {

namespace {

constexpr std::size_t kMaxResolverAnswer = 4096;

bool is_test_handle(std::string_view handle) { return handle.ends_with(".test"); }

// com.atproto.identity.resolveHandle on the configured service; nullopt
// when it says it cannot resolve the handle.
std::optional<std::string> resolve_with_service(const net::HttpClient& http, const std::string& handle,
                                                const std::string& service) {
  std::string base = service;
  base = std::string(util::strip_trailing_slashes(base));
  net::HttpRequest request;
  request.url = fmt::format("{}/xrpc/com.atproto.identity.resolveHandle?handle={}", base, net::url_encode(handle));
  net::HttpResponse response = http.send(request, detail::bounded(http, kMaxResolverAnswer, 0));
  if (response.status >= 400 && response.status < 500) return std::nullopt;
  if (!response.ok())
    throw net::HttpError(fmt::format("handle {}: resolver service {}: {}", handle, base, detail::describe(response)));
  try {
    Value answer = json::parse(response.text());
    const std::string& did = answer.at("did").as_string();
    syntax::validate_did(did);
    return did;
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("handle {}: resolver service {}: {}", handle, base, e.what()));
  }
}

}  // namespace

std::string normalize_resolvable_handle(std::string_view handle, const HandleOptions& options) {
  std::string h = syntax::normalize_handle(handle);
  if (syntax::is_disallowed_tld_handle(h))
    throw ResolutionError(fmt::format("handle {}: its TLD may not be resolved", h));
  if (is_test_handle(h) && !options.allow_test_handles)
    throw ResolutionError(fmt::format("handle {}: .test handles are for development only", h));
  return h;
}

std::optional<std::string> resolve_handle_dns(std::string_view handle, const HandleOptions& options) {
  std::string h = normalize_resolvable_handle(handle, options);
  std::string name = "_atproto." + h;
  std::vector<std::string> records = options.lookup_txt ? options.lookup_txt(name) : net::lookup_txt(name);
  std::optional<std::string> found;
  for (std::string_view record : records) {
    // Other TXT records may share the name; only "did=" ones count.
    if (!record.starts_with("did=")) continue;
    std::string_view did = record.substr(4);
    if (!syntax::is_valid_did(did)) continue;
    if (found && *found != did)
      throw ResolutionError(fmt::format("handle {}: DNS names two DIDs, {} and {}", h, *found, did));
    found = std::string(did);
  }
  return found;
}

std::optional<std::string> resolve_handle_https(const net::HttpClient& http, std::string_view handle,
                                                const HandleOptions& options) {
  std::string h = normalize_resolvable_handle(handle, options);
  net::HttpRequest request;
  request.url = fmt::format("{}://{}/.well-known/atproto-did", is_test_handle(h) ? "http" : "https", h);
  net::HttpResponse response = http.send(request, detail::bounded(http, kMaxAtprotoDidBytes, kHandleMaxRedirects));
  if (!response.ok()) return std::nullopt;
  std::string body = response.text();
  std::string_view did = util::trim(body);
  if (!syntax::is_valid_did(did)) return std::nullopt;
  return std::string(did);
}

namespace {

// The resolver service's answer within one resolution, asked at most once:
// a .test handle asks it first (no public DNS answers under .test, RFC
// 6761, so in development the service is the authority and a DNS lookup
// nobody answers only costs time: about a second on resolvers that
// forward), any other handle last. An unreachable service is remembered,
// and reported only if nothing else resolves the handle.
struct ServiceAnswer {
  bool asked = false;
  std::optional<std::string> did;
  std::exception_ptr failure;

  void ask(const net::HttpClient& http, const std::string& handle, const std::string& service) {
    if (asked) return;
    asked = true;
    try {
      did = resolve_with_service(http, handle, service);
    } catch (const net::HttpError&) {
      failure = std::current_exception();
    }
  }
};

}  // namespace

std::string resolve_handle(const net::HttpClient& http, std::string_view handle, const HandleOptions& options) {
  std::string h = normalize_resolvable_handle(handle, options);
  const bool has_service = !options.resolver_service.empty();
  ServiceAnswer service;
  if (has_service && is_test_handle(h)) {
    service.ask(http, h, options.resolver_service);
    if (service.did) return *service.did;
  }

  std::string dns_saw;
  bool dns_failed = false;
  try {
    if (std::optional<std::string> did = resolve_handle_dns(h, options)) return *did;
    dns_saw = "no did= TXT record";
  } catch (const net::DnsError& e) {
    dns_failed = true;
    dns_saw = e.what();
  }

  // Any failure here is about the handle's own host, so it counts as an
  // answer ("no DID") rather than as trouble on our side.
  std::string https_saw;
  try {
    if (std::optional<std::string> did = resolve_handle_https(http, h, options)) return *did;
    https_saw = "no DID at /.well-known/atproto-did";
  } catch (const net::HttpError& e) {
    https_saw = e.what();
  }

  std::string service_saw;
  if (has_service) {
    service.ask(http, h, options.resolver_service);
    if (service.failure) std::rethrow_exception(service.failure);
    if (service.did) return *service.did;
    service_saw = "; resolver service: handle not found";
  }

  std::string message =
      fmt::format("handle {} does not resolve: DNS: {}; HTTPS: {}{}", h, dns_saw, https_saw, service_saw);
  if (dns_failed) throw net::DnsError(message);
  throw ResolutionError(message);
}

}  // namespace atcr::identity

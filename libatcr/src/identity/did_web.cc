#include "atcr/identity/did_web.h"

#include <fmt/format.h>

#include <charconv>

#include "atcr/data/syntax.h"
#include "atcr/identity/resolver.h"
#include "http_util.h"

namespace atcr::identity {

namespace {

constexpr std::string_view kPrefix = "did:web:";
constexpr std::string_view kLocalhost = "localhost";
// Loopback services in tests are reached by address as well as by name
// (an in-process hold's public URL is http://127.0.0.1:<port>).
constexpr std::string_view kLoopbackV4 = "127.0.0.1";

bool is_loopback(std::string_view host) { return host == kLocalhost || host == kLoopbackV4; }

[[noreturn]] void unsupported(std::string_view did, std::string_view why) {
  throw ParseError(fmt::format("did:web \"{}\": {}", did.substr(0, 80), why));
}

struct HostPort {
  std::string_view host;
  std::string_view port;  // empty: the scheme's default
};

HostPort split(std::string_view did) {
  if (!did.starts_with(kPrefix)) unsupported(did, "not a did:web");
  syntax::validate_did(did);
  std::string_view id = did.substr(kPrefix.size());
  if (id.find(':') != std::string_view::npos) unsupported(did, "path-based did:web is not supported");
  HostPort hp{id, {}};
  if (std::size_t pct = id.find('%'); pct != std::string_view::npos) {
    std::string_view escape = id.substr(pct, 3);
    if (escape != "%3A" && escape != "%3a") unsupported(did, "the only escape allowed is %3A before a port");
    hp.host = id.substr(0, pct);
    hp.port = id.substr(pct + 3);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(hp.port.data(), hp.port.data() + hp.port.size(), port);
    if (ec != std::errc() || end != hp.port.data() + hp.port.size() || port == 0 || port > 65535 ||
        hp.port[0] == '0')
      unsupported(did, "invalid port");
    if (!is_loopback(hp.host)) unsupported(did, "a port is only allowed with localhost");
  }
  // 127.0.0.1 only as a development loopback with a port, like localhost's.
  if (hp.host == kLoopbackV4 && hp.port.empty()) unsupported(did, "an IP address is not a hostname");
  if (!is_loopback(hp.host)) {
    if (!syntax::is_valid_handle(hp.host)) unsupported(did, "not a valid hostname");
    if (syntax::is_disallowed_tld_handle(hp.host)) unsupported(did, "hostname under a disallowed TLD");
  }
  return hp;
}

}  // namespace

std::string did_web_url(std::string_view did, const DidWebOptions& options) {
  HostPort hp = split(did);
  if (is_loopback(hp.host) && !options.allow_http_localhost)
    unsupported(did, "localhost and IP addresses are only resolved in development mode");
  bool http = is_loopback(hp.host);
  std::string host = is_loopback(hp.host) ? std::string(hp.host) : syntax::normalize_handle(hp.host);
  return fmt::format("{}://{}{}{}/.well-known/did.json", http ? "http" : "https", host, hp.port.empty() ? "" : ":",
                     hp.port);
}

DidDocument resolve_did_web(const net::HttpClient& http, std::string_view did, const DidWebOptions& options) {
  std::string url = did_web_url(did, options);
  net::HttpRequest request;
  request.url = url;
  net::HttpResponse response =
      http.send(request, detail::bounded(http, kMaxDidDocumentBytes, kDidWebMaxRedirects));
  if (url.starts_with("https:") && !response.effective_url.starts_with("https:"))
    throw ResolutionError(fmt::format("{}: {} redirected to plain http ({})", did, url, response.effective_url));
  if (response.status >= 500 || response.status < 200)
    throw net::HttpError(fmt::format("{}: GET {}: {}", did, url, detail::describe(response)));
  if (!response.ok())
    throw ResolutionError(fmt::format("{}: GET {}: {}", did, url, detail::describe(response)));
  DidDocument doc;
  try {
    doc = DidDocument::parse(response.text());
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("{}: {}: {}", did, url, e.what()));
  }
  if (doc.id != did) throw ResolutionError(fmt::format("{}: {} holds the document of {}", did, url, doc.id));
  return doc;
}

}  // namespace atcr::identity

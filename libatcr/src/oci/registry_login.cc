#include "atcr/oci/registry_login.h"

#include <fmt/core.h>

#include <thread>

#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"
#include "atcr/error.h"
#include "atcr/oci/credential_store.h"
#include "atcr/oci/digest.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/media_types.h"
#include "util/text.h"

namespace atcr::oci {

namespace {

// Between a challenge's parameters: spaces and commas.
constexpr std::string_view kSeparators = " ,";

}  // namespace

std::optional<BearerChallenge> parse_bearer_challenge(std::string_view header) {
  header = util::trim(header, kSeparators);
  if (header.size() < 7 || (header.substr(0, 6) != "Bearer" && header.substr(0, 6) != "bearer") ||
      header[6] != ' ')
    return std::nullopt;
  std::string_view rest = header.substr(7);
  BearerChallenge c;
  while (!(rest = util::trim(rest, kSeparators)).empty()) {
    auto eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    std::string_view key = util::trim(rest.substr(0, eq), kSeparators);
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      std::size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value += rest[i];
      }
      rest.remove_prefix(std::min(rest.size(), i + 1));
    } else {
      auto comma = rest.find(',');
      value = std::string(util::trim(rest.substr(0, comma), kSeparators));
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma);
    }
    if (key == "realm") c.realm = value;
    else if (key == "service") c.service = value;
    else if (key == "scope") c.scope = value;
  }
  if (c.realm.empty()) return std::nullopt;
  return c;
}

namespace {

// The message of the first entry of an OCI error body, "" when there is none.
std::string first_error_message(const net::HttpResponse& r) {
  try {
    return json::parse(r.text()).at("errors").as_array().at(0).at("message").as_string();
  } catch (const std::exception&) {
    return "";
  }
}

// A token from the challenge's realm for `scope`: with Basic credentials
// when `username` is non-empty, anonymously otherwise.
std::string request_token(const net::HttpClient& http, std::string_view base, const BearerChallenge& challenge,
                          std::string_view scope, std::string_view username, std::string_view password) {
  std::string url = challenge.realm + (challenge.realm.find('?') == std::string::npos ? "?" : "&") +
                    "service=" + net::url_encode(challenge.service);
  if (!scope.empty()) url += "&scope=" + net::url_encode(scope);
  net::Headers headers;
  if (!username.empty())
    headers.emplace_back("Authorization",
                         "Basic " + base64::encode(as_bytes(std::string(username) + ":" + std::string(password))));
  net::HttpResponse r = http.get(url, headers);
  if (r.status == 401 || r.status == 403) {
    std::string why = first_error_message(r);
    std::string who = username.empty() ? "an anonymous token" : fmt::format("the credentials of {}", username);
    throw RegistryError(ErrorCode::kUnauthorized,
                        fmt::format("{} refused {}{}{}", base, who, why.empty() ? "" : ": ", why));
  }
  if (!r.ok()) throw ParseError(fmt::format("token endpoint {} answered {}", challenge.realm, r.status));
  Value body = json::parse(r.text());
  for (const char* field : {"token", "access_token"}) {
    if (const Value* t = body.is_map() ? body.find(field) : nullptr; t && t->is_string()) return t->as_string();
  }
  throw ParseError(fmt::format("token endpoint {} returned no token", challenge.realm));
}

std::string base_of(std::string_view registry_url) {
  return std::string(util::strip_trailing_slashes(registry_url));
}

}  // namespace

std::string registry_login(const net::HttpClient& http, std::string_view registry_url, std::string_view username,
                           std::string_view password, std::string_view scope) {
  std::string base = base_of(registry_url);
  net::HttpResponse ping = http.get(base + "/v2/");
  if (ping.ok()) return "";  // no auth at all
  if (ping.status != 401) throw ParseError(fmt::format("{}/v2/ answered {}, not 200 or 401", base, ping.status));
  auto challenge = parse_bearer_challenge(ping.header("www-authenticate"));
  if (!challenge) throw ParseError(fmt::format("{}/v2/ sent no Bearer challenge", base));
  return request_token(http, base, *challenge, scope, username, password);
}

namespace {

// A registry refusal as the RegistryError its body names.
[[noreturn]] void throw_registry_error(const net::HttpResponse& r, const std::string& url) {
  std::string code;
  try {
    code = json::parse(r.text()).at("errors").as_array().at(0).at("code").as_string();
  } catch (const std::exception&) {
  }
  auto known = code_from_name(code);
  if (!known) throw ParseError(fmt::format("GET {} answered {} without an OCI error", url, r.status));
  throw RegistryError(*known, first_error_message(r), {}, r.status);
}

// GET <base><path> as a puller (PullAuth): the caller's token, or a 401's
// Bearer challenge answered with a pull token (anonymous or Basic), then
// the GET again; a redirect (a blob's storage) followed without the token,
// at most 3 times. Returns a 2xx response.
net::HttpResponse registry_get(const net::HttpClient& http, const std::string& base, std::string_view name,
                               const std::string& path, net::Headers headers, std::size_t max_bytes,
                               const PullAuth& auth) {
  net::HttpRequest req{"GET", base + path, std::move(headers), {}};
  if (!auth.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + auth.token);
  net::HttpOptions options = http.options();
  options.max_response_bytes = max_bytes;
  options.max_redirects = 0;
  net::HttpResponse r = http.send(req, options);
  if (r.status == 401 && auth.token.empty()) {
    auto challenge = parse_bearer_challenge(r.header("www-authenticate"));
    if (!challenge) throw ParseError(fmt::format("GET {} answered 401 without a Bearer challenge", req.url));
    std::string token = request_token(http, base, *challenge, fmt::format("repository:{}:pull", name),
                                      auth.username, auth.password);
    req.headers.emplace_back("Authorization", "Bearer " + token);
    r = http.send(req, options);
  }
  for (int hops = 0; r.status >= 300 && r.status < 400 && !r.header("location").empty(); ++hops) {
    if (hops == 3) throw ParseError(fmt::format("GET {}: more than 3 redirects", base + path));
    std::string location = r.header("location");
    if (location.starts_with("/")) location = base + location;
    // The registry's token is for the registry: storage gets none.
    req = net::HttpRequest{"GET", location, {}, {}};
    r = http.send(req, options);
  }
  if (!r.ok()) throw_registry_error(r, req.url);
  return r;
}

}  // namespace

ServedManifest fetch_manifest(const net::HttpClient& http, std::string_view registry_url, std::string_view name,
                              std::string_view reference, const PullAuth& auth) {
  net::Headers accept{{"Accept", fmt::format("{}, {}, {}, {}", media_type::kImageManifest, media_type::kImageIndex,
                                             media_type::kDockerManifest, media_type::kDockerManifestList)}};
  net::HttpResponse r = registry_get(http, base_of(registry_url), name,
                                     fmt::format("/v2/{}/manifests/{}", name, reference), std::move(accept),
                                     kMaxFetchedManifestBytes, auth);
  return ServedManifest{std::move(r.body), r.header("content-type"), r.header("docker-content-digest")};
}

Bytes fetch_blob(const net::HttpClient& http, std::string_view registry_url, std::string_view name,
                 const Digest& digest, std::size_t max_bytes, std::string_view username, std::string_view password) {
  net::HttpResponse r = registry_get(http, base_of(registry_url), name,
                                     fmt::format("/v2/{}/blobs/{}", name, digest.str()), {}, max_bytes,
                                     PullAuth{std::string(username), std::string(password), {}});
  if (digest.algorithm() == "sha256" && Digest::of(r.body) != digest)
    throw VerifyError(fmt::format("the registry's blob {} hashes to {}", digest.str(), Digest::of(r.body).str()));
  return std::move(r.body);
}

std::string registry_base_url(std::string_view registry) {
  std::string host = registry_host(registry);
  if (auto scheme = registry.find("://"); scheme != std::string_view::npos)
    return std::string(registry.substr(0, scheme)) + "://" + host;
  bool loopback = host.starts_with("127.") || host == "localhost" || host.starts_with("localhost:") ||
                  host.starts_with("[::1]");
  return (loopback ? "http://" : "https://") + host;
}

// ---- device flow -----------------------------------------------------------

namespace {

constexpr const char* kDeviceGrantType = "urn:ietf:params:oauth:grant-type:device_code";

std::string form(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += net::url_encode(k) + "=" + net::url_encode(v);
  }
  return out;
}

Value json_answer(const net::HttpResponse& r, const std::string& url) {
  try {
    Value v = json::parse(r.text());
    if (v.is_map()) return v;
  } catch (const ParseError&) {
  }
  throw ParseError(fmt::format("{} answered {} without a JSON object", url, r.status));
}

std::string str(const Value& v, const char* key, const std::string& url, bool required = true) {
  const Value* f = v.find(key);
  if (f && f->is_string()) return f->as_string();
  if (required) throw ParseError(fmt::format("{}: the answer has no string \"{}\"", url, key));
  return "";
}

std::int64_t seconds(const Value& v, const char* key, std::int64_t fallback) {
  const Value* f = v.find(key);
  return f && f->is_integer() ? f->as_integer() : fallback;
}

}  // namespace

DeviceAuthorization start_device_login(const net::HttpClient& http, std::string_view registry_url,
                                       std::string_view device_name, std::string_view host) {
  std::string url = base_of(registry_url) + "/auth/device/code";
  net::HttpResponse r = http.post(url, "application/x-www-form-urlencoded",
                                  as_bytes(form({{"device_name", device_name}, {"host", host}})));
  Value v = json_answer(r, url);
  if (!r.ok())
    throw RegistryError(ErrorCode::kDenied, fmt::format("{} refused to start a login: {}", url,
                                                        str(v, "error_description", url, false)));
  DeviceAuthorization a;
  a.device_code = str(v, "device_code", url);
  a.user_code = str(v, "user_code", url);
  a.verification_uri = str(v, "verification_uri", url);
  a.verification_uri_complete = str(v, "verification_uri_complete", url, false);
  if (a.verification_uri_complete.empty()) a.verification_uri_complete = a.verification_uri;
  a.expires_in = std::chrono::seconds(seconds(v, "expires_in", 600));
  a.interval = std::chrono::seconds(std::max<std::int64_t>(1, seconds(v, "interval", 5)));
  return a;
}

DevicePoll poll_device_login(const net::HttpClient& http, std::string_view registry_url, std::string_view device_code) {
  std::string url = base_of(registry_url) + "/auth/device/token";
  net::HttpResponse r = http.post(url, "application/x-www-form-urlencoded",
                                  as_bytes(form({{"grant_type", kDeviceGrantType}, {"device_code", device_code}})));
  Value v = json_answer(r, url);
  DevicePoll p;
  if (r.ok()) {
    p.state = DevicePollState::kApproved;
    p.grant.secret = str(v, "device_secret", url);
    p.grant.did = str(v, "did", url);
    p.grant.handle = str(v, "handle", url, false);
    return p;
  }
  std::string error = str(v, "error", url);
  p.message = str(v, "error_description", url, false);
  if (error == "authorization_pending") p.state = DevicePollState::kPending;
  else if (error == "slow_down") p.state = DevicePollState::kSlowDown;
  else if (error == "access_denied") p.state = DevicePollState::kDenied;
  else if (error == "expired_token") p.state = DevicePollState::kExpired;
  else throw ParseError(fmt::format("{} answered {}: {} {}", url, r.status, error, p.message));
  return p;
}

DeviceGrant wait_for_device_login(const net::HttpClient& http, std::string_view registry_url,
                                  const DeviceAuthorization& start, const Sleeper& sleep) {
  auto interval = start.interval;
  auto waited = std::chrono::seconds(0);
  for (;;) {
    if (sleep) sleep(interval);
    else std::this_thread::sleep_for(interval);
    waited += interval;
    DevicePoll p = poll_device_login(http, registry_url, start.device_code);
    switch (p.state) {
      case DevicePollState::kApproved:
        return p.grant;
      case DevicePollState::kPending:
        break;
      case DevicePollState::kSlowDown:
        interval += std::chrono::seconds(5);
        break;
      case DevicePollState::kDenied:
        throw RegistryError(ErrorCode::kDenied, "the login was denied in the browser");
      case DevicePollState::kExpired:
        throw RegistryError(ErrorCode::kUnauthorized, "the login code expired before it was approved; run login again");
    }
    // A server that never answers expired_token must not keep us forever.
    if (waited > start.expires_in + std::chrono::seconds(60))
      throw RegistryError(ErrorCode::kUnauthorized, "the login code expired before it was approved; run login again");
  }
}

}  // namespace atcr::oci

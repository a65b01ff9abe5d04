// The client side of the Distribution token protocol, as docker login does
// it: GET /v2/, read the Bearer challenge, ask its realm for a token with
// Basic credentials.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/digest.h"

namespace atcr::oci {

// WWW-Authenticate: Bearer realm="...",service="...",scope="..."
struct BearerChallenge {
  std::string realm;
  std::string service;
  std::string scope;
};

// nullopt unless the header is a Bearer challenge with a realm.
std::optional<BearerChallenge> parse_bearer_challenge(std::string_view www_authenticate);

// Checks `username` + `password` against the registry at `registry_url`
// ("http://127.0.0.1:5000") and returns the token it issues. Throws
// RegistryError(UNAUTHORIZED) when the registry refuses the credentials,
// net::HttpError when it cannot be reached, ParseError for answers that do
// not follow the protocol. A registry without auth yields "".
std::string registry_login(const net::HttpClient& http, std::string_view registry_url, std::string_view username,
                           std::string_view password, std::string_view scope = {});

// A manifest as a registry served it.
struct ServedManifest {
  Bytes body;               // exactly the bytes sent
  std::string media_type;   // the Content-Type header
  std::string digest;       // the Docker-Content-Digest header, as claimed ("" if none)
};

// Largest manifest fetch_manifest() accepts (the distribution-spec lets
// registries refuse manifests over 4 MiB).
inline constexpr std::size_t kMaxFetchedManifestBytes = 4 * 1024 * 1024;

// Who a pull is made as. With a `token` (a registry Bearer token the caller
// already holds, as registry_login() gives) it is sent from the first
// request, and a 401 is final. Without one, a 401 with a Bearer challenge
// is followed as docker pull does: a token for "repository:<name>:pull"
// from the realm, anonymously when `username` is empty, else with Basic
// credentials; then the request again.
struct PullAuth {
  std::string username;
  std::string password;
  std::string token;
};

// GET <registry_url>/v2/<name>/manifests/<reference>, accepting every
// manifest and index type, as `auth` says. Nothing in the answer is
// trusted: check the bytes' digest yourself. Throws RegistryError with the
// registry's error code (MANIFEST_UNKNOWN, NAME_UNKNOWN, UNAUTHORIZED...)
// and message for a refusal, net::HttpError when it cannot be reached,
// ParseError for answers outside the protocol (a body over
// kMaxFetchedManifestBytes too).
ServedManifest fetch_manifest(const net::HttpClient& http, std::string_view registry_url, std::string_view name,
                              std::string_view reference, const PullAuth& auth);
// The same as `username` (anonymously when empty) with `password`.
inline ServedManifest fetch_manifest(const net::HttpClient& http, std::string_view registry_url,
                                     std::string_view name, std::string_view reference,
                                     std::string_view username = {}, std::string_view password = {}) {
  return fetch_manifest(http, registry_url, name, reference,
                        PullAuth{std::string(username), std::string(password), {}});
}

// GET <registry_url>/v2/<name>/blobs/<digest>, as fetch_manifest() does
// (the token challenge), following the registry's redirect to its storage
// (at most 3, without the registry's token), and checking the bytes
// against a sha256 `digest` (VerifyError otherwise). For configs and other
// small blobs: the body is held in memory, at most `max_bytes` (HttpError
// beyond). Throws as fetch_manifest().
Bytes fetch_blob(const net::HttpClient& http, std::string_view registry_url, std::string_view name,
                 const Digest& digest, std::size_t max_bytes = 4 * 1024 * 1024, std::string_view username = {},
                 std::string_view password = {});

// "127.0.0.1:5000" -> "http://127.0.0.1:5000" (loopback speaks plain
// HTTP); any other host gets https unless a scheme is given. A path is
// dropped ("https://r.example/v2/" -> "https://r.example").
std::string registry_base_url(std::string_view registry);

// ---- the device flow (RFC 8628, as the AppView serves it) ----------------

// Device secrets start with this (app passwords never do), so the registry
// and the helper tell the two apart without a round trip.
inline constexpr std::string_view kDeviceSecretPrefix = "atcr_device_";
//
//   auto start = start_device_login(http, url, "laptop", "laptop.local");
//   print(start.verification_uri_complete, start.user_code);
//   DeviceGrant grant = wait_for_device_login(http, url, start);
//
// POST <url>/auth/device/code (form: device_name, host) gives the codes;
// POST <url>/auth/device/token (form: grant_type=urn:ietf:params:oauth:
// grant-type:device_code, device_code) answers authorization_pending /
// slow_down / access_denied / expired_token until the user approves in the
// browser, then the device secret, which /auth/token accepts as the Basic
// password of the handle or DID.

struct DeviceAuthorization {
  std::string device_code;
  std::string user_code;  // "BCDF-GHJK"
  std::string verification_uri;
  std::string verification_uri_complete;
  std::chrono::seconds expires_in{0};
  std::chrono::seconds interval{5};
};

enum class DevicePollState { kPending, kSlowDown, kApproved, kDenied, kExpired };

struct DeviceGrant {
  std::string handle;  // may be "" if the DID has none
  std::string did;
  std::string secret;
};

struct DevicePoll {
  DevicePollState state = DevicePollState::kPending;
  DeviceGrant grant;    // kApproved only
  std::string message;  // the server's error_description, if any
};

// Throws RegistryError(UNAUTHORIZED/DENIED) for a refusal, net::HttpError
// when the registry cannot be reached, ParseError for answers outside the
// protocol.
DeviceAuthorization start_device_login(const net::HttpClient& http, std::string_view registry_url,
                                       std::string_view device_name, std::string_view host);
DevicePoll poll_device_login(const net::HttpClient& http, std::string_view registry_url, std::string_view device_code);

// Polls every `interval` (5 s more after each slow_down, as RFC 8628 3.5
// asks) until approval; throws RegistryError(DENIED) when the user denies,
// RegistryError(UNAUTHORIZED) when the code expires. `sleep` is for tests.
using Sleeper = std::function<void(std::chrono::seconds)>;
DeviceGrant wait_for_device_login(const net::HttpClient& http, std::string_view registry_url,
                                  const DeviceAuthorization& start, const Sleeper& sleep = {});

}  // namespace atcr::oci

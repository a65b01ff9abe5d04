// The client side of the Distribution token protocol, as docker login does
// it: GET /v2/, read the Bearer challenge, ask its realm for a token with
// Basic credentials.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "atcr/net/http_client.h"

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

}  // namespace atcr::oci

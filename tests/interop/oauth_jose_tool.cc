// Prints, as one JSON object, what atcr::oauth sends an authorization
// server and a PDS: a DPoP proof for a resource request (nonce, ath), a
// confidential client's metadata (jwks) and a client assertion. The `jose`
// npm package checks them in oauth-jose.mjs.
#include <iostream>

#include "atcr/data/json.h"
#include "atcr/identity/resolver.h"
#include "atcr/oauth/client.h"
#include "atcr/oauth/jose.h"

using namespace atcr;

namespace {

class NoResolver : public identity::Resolver {
 public:
  identity::DidDocument resolve_did(std::string_view, bool) override { throw identity::ResolutionError("none"); }
  std::string resolve_handle(std::string_view, bool) override { throw identity::ResolutionError("none"); }
  identity::Identity resolve(std::string_view, bool) override { throw identity::ResolutionError("none"); }
};

}  // namespace

int main() {
  NoResolver resolver;
  PrivateKey client_key = PrivateKey::generate(KeyType::kP256);
  oauth::Client client({.base_url = "https://registry.example", .client_key = client_key}, resolver, nullptr);
  Value metadata = client.metadata();
  const std::string kid = metadata.find("jwks")->find("keys")->as_array()[0].find("kid")->as_string();

  const std::string url = "https://pds.example/xrpc/com.atproto.repo.putRecord";
  PrivateKey dpop_key = PrivateKey::generate(KeyType::kP256);
  Value::Map out{
      {"url", Value(url)},
      {"nonce", Value("server-nonce-1")},
      {"access_token", Value("access-token-1")},
      {"ath", Value(oauth::dpop_ath("access-token-1"))},
      {"proof", Value(oauth::make_dpop_proof(dpop_key, {.htm = "POST", .url = url + "?q=1",
                                                        .nonce = "server-nonce-1",
                                                        .access_token = "access-token-1"}))},
      {"metadata", metadata},
      {"audience", Value("https://as.example")},
      {"assertion", Value(oauth::make_client_assertion(client_key, kid, client.client_id(), "https://as.example"))},
  };
  std::cout << json::serialize(Value(std::move(out))) << "\n";
  return 0;
}

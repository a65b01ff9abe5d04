// oauth_dpop_probe: sends the reference PDS a resource request authorized
// with a stored OAuth session (access token + DPoP key, from the AppView's
// oauth_sessions table) and a DPoP proof that is right or deliberately
// wrong, through atcr::oauth and XrpcClient as the AppView would, and
// prints what came back: "ok" or "<status> <error>: <message>".
//
//   oauth_dpop_probe <pds_url> <access_token> <dpop_key_hex> ok|htu|htm|iat|ath
//
// Or tries a refresh_token grant at the token endpoint (as the loopback
// client `client_id`, with the grant's DPoP key), printing the same way:
//
//   oauth_dpop_probe refresh <token_endpoint> <client_id> <refresh_token> <dpop_key_hex>
#include <iostream>

#include "atcr/data/json.h"
#include "atcr/encoding/hex.h"
#include "atcr/oauth/client.h"
#include "atcr/oauth/jose.h"
#include "atcr/xrpc/client.h"
#include "atcr/xrpc/service_auth.h"

using namespace atcr;

namespace {

std::string field(const net::HttpResponse& r, const char* name) {
  try {
    Value body = json::parse(r.text());
    const Value* v = body.is_map() ? body.find(name) : nullptr;
    return v && v->is_string() ? v->as_string() : "";
  } catch (const std::exception&) {
    return "";
  }
}

int refresh(const std::string& token_endpoint, const std::string& client_id, const std::string& refresh_token,
            const PrivateKey& key) {
  net::HttpClient http;
  std::string form = xrpc::Params{{"grant_type", "refresh_token"}, {"refresh_token", refresh_token},
                                  {"client_id", client_id}}
                         .encode();
  std::string nonce;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string proof = oauth::make_dpop_proof(key, {.htm = "POST", .url = token_endpoint, .nonce = nonce});
    net::HttpResponse r = http.post(token_endpoint, "application/x-www-form-urlencoded", as_bytes(form),
                                    {{"DPoP", proof}, {"Accept", "application/json"}});
    if (r.ok()) {
      std::cout << "ok\n";
      return 0;
    }
    if (attempt == 0 && field(r, "error") == "use_dpop_nonce" && !r.header("dpop-nonce").empty()) {
      nonce = r.header("dpop-nonce");
      continue;
    }
    std::cout << r.status << " " << field(r, "error") << ": " << field(r, "error_description") << "\n";
    return 0;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "refresh")
    return refresh(argv[2], argv[3], argv[4], PrivateKey::from_bytes(KeyType::kP256, hex::decode(argv[5])));
  if (argc != 5) {
    std::cerr << "usage: oauth_dpop_probe <pds_url> <access_token> <dpop_key_hex> ok|htu|htm|iat|ath\n"
                 "       oauth_dpop_probe refresh <token_endpoint> <client_id> <refresh_token> <dpop_key_hex>\n";
    return 2;
  }
  std::string pds = argv[1], access = argv[2], mode = argv[4];
  PrivateKey key = PrivateKey::from_bytes(KeyType::kP256, hex::decode(argv[3]));
  xrpc::XrpcClient client(pds);
  const std::string nsid = "com.atproto.server.getSession";
  std::string url = client.url(nsid);
  std::string nonce;
  for (int attempt = 0; attempt < 2; ++attempt) {
    oauth::DpopProofParams p{.htm = "GET", .url = url, .nonce = nonce, .access_token = access};
    if (mode == "htu") p.url = client.url("com.atproto.repo.putRecord");
    if (mode == "htm") p.htm = "POST";
    if (mode == "iat") p.iat = xrpc::unix_now() - 3600;
    if (mode == "ath") p.access_token = access + "x";
    xrpc::CallOptions o;
    o.headers = {{"Authorization", "DPoP " + access}, {"DPoP", oauth::make_dpop_proof(key, p)}};
    try {
      client.query(nsid, {}, o);
      std::cout << "ok\n";
      return 0;
    } catch (const xrpc::XrpcError& e) {
      std::string fresh;
      for (const auto& [k, v] : e.headers())
        if (k == "dpop-nonce") fresh = v;
      if (attempt == 0 && !fresh.empty() && fresh != nonce &&
          e.message().find("nonce") != std::string::npos) {
        nonce = fresh;  // the server's nonce first, so only the flaw under test remains
        continue;
      }
      std::cout << e.status() << " " << e.error() << ": " << e.message() << "\n";
      return 0;
    }
  }
  return 1;
}

// oauth_dpop_probe: sends the reference PDS a resource request authorized
// with a stored OAuth session (access token + DPoP key, from the AppView's
// oauth_sessions table) and a DPoP proof that is right or deliberately
// wrong, through atcr::oauth and XrpcClient as the AppView would, and
// prints what came back: "ok" or "<status> <error>: <message>".
//
//   oauth_dpop_probe <pds_url> <access_token> <dpop_key_hex> ok|htu|htm|iat|ath
#include <iostream>

#include "atcr/encoding/hex.h"
#include "atcr/oauth/client.h"
#include "atcr/oauth/jose.h"
#include "atcr/xrpc/client.h"
#include "atcr/xrpc/service_auth.h"

using namespace atcr;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: oauth_dpop_probe <pds_url> <access_token> <dpop_key_hex> ok|htu|htm|iat|ath\n";
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

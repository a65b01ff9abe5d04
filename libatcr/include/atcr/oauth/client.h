// An ATProto OAuth client (https://atproto.com/specs/oauth): discovery,
// pushed authorization requests with PKCE and DPoP, the code exchange and
// refreshes, for the two kinds of client ATCR runs:
//
//   - confidential (production, https base URL): client_id is
//     <base_url>/client-metadata.json, authenticated with private_key_jwt
//     (ES256, ClientOptions::client_key, published in metadata().jwks);
//   - loopback public (development, base URL on http://127.0.0.1 or
//     localhost): client_id is http://localhost?redirect_uri=...&scope=...
//
//   oauth::Client client(options, resolver, http);
//   PendingAuthorization p = client.start("alice.example.com");   // discovery + PAR
//   redirect the browser to p.authorization_url; keep p (by p.state)
//   TokenSet t = client.finish(p, {code, state, iss});             // on the callback
//
// Checks made: the PDS names exactly one authorization server, whose
// metadata's issuer is its own origin and which supports PAR, S256 and
// ES256 DPoP; the callback's state and iss match the request; the token
// response is DPoP-bound, has the atproto scope, and its `sub` is the DID
// the user started from (or, from a PDS URL, a DID whose PDS names this
// authorization server, checked for every login).
//
// DPoP nonces: the latest DPoP-Nonce of each server origin is remembered
// and a `use_dpop_nonce` refusal is retried once with the new one.
//
// Errors: OAuthError (the server's error code and description, or ours for a
// failed check), identity::ResolutionError, net::HttpError. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/crypto/keys.h"
#include "atcr/data/value.h"
#include "atcr/error.h"
#include "atcr/identity/resolver.h"
#include "atcr/net/http_client.h"
#include "atcr/xrpc/client.h"

namespace atcr::oauth {

class OAuthError : public Error {
 public:
  // `error`: the OAuth error code ("invalid_grant", "access_denied", ...) or
  // one of ours ("invalid_state", "issuer_mismatch", "subject_mismatch",
  // "invalid_metadata", "invalid_token_response"); `status`: the HTTP
  // status of a server's refusal, 0 for our own checks.
  OAuthError(std::string error, std::string description, int status = 0);
  const std::string& error() const noexcept { return error_; }
  const std::string& description() const noexcept { return description_; }
  int status() const noexcept { return status_; }

 private:
  std::string error_;
  std::string description_;
  int status_;
};

struct ClientOptions {
  // Where the app is served, "https://registry.example.com" (confidential)
  // or "http://127.0.0.1:5000" (loopback public client). No trailing '/'.
  std::string base_url;
  std::string scope = "atproto transition:generic";
  std::string client_name = "ATCR";
  std::string redirect_path = "/auth/oauth/callback";
  // The confidential client's signing key (P-256); unused for loopback.
  std::optional<PrivateKey> client_key{};
  // Accept http:// authorization servers and PDSes (development PDS).
  bool allow_http = false;
};

// An authorization server's metadata, the parts a client uses.
struct AuthServer {
  std::string issuer;
  std::string par_endpoint;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string revocation_endpoint;  // RFC 7009; "" if the server names none
};

// What the user typed, resolved: the account (unless they typed a PDS URL)
// and its authorization server.
struct Discovery {
  std::string did;     // "" when started from a PDS URL
  std::string handle;  // "" when unknown
  std::string pds_url;
  AuthServer server;
};

// One authorization in flight, from start() to finish(). Keep it by state,
// server-side, and use it once.
struct PendingAuthorization {
  std::string state;
  Discovery discovery;
  std::string code_verifier;
  PrivateKey dpop_key;
  std::string authorization_url;  // send the browser here
  std::int64_t created_at = 0;    // unix seconds
};

// The query of the redirect back to us.
struct CallbackParams {
  std::string code;
  std::string state;
  std::string iss;
  std::string error;              // set when the user or server refused
  std::string error_description;
};

// A DPoP-bound grant for one account.
struct TokenSet {
  std::string did;
  std::string handle;  // "" if the DID document's handle does not verify
  std::string pds_url;
  std::string issuer;
  std::string token_endpoint;
  std::string scope;
  std::string access_token;
  std::string refresh_token;
  std::int64_t expires_at = 0;  // unix seconds
};

class Client {
 public:
  // ParseError for a base_url that is neither https nor loopback http, or a
  // confidential client without a P-256 key. The resolver must outlive it.
  Client(ClientOptions options, identity::Resolver& resolver, std::shared_ptr<const net::HttpClient> http);

  bool confidential() const { return confidential_; }
  const std::string& client_id() const { return client_id_; }
  const std::string& redirect_uri() const { return redirect_uri_; }
  const ClientOptions& options() const { return options_; }
  // The client metadata document (served at client_id when confidential).
  Value metadata() const;
  // {"keys": [the client key's public JWK]} ({"keys": []} for loopback).
  Value jwks() const;

  // Handle, DID, or PDS URL -> account and authorization server. Unless
  // allow_http, a typed URL naming an IP address, localhost or a dotless
  // name is refused (OAuthError "invalid_request"): the AppView fetches it.
  Discovery discover(std::string_view input) const;
  // discover() then PAR: the authorization to send the browser to.
  PendingAuthorization start(std::string_view input) const;
  // The callback: checks state/iss, exchanges the code, checks the grant.
  TokenSet finish(const PendingAuthorization& pending, const CallbackParams& callback) const;
  // A refresh_token grant (refresh tokens are single-use: callers
  // serialise refreshes of one grant). OAuthError "invalid_grant" means the
  // grant is gone (revoked, expired): sign in again.
  TokenSet refresh(const TokenSet& tokens, const PrivateKey& dpop_key) const;
  // Ends the grant at its authorization server (RFC 7009: the refresh
  // token, else the access token, sent to the metadata's
  // revocation_endpoint with the client's authentication and a DPoP proof
  // of the grant's key, as the token endpoint wants them). The server
  // answers 200 even for a token it no longer knows. OAuthError
  // "unsupported_revocation" if the server names no revocation endpoint.
  void revoke(const TokenSet& tokens, const PrivateKey& dpop_key) const;

  // The server's latest DPoP-Nonce for the origin of `url` ("" if none),
  // and remembering a new one (from any response's DPoP-Nonce header).
  std::string nonce_for(std::string_view url) const;
  void remember_nonce(std::string_view url, std::string_view nonce) const;

  // The authorization server a PDS names, with its metadata checked.
  AuthServer server_of_pds(const std::string& pds_url) const;
  // The metadata of the authorization server `issuer`, checked.
  AuthServer server_metadata(const std::string& issuer) const;

 private:
  net::HttpResponse post_dpop(const std::string& url, const std::function<std::string()>& form_body,
                              const PrivateKey& dpop_key) const;
  std::string client_auth_params(const AuthServer& server) const;
  TokenSet token_request(const xrpc::Params& form, const Discovery& expected, const PrivateKey& dpop_key) const;
  Value get_json(const std::string& url, std::string_view what) const;
  void check_url(std::string_view url, std::string_view what) const;

  ClientOptions options_;
  identity::Resolver& resolver_;
  std::shared_ptr<const net::HttpClient> http_;
  bool confidential_;
  std::string client_id_;
  std::string redirect_uri_;
  std::string key_id_;
  mutable std::mutex nonce_mu_;
  mutable std::map<std::string, std::string> nonces_;  // origin -> nonce
};

// True for http://127.0.0.1[:port], http://localhost[:port], http://[::1][:port].
bool is_loopback_url(std::string_view url);
// "scheme://host[:port]" of a URL.
std::string url_origin(std::string_view url);

}  // namespace atcr::oauth

// A test-side ATProto OAuth authorization server and PDS on one origin
// (like the reference PDS, which is both), honest unless told otherwise:
// PAR, the code exchange and refreshes with DPoP and server nonces checked by
// atcr::oauth's own verifier, and one XRPC method (getSession) that wants a
// DPoP-bound token. For tests of the mechanics and attacks the reference PDS
// cannot be made to show; the happy path is tested against the real one.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/identity/resolver.h"
#include "atcr/net/http_client.h"
#include "atcr/oauth/jose.h"
#include "atcr/xrpc/server.h"

namespace atcr::test {

using namespace std::chrono_literals;


inline const std::string kDid = "did:plc:alice7fhzbvaiqzgqg2fd6a";
inline const std::string kOtherDid = "did:plc:mallory3fhzbvaiqzgqg2fd6";

inline std::string form_field(const std::vector<std::pair<std::string, std::string>>& form, std::string_view name) {
  for (const auto& [k, v] : form)
    if (k == name) return v;
  return {};
}

// An authorization server and PDS on one origin, honest unless told not to be.
class FakeOAuthServer {
 public:
  // What it gets wrong on purpose.
  std::string metadata_issuer;  // "" = its own origin
  std::string sub = kDid;       // the token response's sub
  std::string names_server;     // the AS its resource metadata names ("" = itself)
  bool revoked = false;         // refresh_token grants refused
  std::atomic<int> refreshes{0};
  std::atomic<int> revocations{0};  // tokens revoked at /oauth/revoke
  std::atomic<int> as_nonce_refusals{0};
  std::atomic<int> pds_nonce_refusals{0};

  FakeOAuthServer() {
    xrpc::ServerOptions o;
    o.logger = nullptr;
    server_ = std::make_unique<xrpc::XrpcServer>(o);
    server_->route("GET", "/\\.well-known/oauth-protected-resource", [this](const xrpc::ServerRequest&) {
      return xrpc::ServerResponse::json(Value(Value::Map{
          {"resource", Value(base)},
          {"authorization_servers", Value(Value::Array{Value(names_server.empty() ? base : names_server)})}}));
    });
    server_->route("GET", "/\\.well-known/oauth-authorization-server", [this](const xrpc::ServerRequest&) {
      auto list = [](std::initializer_list<const char*> items) {
        Value::Array a;
        for (const char* i : items) a.push_back(Value(i));
        return Value(std::move(a));
      };
      return xrpc::ServerResponse::json(Value(Value::Map{
          {"issuer", Value(metadata_issuer.empty() ? base : metadata_issuer)},
          {"pushed_authorization_request_endpoint", Value(base + "/oauth/par")},
          {"authorization_endpoint", Value(base + "/oauth/authorize")},
          {"token_endpoint", Value(base + "/oauth/token")},
          {"revocation_endpoint", Value(base + "/oauth/revoke")},
          {"code_challenge_methods_supported", list({"S256"})},
          {"dpop_signing_alg_values_supported", list({"ES256"})},
          {"token_endpoint_auth_methods_supported", list({"none", "private_key_jwt"})},
      }));
    });
    server_->route("POST", "/oauth/par", [this](const xrpc::ServerRequest& req) { return par(req); });
    server_->route("POST", "/oauth/token", [this](const xrpc::ServerRequest& req) { return token(req); });
    server_->route("POST", "/oauth/revoke", [this](const xrpc::ServerRequest& req) { return revoke(req); });
    server_->query("com.atproto.server.getSession", [this](const xrpc::ServerRequest& req) { return session(req); });
    server_->start();
    base = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  std::string base;

  // The code the user would bring back for a PAR request_uri.
  std::string code_for(const std::string& authorization_url) {
    std::lock_guard lock(mu_);
    for (auto& [code, r] : requests_)
      if (authorization_url.find(net::url_encode(r.request_uri)) != std::string::npos) return code;
    return {};
  }
  // The current access token stops working (as at its expiry).
  void expire_access() {
    std::lock_guard lock(mu_);
    access_ = "expired";
  }

 private:
  struct Request {
    std::string request_uri, challenge, state, redirect_uri;
    PublicKey dpop;
    bool used = false;
  };

  static xrpc::ServerResponse oauth_error(int status, std::string_view error, std::string_view description) {
    return xrpc::ServerResponse::json(
        Value(Value::Map{{"error", Value(error)}, {"error_description", Value(description)}}), status);
  }

  // The AS's DPoP check: a proof for this request with the current nonce.
  std::optional<PublicKey> check_as_proof(const xrpc::ServerRequest& req, xrpc::ServerResponse& refusal) {
    try {
      return oauth::verify_dpop_proof(req.header("dpop"), {.htm = "POST", .url = base + req.path, .nonce = kAsNonce}).key;
    } catch (const VerifyError& e) {
      bool nonce = std::string(e.what()).find("nonce") != std::string::npos;
      if (nonce) ++as_nonce_refusals;
      refusal = oauth_error(400, nonce ? "use_dpop_nonce" : "invalid_dpop_proof", e.what());
      refusal.header("DPoP-Nonce", kAsNonce);
      return std::nullopt;
    }
  }

  xrpc::ServerResponse par(const xrpc::ServerRequest& req) {
    xrpc::ServerResponse refusal;
    auto key = check_as_proof(req, refusal);
    if (!key) return refusal;
    auto form = req.form();
    if (form_field(form, "code_challenge_method") != "S256") return oauth_error(400, "invalid_request", "S256 only");
    std::lock_guard lock(mu_);
    std::string uri = "urn:ietf:params:oauth:request_uri:req-" + std::to_string(requests_.size());
    requests_.emplace("code-" + std::to_string(requests_.size()),
                      Request{uri, form_field(form, "code_challenge"), form_field(form, "state"), form_field(form, "redirect_uri"),
                              *key});
    auto r = xrpc::ServerResponse::json(Value(Value::Map{{"request_uri", Value(uri)}, {"expires_in", Value(60)}}), 201);
    r.header("DPoP-Nonce", kAsNonce);
    return r;
  }

  xrpc::ServerResponse issue(std::lock_guard<std::mutex>&, const PublicKey& dpop_key) {
    ++generation_;
    access_ = "at-" + std::to_string(generation_);
    refresh_ = "rt-" + std::to_string(generation_);
    grant_keys_.emplace(refresh_, dpop_key);
    return xrpc::ServerResponse::json(Value(Value::Map{
        {"access_token", Value(access_)}, {"refresh_token", Value(refresh_)}, {"token_type", Value("DPoP")},
        {"scope", Value("atproto transition:generic")}, {"sub", Value(sub)}, {"expires_in", Value(3600)}}));
  }

  xrpc::ServerResponse token(const xrpc::ServerRequest& req) {
    xrpc::ServerResponse refusal;
    auto key = check_as_proof(req, refusal);
    if (!key) return refusal;
    auto form = req.form();
    std::string grant = form_field(form, "grant_type");
    if (grant == "refresh_token") {
      std::this_thread::sleep_for(50ms);  // a window for concurrent refreshers to pile up
      std::lock_guard lock(mu_);
      ++refreshes;
      if (revoked) return oauth_error(400, "invalid_grant", "the grant was revoked");
      if (form_field(form, "refresh_token") != refresh_) return oauth_error(400, "invalid_grant", "refresh token replayed");
      grant_keys_.erase(refresh_);  // rotated
      return issue(lock, *key);
    }
    std::lock_guard lock(mu_);
    auto it = requests_.find(form_field(form, "code"));
    if (it == requests_.end()) return oauth_error(400, "invalid_grant", "unknown code");
    if (it->second.used) return oauth_error(400, "invalid_grant", "code replayed");
    it->second.used = true;
    if (oauth::pkce_challenge(form_field(form, "code_verifier")) != it->second.challenge)
      return oauth_error(400, "invalid_grant", "PKCE verifier mismatch");
    if (!(*key == it->second.dpop)) return oauth_error(400, "invalid_dpop_proof", "another DPoP key");
    return issue(lock, *key);
  }

  // RFC 7009, as the reference PDS does it: the grant's own DPoP key must
  // sign the request; an unknown token is a 200 that changes nothing.
  xrpc::ServerResponse revoke(const xrpc::ServerRequest& req) {
    xrpc::ServerResponse refusal;
    auto key = check_as_proof(req, refusal);
    if (!key) return refusal;
    auto form = req.form();
    std::lock_guard lock(mu_);
    std::string token = form_field(form, "token");
    auto grant = grant_keys_.find(token);
    if (grant == grant_keys_.end()) return xrpc::ServerResponse::json(Value(Value::Map{}));
    if (!(*key == grant->second)) return oauth_error(400, "invalid_grant", "DPoP proof does not match the grant's key");
    grant_keys_.erase(grant);
    ++revocations;
    if (token == refresh_) {
      revoked = true;
      access_ = "revoked";
    }
    return xrpc::ServerResponse::json(Value(Value::Map{}));
  }

  xrpc::ServerResponse session(const xrpc::ServerRequest& req) {
    std::string auth = req.header("authorization");
    std::string access = auth.rfind("DPoP ", 0) == 0 ? auth.substr(5) : "";
    try {
      oauth::verify_dpop_proof(req.header("dpop"), {.htm = "GET", .url = base + req.path, .nonce = kPdsNonce,
                                            .access_token = access});
    } catch (const VerifyError& e) {
      bool nonce = std::string(e.what()).find("nonce") != std::string::npos;
      if (nonce) ++pds_nonce_refusals;
      auto r = xrpc::ServerResponse::error(401, nonce ? "use_dpop_nonce" : "invalid_dpop_proof", e.what());
      r.header("WWW-Authenticate", nonce ? "DPoP error=\"use_dpop_nonce\"" : "DPoP error=\"invalid_dpop_proof\"");
      r.header("DPoP-Nonce", kPdsNonce);
      return r;
    }
    std::lock_guard lock(mu_);
    if (access != access_) {
      auto r = xrpc::ServerResponse::error(401, "invalid_token", "expired");
      r.header("WWW-Authenticate", "DPoP error=\"invalid_token\"");
      return r;
    }
    return xrpc::ServerResponse::json(Value(Value::Map{{"did", Value(kDid)}, {"handle", Value("alice.test")}}));
  }

  static constexpr const char* kAsNonce = "as-nonce-1";
  static constexpr const char* kPdsNonce = "pds-nonce-1";
  std::unique_ptr<xrpc::XrpcServer> server_;
  std::mutex mu_;
  std::map<std::string, Request> requests_;  // code -> request
  int generation_ = 0;
  std::string access_, refresh_;
  std::map<std::string, PublicKey> grant_keys_;  // live refresh token -> its grant's DPoP key
};

// DIDs whose documents name a PDS (handles: "alice.test" -> kDid).
class PdsResolver : public identity::Resolver {
 public:
  std::map<std::string, std::string> pds;  // did -> PDS URL
  identity::DidDocument resolve_did(std::string_view did, bool) override {
    auto it = pds.find(std::string(did));
    if (it == pds.end()) throw identity::ResolutionError("unknown DID " + std::string(did));
    identity::DidDocument doc;
    doc.id = std::string(did);
    doc.services.push_back({"atproto_pds", "AtprotoPersonalDataServer", it->second});
    return doc;
  }
  std::string resolve_handle(std::string_view handle, bool) override {
    if (handle == "alice.test") return kDid;
    throw identity::ResolutionError("unknown handle");
  }
  identity::Identity resolve(std::string_view input, bool fresh) override {
    std::string did = input.rfind("did:", 0) == 0 ? std::string(input) : resolve_handle(input, fresh);
    return identity::Identity{did, did == kDid ? std::optional<std::string>("alice.test") : std::nullopt,
                              resolve_did(did, fresh)};
  }
};

}  // namespace atcr::test

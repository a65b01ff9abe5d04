// Registry tokens: the JWTs the AppView issues at /auth/token and accepts
// as "Authorization: Bearer" on /v2/ (the distribution "token"
// authentication flow), plus the scopes and challenges around them.
//
//   RegistryTokenIssuer issuer(PrivateKey::load_or_generate(path, KeyType::kP256),
//                              "https://registry.example", "registry.example");
//   std::string jwt = issuer.mint(did, {{"repository", "alice.test/app", {"pull", "push"}}},
//                                 std::chrono::minutes(15));
//   RegistryClaims c = issuer.verify(jwt);      // throws TokenError
//   c.allows("alice.test/app", "push");
//
// Token: header {"alg":"ES256","typ":"JWT","kid":<key thumbprint-ish id>},
// payload {iss, sub: the user's DID ("" for anonymous), aud: service,
// exp, nbf, iat, jti, access: [{type, name, actions}], auth_method: how the
// user signed in, "oauth" (a device secret of the credential helper) or
// "app_password"; absent for anonymous tokens}. Signed with the
// AppView's P-256 key (64-byte r||s, base64url), verified only here: no
// other party needs to read them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/error.h"

namespace atcr::appview {

// A token that is malformed, badly signed, expired or for another service.
class TokenError : public Error {
 public:
  using Error::Error;
};

// One "access" entry: a resource and the actions granted on it.
struct AccessEntry {
  std::string type;  // "repository" (also "registry" for catalog)
  std::string name;  // "alice.test/app"
  std::vector<std::string> actions;  // "pull", "push", "delete", "*"
  friend bool operator==(const AccessEntry&, const AccessEntry&) = default;
};

// Parses a requested scope, "repository:<name>:<action>[,<action>...]".
// The name may itself contain ':' (DIDs: "repository:did:plc:abc/app:pull"),
// so the type ends at the first ':' and the actions start after the last.
// nullopt for anything malformed (the token endpoint ignores such scopes,
// as distribution does).
std::optional<AccessEntry> parse_scope(std::string_view scope);
// Every scope in the query's `scope` parameters; one parameter may carry
// several separated by spaces.
std::vector<AccessEntry> parse_scopes(const std::vector<std::string>& scope_params);
// "repository:<name>:<a>,<b>"
std::string format_scope(const AccessEntry& entry);

// WWW-Authenticate: Bearer realm="<realm>",service="<service>"[,scope="<scope>"]
// [,error="insufficient_scope"]. Scope empty: no scope parameter.
std::string bearer_challenge(std::string_view realm, std::string_view service, std::string_view scope,
                             bool insufficient_scope = false);

struct RegistryClaims {
  std::string issuer;
  std::string subject;  // the user's DID; "" for an anonymous token
  std::string audience;
  std::int64_t expires_at = 0;
  std::int64_t issued_at = 0;
  std::vector<AccessEntry> access;
  std::string auth_method;  // "oauth", "app_password"; "" for anonymous tokens

  bool anonymous() const { return subject.empty(); }
  // True if some "repository" entry for `name` grants `action` (or "*").
  bool allows(std::string_view name, std::string_view action) const;
};

class RegistryTokenIssuer {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  // `key` must be a P-256 key (ES256). `issuer` is the iss claim,
  // `service` the aud claim. Throws ParseError for a non-P-256 key.
  RegistryTokenIssuer(PrivateKey key, std::string issuer, std::string service, Clock clock = {});

  const std::string& service() const { return service_; }
  const std::string& issuer() const { return issuer_; }

  // `subject` "" for anonymous tokens; `auth_method` "" leaves the claim out.
  std::string mint(std::string_view subject, const std::vector<AccessEntry>& access,
                   std::chrono::seconds lifetime, std::string_view auth_method = {}) const;
  // Throws TokenError saying what is wrong. Allows 30 s of clock skew.
  // Clients send one token with many requests, so a token whose signature
  // checked out is remembered (up to a few thousand, until they expire):
  // the ECDSA verification, most of a cached manifest GET's CPU, runs once
  // per token. The time claims are checked on every call. Thread-safe.
  RegistryClaims verify(std::string_view token) const;

 private:
  struct Verified;  // claims whose signature, issuer and audience checked out
  Verified check(std::string_view token) const;

  PrivateKey key_;
  PublicKey public_key_;
  std::string issuer_;
  std::string service_;
  std::string kid_;
  Clock clock_;
  struct Memo;
  std::shared_ptr<Memo> memo_;  // shared: the issuer stays copyable
};

}  // namespace atcr::appview

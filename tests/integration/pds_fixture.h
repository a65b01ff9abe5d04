// Shared helpers for the integration tests that run against the reference
// PDS and PLC directory (tests/integration/with-pds.sh starts them and
// exports PDS_URL, PLC_URL, ...; see scripts/pds.sh).
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "required_env.h"
#include "atcr/crypto/random.h"
#include "atcr/data/value.h"
#include "atcr/encoding/hex.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/net/http_client.h"
#include "atcr/xrpc/client.h"

namespace atcr::test {

// An environment variable with-pds.sh sets; a clear failure when it is not.
inline std::string pds_env(const char* name) {
  return required_env(name, "tests/integration/with-pds.sh (meson test --suite integration does)");
}

inline std::string pds_url() { return pds_env("PDS_URL"); }
inline std::string plc_url() { return pds_env("PLC_URL"); }

// "localhost:2783" -> 2783
inline int url_port(const std::string& url) {
  auto colon = url.rfind(':');
  REQUIRE_MESSAGE(colon != std::string::npos, "no port in " << url);
  return std::stoi(url.substr(colon + 1));
}

// Lowercase letters and digits, for unique handles and rkeys per run.
inline std::string random_token(std::size_t n) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  auto bytes = random_bytes(n);
  std::string out;
  for (auto b : bytes) out += kAlphabet[b % 32];
  return out;
}

// A handle of this run on the PDS's .test domain: "t<10 random>.test".
inline std::string unique_handle() { return "t" + random_token(10) + ".test"; }

// A DID document as one comparable, readable string (a failed CHECK shows
// both sides): id, alsoKnownAs, methods as did:keys, services.
inline std::string describe(const identity::DidDocument& doc) {
  std::string out = "id=" + doc.id + "\n";
  for (const auto& a : doc.also_known_as) out += "aka=" + a + "\n";
  for (const auto& m : doc.verification_methods) out += "key #" + m.id + "=" + m.key.did_key() + "\n";
  for (const auto& s : doc.services) out += "service #" + s.id + " " + s.type + "=" + s.endpoint + "\n";
  return out;
}

inline std::shared_ptr<const net::HttpClient> test_http() {
  net::HttpOptions o;
  o.timeout = std::chrono::seconds(30);
  o.connect_timeout = std::chrono::seconds(5);
  return std::make_shared<const net::HttpClient>(o);
}

struct Account {
  std::string handle;
  std::string did;
  std::string password;
  std::string access_jwt;
  std::string refresh_jwt;
};

// Creates an account on the reference PDS (com.atproto.server.createAccount;
// the PDS registers its did:plc with the PLC directory).
inline Account create_account(const xrpc::XrpcClient& pds, std::string handle = unique_handle()) {
  Account a;
  a.handle = handle;
  a.password = "pw-" + random_token(16);
  Value::Map input{
      {"handle", Value(a.handle)},
      {"email", Value(a.handle.substr(0, a.handle.find('.')) + "@example.com")},
      {"password", Value(a.password)},
  };
  Value out;
  try {
    out = pds.procedure("com.atproto.server.createAccount", Value(std::move(input)));
  } catch (const std::exception& e) {
    FAIL("createAccount " << handle << " on " << pds.service_url() << " failed: " << std::string(e.what()));
  }
  a.did = out.at("did").as_string();
  a.access_jwt = out.at("accessJwt").as_string();
  a.refresh_jwt = out.at("refreshJwt").as_string();
  REQUIRE_MESSAGE(a.did.rfind("did:plc:", 0) == 0, "the PDS gave " << handle << " the DID " << a.did);
  return a;
}

// A resolver aimed at the loopback servers: DIDs from the reference PLC
// directory, .test handles through the PDS's resolveHandle (DNS is never
// asked: no TXT records exist for .test).
inline identity::ResolverOptions loopback_resolver_options() {
  identity::ResolverOptions o;
  o.plc_directory = plc_url();
  o.handles.allow_test_handles = true;
  o.handles.resolver_service = pds_url();
  o.handles.lookup_txt = [](std::string_view) { return std::vector<std::string>{}; };
  o.did_web.allow_http_localhost = true;
  o.http.timeout = std::chrono::seconds(15);
  return o;
}

}  // namespace atcr::test

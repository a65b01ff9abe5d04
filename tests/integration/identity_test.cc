// Identity resolution against the reference servers: accounts created on the
// real PDS (which registers their did:plc with the real PLC directory) are
// resolved by libatcr's DirectoryResolver, handle -> DID -> document and
// back. Run through with-pds.sh.
#include <doctest/doctest.h>

#include <string>

#include "atcr/data/json.h"
#include "atcr/identity/did_web.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/identity/handle.h"
#include "atcr/identity/plc_client.h"
#include "pds_fixture.h"

using namespace atcr;
using namespace atcr::test;
using identity::DirectoryResolver;
using identity::ResolutionError;

namespace {

// The signing key the PDS itself says the account has.
std::string pds_signing_did_key(const xrpc::XrpcClient& pds, const Account& a) {
  xrpc::CallOptions auth;
  auth.bearer = a.access_jwt;
  Value creds = pds.query("com.atproto.identity.getRecommendedDidCredentials", {}, auth);
  return creds.at("verificationMethods").at("atproto").as_string();
}

void check_identity(const identity::Identity& id, const Account& a, const std::string& pds_key) {
  CHECK(id.did == a.did);
  REQUIRE_MESSAGE(id.handle.has_value(), "handle of " << a.did << " did not verify");
  CHECK(*id.handle == a.handle);
  CHECK(id.document.id == a.did);
  CHECK(id.document.handle() == a.handle);
  REQUIRE_MESSAGE(id.document.pds_endpoint().has_value(), "no #atproto_pds in the document of " << a.did);
  CHECK(*id.document.pds_endpoint() == pds_url());
  auto key = id.document.signing_key();
  REQUIRE_MESSAGE(key.has_value(), "no #atproto key in the document of " << a.did);
  CHECK(key->did_key() == pds_key);
  CHECK(key->type() == KeyType::kSecp256k1);
}

}  // namespace

TEST_CASE("accounts created on the reference PDS resolve and verify both ways") {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  // Made once: doctest runs this body again for each SUBCASE.
  static const Account alice = create_account(pds);
  static const Account bob = create_account(pds);
  static const std::string alice_key = pds_signing_did_key(pds, alice);
  static const std::string bob_key = pds_signing_did_key(pds, bob);
  CHECK(alice_key != bob_key);

  DirectoryResolver resolver(loopback_resolver_options());

  SUBCASE("handle -> DID through the PDS's resolveHandle") {
    CHECK(resolver.resolve_handle(alice.handle) == alice.did);
    CHECK(resolver.resolve_handle(bob.handle) == bob.did);
    // Handles are case-insensitive.
    std::string upper = alice.handle;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(resolver.resolve_handle(upper) == alice.did);
  }

  SUBCASE("handle -> verified identity") {
    check_identity(resolver.resolve(alice.handle), alice, alice_key);
    check_identity(resolver.resolve(bob.handle), bob, bob_key);
  }

  SUBCASE("DID -> verified identity (the handle is confirmed by resolving it back)") {
    check_identity(resolver.resolve(alice.did), alice, alice_key);
    check_identity(resolver.resolve(bob.did), bob, bob_key);
  }

  SUBCASE("the document matches what the PDS reports") {
    auto doc = resolver.resolve_did(alice.did);
    Value repo = pds.query("com.atproto.repo.describeRepo", xrpc::Params().add("repo", alice.did));
    CHECK(repo.at("handle").as_string() == alice.handle);
    CHECK(repo.at("handleIsCorrect").as_bool());
    // describeRepo embeds the DID document the PDS resolved.
    auto pds_doc = identity::DidDocument::parse(json::serialize(repo.at("didDoc")));
    CHECK(describe(pds_doc) == describe(doc));
  }

  SUBCASE("the same document in the npm server's legacy format") {
    // plc.cjs serves the @did-plc/server rendering unchanged under /legacy:
    // EcdsaSecp256k1VerificationKey2019, uncompressed points, relative ids.
    auto legacy_text = http->get(plc_url() + "/legacy/" + alice.did);
    REQUIRE(legacy_text.status == 200);
    INFO("legacy document: " << legacy_text.text());
    CHECK(legacy_text.text().find("EcdsaSecp256k1VerificationKey2019") != std::string::npos);

    auto options = loopback_resolver_options();
    options.plc_directory = plc_url() + "/legacy";
    DirectoryResolver legacy(options);
    auto doc = legacy.resolve_did(alice.did);
    REQUIRE(doc.signing_key().has_value());
    CHECK(doc.signing_key()->did_key() == alice_key);
    CHECK(doc.pds_endpoint() == pds_url());
    check_identity(legacy.resolve(alice.handle), alice, alice_key);
  }

  SUBCASE("PlcClient reads the directory's state for a PDS-made DID") {
    identity::PlcClient plc(http, plc_url());
    auto state = plc.data(alice.did);
    CHECK(state.verification_methods.at("atproto") == alice_key);
    CHECK(state.also_known_as == std::vector<std::string>{"at://" + alice.handle});
    CHECK(state.services.at("atproto_pds").endpoint == pds_url());
    CHECK(state.services.at("atproto_pds").type == "AtprotoPersonalDataServer");
    // The directory renders the state the way PlcState does.
    CHECK(describe(state.to_document(alice.did)) == describe(plc.document(alice.did)));
    // The PDS signed the genesis op with its own rotation key; the
    // directory's audit log verifies.
    auto log = plc.audit_log(alice.did);
    REQUIRE(log.size() == 1);
    auto current = identity::verify_plc_audit_log(alice.did, log);
    CHECK(current.is_genesis());
    CHECK(current == plc.last_op(alice.did));
  }
}

TEST_CASE("handles resolve over HTTP /.well-known/atproto-did, reached with connect_to") {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  Account alice = create_account(pds);
  const int port = url_port(pds_url());

  auto options = loopback_resolver_options();
  options.handles.resolver_service.clear();  // no fallback: HTTP must do it
  // The .test handle is fetched over plain http on port 80: send it to the
  // PDS, which answers /.well-known/atproto-did by the Host header.
  options.http.connect_to = {alice.handle + ":80:127.0.0.1:" + std::to_string(port)};

  net::HttpClient direct(options.http);
  auto did = identity::resolve_handle_https(direct, alice.handle, options.handles);
  REQUIRE_MESSAGE(did.has_value(), "no DID at http://" << alice.handle << "/.well-known/atproto-did");
  CHECK(*did == alice.did);

  DirectoryResolver resolver(options);
  auto id = resolver.resolve(alice.handle);
  CHECK(id.did == alice.did);
  CHECK(id.handle == alice.handle);

  // A handle the PDS does not host: its well-known answers 404, so no DID.
  std::string stranger = unique_handle();
  options.http.connect_to = {stranger + ":80:127.0.0.1:" + std::to_string(port)};
  DirectoryResolver resolver2(options);
  CHECK_THROWS_AS(resolver2.resolve_handle(stranger), ResolutionError);
}

TEST_CASE("a handle change on the PDS is seen after a fresh resolve") {
  auto http = test_http();
  xrpc::XrpcClient pds(pds_url(), http);
  Account a = create_account(pds);
  DirectoryResolver resolver(loopback_resolver_options());
  REQUIRE(resolver.resolve(a.did).handle == a.handle);

  const std::string new_handle = unique_handle();
  xrpc::CallOptions auth;
  auth.bearer = a.access_jwt;
  Value::Map input{{"handle", Value(new_handle)}};
  pds.procedure("com.atproto.identity.updateHandle", Value(std::move(input)), {}, auth);

  // The cached document still names the old handle...
  CHECK(resolver.resolve_did(a.did).handle() == a.handle);
  // ...a fresh one the new handle, which verifies both ways.
  CHECK(resolver.resolve_did(a.did, true).handle() == new_handle);
  auto id = resolver.resolve(new_handle, true);
  CHECK(id.did == a.did);
  CHECK(id.handle == new_handle);
  // The old handle no longer resolves (the PDS released it).
  CHECK_THROWS_AS(resolver.resolve(a.handle, true), ResolutionError);
  // invalidate() forgets the cached DID document.
  resolver.invalidate(a.did);
  CHECK(resolver.resolve(a.did).handle == new_handle);
}

TEST_CASE("unknown identities are resolution errors, not crashes or hangs") {
  DirectoryResolver resolver(loopback_resolver_options());
  CHECK_THROWS_AS(resolver.resolve_did("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), ResolutionError);
  CHECK_THROWS_AS(resolver.resolve_handle(unique_handle()), ResolutionError);
  CHECK_THROWS_AS(resolver.resolve(unique_handle()), ResolutionError);
  identity::PlcClient plc(test_http(), plc_url());
  CHECK_THROWS_AS(plc.document("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), ResolutionError);
  CHECK_THROWS_AS(plc.audit_log("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), ResolutionError);
}

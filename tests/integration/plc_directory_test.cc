// did:plc operations built and signed by libatcr, submitted to the
// reference PLC directory (@did-plc/server, whose validation is the
// reference's): genesis, updates, a recovery fork that nullifies an op, a
// tombstone; every resulting audit log verifies with libatcr's verifier and
// agrees with the directory about what is nullified. Run through
// with-pds.sh.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/identity/plc.h"
#include "atcr/identity/plc_client.h"
#include "pds_fixture.h"

using namespace atcr;
using namespace atcr::test;
using identity::PlcClient;
using identity::PlcError;
using identity::PlcOperation;
using identity::PlcState;

namespace {

struct NewDid {
  PrivateKey rot0 = PrivateKey::generate(KeyType::kSecp256k1);  // highest authority
  PrivateKey rot1 = PrivateKey::generate(KeyType::kP256);
  PrivateKey signing = PrivateKey::generate(KeyType::kSecp256k1);
  std::string handle = unique_handle();
  PlcState state = PlcState::atproto({rot0.public_key().did_key(), rot1.public_key().did_key()},
                                     signing.public_key(), handle, "https://pds-one.example.com");
  PlcOperation genesis = [this] {
    auto op = PlcOperation::genesis(state);
    op.sign(rot0);
    return op;
  }();
  std::string did = genesis.did();
};

// The audit log verifies with libatcr and its current op is `expected`.
void check_audit_log(const PlcClient& plc, const std::string& did, const PlcOperation& expected,
                     std::size_t entries) {
  auto log = plc.audit_log(did);
  REQUIRE(log.size() == entries);
  for (const auto& e : log) {
    CHECK(e.did == did);
    CHECK(e.cid == e.operation.cid().to_string());
  }
  PlcOperation current = [&] {
    try {
      return identity::verify_plc_audit_log(did, log);
    } catch (const std::exception& e) {
      FAIL("the reference directory's audit log of " << did << " does not verify: " << std::string(e.what()));
      throw;  // not reached: FAIL throws
    }
  }();
  CHECK(current == expected);
  CHECK(plc.last_op(did) == expected);
}

}  // namespace

TEST_CASE("a did:plc made by libatcr is accepted, resolved and updated by the reference directory") {
  auto http = test_http();
  PlcClient plc(http, plc_url());
  NewDid d;
  INFO("DID " << d.did);

  plc.submit(d.did, d.genesis);
  CHECK(plc.data(d.did) == d.state);
  CHECK(describe(plc.document(d.did)) == describe(d.state.to_document(d.did)));
  check_audit_log(plc, d.did, d.genesis, 1);

  identity::DirectoryResolver resolver(loopback_resolver_options());
  auto doc = resolver.resolve_did(d.did);
  CHECK(describe(doc) == describe(d.state.to_document(d.did)));
  REQUIRE(doc.signing_key().has_value());
  CHECK(*doc.signing_key() == d.signing.public_key());
  CHECK(doc.pds_endpoint() == "https://pds-one.example.com");
  CHECK(doc.handle() == d.handle);
  // The handle is only claimed: nothing resolves it back to the DID.
  auto id = resolver.resolve(d.did);
  CHECK_FALSE(id.handle.has_value());

  // Update: a new PDS endpoint and a new P-256 signing key, signed by the
  // lower-authority rotation key.
  auto new_signing = PrivateKey::generate(KeyType::kP256);
  PlcState state2 = d.state;
  state2.services.at("atproto_pds").endpoint = "https://pds-two.example.com";
  state2.verification_methods["atproto"] = new_signing.public_key().did_key();
  auto update = PlcOperation::update(state2, d.genesis);
  update.sign(d.rot1);
  CHECK(update.prev() == d.genesis.cid());
  plc.submit(d.did, update);

  CHECK(plc.data(d.did) == state2);
  CHECK(describe(plc.document(d.did)) == describe(state2.to_document(d.did)));
  auto doc2 = resolver.resolve_did(d.did, /*fresh=*/true);
  CHECK(doc2.pds_endpoint() == "https://pds-two.example.com");
  REQUIRE(doc2.signing_key().has_value());
  CHECK(*doc2.signing_key() == new_signing.public_key());
  CHECK(doc2.signing_key()->type() == KeyType::kP256);
  check_audit_log(plc, d.did, update, 2);

  // A second update, signed by the other rotation key, chained on the first.
  PlcState state3 = state2;
  state3.also_known_as = {"at://" + unique_handle()};
  auto update2 = PlcOperation::update(state3, update);
  update2.sign(d.rot0);
  plc.submit(d.did, update2);
  CHECK(plc.data(d.did) == state3);
  check_audit_log(plc, d.did, update2, 3);
}

TEST_CASE("the reference directory refuses operations libatcr also considers invalid") {
  auto http = test_http();
  PlcClient plc(http, plc_url());
  NewDid d;
  plc.submit(d.did, d.genesis);

  SUBCASE("an update signed by a key that is not a rotation key") {
    auto op = PlcOperation::update(d.state, d.genesis);
    op.sign(d.signing);  // the #atproto key may not rotate
    std::vector<std::string> keys = d.genesis.rotation_keys();
    CHECK_FALSE(op.verify(keys).has_value());
    try {
      plc.submit(d.did, op);
      FAIL("the directory accepted an op signed by a non-rotation key");
    } catch (const PlcError& e) {
      INFO(std::string(e.what()));
      CHECK(e.status() == 400);
    }
  }

  SUBCASE("an update whose prev is not the latest op is a fork only a stronger key may make") {
    auto first = PlcOperation::update(d.state, d.genesis);
    first.sign(d.rot0);
    plc.submit(d.did, first);
    // A fork of the genesis op by the *weaker* key cannot nullify `first`.
    PlcState other = d.state;
    other.also_known_as = {"at://" + unique_handle()};
    auto fork = PlcOperation::update(other, d.genesis);
    fork.sign(d.rot1);
    CHECK_THROWS_AS(plc.submit(d.did, fork), PlcError);
    check_audit_log(plc, d.did, first, 2);
  }

  SUBCASE("a genesis op submitted under another DID") {
    NewDid other;
    CHECK_THROWS(plc.submit(d.did, other.genesis));  // ours refuses before sending
  }

  SUBCASE("a tampered signature") {
    auto op = PlcOperation::update(d.state, d.genesis);
    op.sign(d.rot0);
    // Re-sign, then swap the state under the signature: the op now claims
    // a handle its signature does not cover.
    PlcState forged = d.state;
    forged.also_known_as = {"at://" + unique_handle()};
    auto forged_op = PlcOperation::update(forged, d.genesis);
    // Give the forged op the honest op's signature.
    auto v = forged_op.value();
    v.as_map()["sig"] = Value(std::string(op.sig()));
    auto tampered = PlcOperation::from_value(v);
    CHECK_FALSE(tampered.verify(d.genesis.rotation_keys()).has_value());
    CHECK_THROWS_AS(plc.submit(d.did, tampered), PlcError);
  }

  // Whatever was refused, the log still verifies.
  auto log = plc.audit_log(d.did);
  CHECK_NOTHROW(identity::verify_plc_audit_log(d.did, log));
}

TEST_CASE("a recovery by a higher-authority key nullifies an op, and both sides agree") {
  auto http = test_http();
  PlcClient plc(http, plc_url());
  NewDid d;
  plc.submit(d.did, d.genesis);

  // The weaker key (think: a compromised PDS) takes over the account...
  auto attacker = PrivateKey::generate(KeyType::kSecp256k1);
  PlcState hijacked = d.state;
  hijacked.rotation_keys = {attacker.public_key().did_key()};
  hijacked.services.at("atproto_pds").endpoint = "https://evil.example.com";
  auto hijack = PlcOperation::update(hijacked, d.genesis);
  hijack.sign(d.rot1);
  plc.submit(d.did, hijack);
  CHECK(plc.data(d.did) == hijacked);

  // ...and the stronger key forks from the genesis op within 72 hours.
  PlcState recovered = d.state;
  recovered.services.at("atproto_pds").endpoint = "https://pds-recovered.example.com";
  auto recovery = PlcOperation::update(recovered, d.genesis);
  recovery.sign(d.rot0);
  plc.submit(d.did, recovery);
  CHECK(plc.data(d.did) == recovered);

  auto log = plc.audit_log(d.did);
  REQUIRE(log.size() == 3);
  CHECK_FALSE(log[0].nullified);
  CHECK(log[1].nullified);  // the directory nullified the hijack
  CHECK(log[1].operation == hijack);
  CHECK_FALSE(log[2].nullified);
  CHECK(identity::verify_plc_audit_log(d.did, log) == recovery);

  // Our verifier rejects a log that hides the nullification.
  auto lying = log;
  lying[1].nullified = false;
  CHECK_THROWS(identity::verify_plc_audit_log(d.did, lying));

  // The nullified op's key can no longer extend its branch.
  PlcState more = hijacked;
  auto extend = PlcOperation::update(more, hijack);
  extend.sign(attacker);
  CHECK_THROWS_AS(plc.submit(d.did, extend), PlcError);

  identity::DirectoryResolver resolver(loopback_resolver_options());
  CHECK(resolver.resolve_did(d.did).pds_endpoint() == "https://pds-recovered.example.com");
}

TEST_CASE("a tombstoned did:plc no longer resolves, and its log still verifies") {
  auto http = test_http();
  PlcClient plc(http, plc_url());
  NewDid d;
  plc.submit(d.did, d.genesis);
  identity::DirectoryResolver resolver(loopback_resolver_options());
  CHECK_NOTHROW(resolver.resolve_did(d.did));

  auto tomb = PlcOperation::tombstone(d.genesis);
  tomb.sign(d.rot1);
  CHECK(tomb.type() == PlcOperation::Type::kTombstone);
  plc.submit(d.did, tomb);

  CHECK_THROWS_AS(plc.document(d.did), identity::ResolutionError);
  CHECK_THROWS_AS(resolver.resolve_did(d.did, /*fresh=*/true), identity::ResolutionError);
  auto log = plc.audit_log(d.did);
  REQUIRE(log.size() == 2);
  auto current = identity::verify_plc_audit_log(d.did, log);
  CHECK(current.type() == PlcOperation::Type::kTombstone);
  CHECK(current.rotation_keys().empty());
}

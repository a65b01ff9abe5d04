// The embedded PDS on did:plc, against the reference PLC directory: first
// boot creates the DID (genesis op), a reboot submits nothing, a replaced
// signing key or a new handle is drift and gets one update op signed by the
// rotation key, and an existing DID can be adopted. Run through with-pds.sh.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "atcr/identity/plc.h"
#include "atcr/identity/plc_client.h"
#include "atcr/pds/embedded_pds.h"
#include "pds_fixture.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::test;
using identity::PlcClient;

namespace {

pds::PdsConfig plc_config(const TempDir& dir) {
  pds::PdsConfig c;
  c.data_dir = dir.path();
  c.public_url = "https://hold-" + random_token(8) + ".example.com";
  c.did_method = pds::DidMethod::kPlc;
  c.plc_url = plc_url();
  c.handle = unique_handle();
  c.extra_services.push_back({"atcr_hold", "AtcrHoldService", c.public_url});
  return c;
}

// The directory's document says what the PDS says about itself.
void check_published(const PlcClient& plc, const pds::EmbeddedPds& pds) {
  identity::DidDocument doc = plc.document(pds.did());
  REQUIRE(doc.signing_key());
  CHECK(*doc.signing_key() == pds.signing_key());
  CHECK(doc.pds_endpoint() == pds.public_url());
  CHECK(doc.handle() == pds.handle());
  auto hold = doc.service("atcr_hold", "AtcrHoldService");
  REQUIRE(hold);
  CHECK(hold->endpoint == pds.public_url());
}

}  // namespace

TEST_CASE("pds did:plc: create, reboot, rotate the signing key, change the handle") {
  PlcClient plc(plc_url());
  TempDir dir("pds-plc");
  pds::PdsConfig config = plc_config(dir);
  std::string did;
  {
    auto p = pds::EmbeddedPds::open(config);
    did = p->did();
    CHECK(identity::is_plc_did(did));
    check_published(plc, *p);
    CHECK(plc.audit_log(did).size() == 1);
    CHECK(std::filesystem::exists(dir / "rotation.key"));
    p->apply_writes({RecordWrite::create("io.atcr.hold.captain", "self",
                                         Value(Value::Map{{"$type", Value("io.atcr.hold.captain")}}))});
  }
  {
    auto p = pds::EmbeddedPds::open(config);
    CHECK(p->did() == did);
    CHECK(plc.audit_log(did).size() == 1);  // nothing drifted, nothing submitted
  }
  std::filesystem::remove(dir / "signing.key");
  {
    auto p = pds::EmbeddedPds::open(config);
    CHECK(p->did() == did);
    CHECK(plc.audit_log(did).size() == 2);
    check_published(plc, *p);
    // The repo was re-signed under the new key.
    VerifiedRepo repo = verify_repo_car(p->export_car(), did, p->signing_key());
    CHECK(repo.records.size() == 1);
  }
  config.handle = unique_handle();
  {
    auto p = pds::EmbeddedPds::open(config);
    CHECK(plc.audit_log(did).size() == 3);
    check_published(plc, *p);
  }
  auto log = plc.audit_log(did);
  CHECK_NOTHROW(identity::verify_plc_audit_log(did, log));
}

TEST_CASE("pds did:plc: adopt an existing DID") {
  PlcClient plc(plc_url());
  TempDir dir("pds-plc-adopt");
  // The operator puts our rotation key in place and lists it in the DID
  // (created here by someone else, pointing somewhere else).
  PrivateKey ours = PrivateKey::generate(KeyType::kSecp256k1);
  ours.save((dir / "rotation.key").string());
  PrivateKey theirs = PrivateKey::generate(KeyType::kSecp256k1);
  PrivateKey old_signing = PrivateKey::generate(KeyType::kSecp256k1);
  auto state = identity::PlcState::atproto({theirs.public_key().did_key(), ours.public_key().did_key()},
                                           old_signing.public_key(), unique_handle(), "https://elsewhere.example.com");
  auto genesis = identity::PlcOperation::genesis(state);
  genesis.sign(theirs);
  std::string did = genesis.did();
  plc.submit(did, genesis);

  pds::PdsConfig config = plc_config(dir);
  config.plc_did = did;
  auto p = pds::EmbeddedPds::open(config);
  CHECK(p->did() == did);
  check_published(plc, *p);
  CHECK(plc.audit_log(did).size() == 2);
  // Their rotation key keeps its authority.
  CHECK(plc.data(did).rotation_keys == state.rotation_keys);

  // A DID that does not list our rotation key cannot be adopted.
  TempDir other("pds-plc-adopt-refused");
  PrivateKey stranger = PrivateKey::generate(KeyType::kSecp256k1);
  auto foreign = identity::PlcOperation::genesis(identity::PlcState::atproto(
      {stranger.public_key().did_key()}, old_signing.public_key(), unique_handle(), "https://elsewhere.example.com"));
  foreign.sign(stranger);
  plc.submit(foreign.did(), foreign);
  pds::PdsConfig refused = plc_config(other);
  refused.plc_did = foreign.did();
  CHECK_THROWS_AS(pds::EmbeddedPds::open(refused), ConfigError);
}

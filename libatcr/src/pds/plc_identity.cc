#include "pds/plc_identity.h"

#include <algorithm>

#include "atcr/error.h"
#include "atcr/identity/plc_client.h"
#include "atcr/identity/resolver.h"

namespace atcr::pds {

namespace {

identity::PlcClient make_client(const PdsConfig& config) {
  auto http = config.http ? config.http : std::make_shared<const net::HttpClient>();
  return identity::PlcClient(std::move(http), config.plc_url);
}

}  // namespace

PlcIdentity::PlcIdentity(const PdsConfig& config, const std::filesystem::path& rotation_key_path)
    : config_(config),
      rotation_key_(PrivateKey::load_or_generate(rotation_key_path.string(), config.key_type)) {}

identity::PlcState PlcIdentity::desired(const identity::PlcState& have, const identity::DidDocument& wanted) {
  identity::PlcState next = have;
  next.also_known_as = wanted.also_known_as;
  for (const identity::VerificationMethod& m : wanted.verification_methods)
    next.verification_methods[m.id] = m.key.did_key();
  for (const identity::Service& s : wanted.services) next.services[s.id] = {s.type, s.endpoint};
  return next;
}

std::string PlcIdentity::ensure(PdsState& state, const std::filesystem::path& state_path,
                                const identity::DidDocument& wanted) {
  identity::PlcClient client = make_client(config_);
  std::string our_rotation = rotation_key_.public_key().did_key();

  if (!config_.plc_did.empty() && !state.did.empty() && state.did != config_.plc_did)
    throw ConfigError("plc_did", "pds: data dir belongs to " + state.did + " but plc_did is " + config_.plc_did);

  if (state.did.empty() && config_.plc_did.empty()) {
    identity::PlcState genesis_state = desired({}, wanted);
    genesis_state.rotation_keys = {our_rotation};
    identity::PlcOperation op = identity::PlcOperation::genesis(genesis_state);
    op.sign(rotation_key_);
    state.did = op.did();
    state.plc_genesis = op.to_json();
    state.save(state_path);
    client.submit(state.did, op);
    return state.did;
  }

  std::string did = state.did.empty() ? config_.plc_did : state.did;
  if (!identity::is_plc_did(did)) throw ConfigError("plc_did", "pds: \"" + did + "\" is not a did:plc");
  identity::PlcState have;
  try {
    have = client.data(did);
  } catch (const identity::ResolutionError&) {
    // Unknown to the directory: our genesis op never arrived (a crash or a
    // failed submit on the first boot). Anything else is not ours to fix.
    if (state.plc_genesis.empty()) throw;
    identity::PlcOperation genesis = identity::PlcOperation::from_json(state.plc_genesis);
    client.submit(did, genesis);
    have = client.data(did);
  }
  if (std::find(have.rotation_keys.begin(), have.rotation_keys.end(), our_rotation) == have.rotation_keys.end())
    throw ConfigError("plc_did", "pds: our rotation key " + our_rotation + " is not a rotation key of " + did +
                                     "; add it with a PLC operation signed by a current rotation key");
  identity::PlcState next = desired(have, wanted);
  if (next != have) {
    identity::PlcOperation op = identity::PlcOperation::update(next, client.last_op(did));
    op.sign(rotation_key_);
    client.submit(did, op);
  }
  return did;
}

}  // namespace atcr::pds

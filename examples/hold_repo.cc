// hold_repo: a hold's whole repository, exported and checked by a stranger.
// The hold's DID document (did:web or did:plc) gives its endpoint
// (#atcr_hold) and signing key (#atproto); com.atproto.sync.getRepo gives
// the repo as a CAR, whose every block, commit signature and MST the
// library verifies (verify_repo_car). Prints the commit and the records by
// collection, and the captain record (who owns the hold).
//
//   hold_repo did:web:hold01.atcr.io      (a local stack: see common.h)
#include <iostream>
#include <map>
#include <string>

#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/repo/repository.h"
#include "atcr/xrpc/client.h"
#include "common.h"

int main(int argc, char** argv) {
  using namespace atcr;
  if (argc != 2) {
    std::cerr << "usage: hold_repo HOLD_DID\n";
    return 2;
  }
  try {
    identity::DirectoryResolver resolver(examples::resolver_options());
    const std::string did = argv[1];
    identity::DidDocument doc = resolver.resolve_did(did);
    auto service = doc.service("atcr_hold");
    auto key = doc.signing_key();
    if (!service || !key) throw Error(did + "'s document names no #atcr_hold service or no #atproto key");

    xrpc::XrpcClient hold(service->endpoint);
    Bytes car = hold.query_raw("com.atproto.sync.getRepo", xrpc::Params().add("did", did)).body;
    VerifiedRepo repo = verify_repo_car(car, did, *key);

    std::cout << "hold:     " << did << " at " << service->endpoint << "\n"
              << "key:      " << key->did_key() << "\n"
              << "commit:   " << repo.commit_cid.to_string() << " rev " << repo.commit.rev << " (signature, "
              << repo.blocks.size() << " blocks and the MST verified; " << car.size() << " bytes)\n";
    std::map<std::string, int> per_collection;
    for (const RecordEntry& r : repo.records) ++per_collection[r.collection];
    for (const auto& [collection, n] : per_collection) std::cout << "  " << collection << ": " << n << "\n";
    for (const RecordEntry& r : repo.records) {
      if (r.collection != "io.atcr.hold.captain") continue;
      const Bytes* block = repo.blocks.find(r.cid);
      if (!block) continue;
      // A record's bytes are DAG-CBOR; printed in its JSON form.
      std::cout << "captain:  " << json::serialize(cbor::decode(*block)) << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "hold_repo: " << e.what() << "\n";
    return 1;
  }
}

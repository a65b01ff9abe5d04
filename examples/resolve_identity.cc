// resolve_identity: a handle or DID, resolved the way every ATCR service
// does it and checked both ways (the handle's DID must name the handle back):
// its DID, handle, PDS, signing key and services.
//
//   resolve_identity alice.example.com      (a local stack: see common.h)
#include <iostream>

#include "atcr/identity/directory_resolver.h"
#include "common.h"

int main(int argc, char** argv) {
  using namespace atcr;
  if (argc != 2) {
    std::cerr << "usage: resolve_identity HANDLE|DID\n";
    return 2;
  }
  try {
    identity::DirectoryResolver resolver(examples::resolver_options());
    identity::Identity id = resolver.resolve(argv[1]);
    std::cout << "did:     " << id.did << "\n"
              << "handle:  " << id.handle.value_or("(none that resolves back)") << "\n"
              << "pds:     " << id.document.pds_endpoint().value_or("(none)") << "\n";
    if (auto key = id.document.signing_key()) std::cout << "key:     " << key->did_key() << "\n";
    for (const identity::Service& s : id.document.services)
      std::cout << "service: #" << s.id << " " << s.type << " " << s.endpoint << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "resolve_identity: " << e.what() << "\n";
    return 1;
  }
}

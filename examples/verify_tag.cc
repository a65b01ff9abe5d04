// verify_tag: that an image tag is what its owner signed, with
// atcr::verify::verify_image (the library behind `atcr verify`): the owner's
// io.atcr.tag and io.atcr.manifest records, proven from their PDS under a
// commit signed with their DID's current key, against the sha256 of the
// manifest the registry serves. Exits 1 with the reason when anything
// does not check out.
//
//   verify_tag atcr.io/alice.example.com/app:v1      (a local stack: see common.h)
#include <iostream>

#include "atcr/identity/directory_resolver.h"
#include "atcr/net/http_client.h"
#include "atcr/verify/verify.h"
#include "common.h"

int main(int argc, char** argv) {
  using namespace atcr;
  if (argc != 2) {
    std::cerr << "usage: verify_tag REGISTRY/IDENTITY/REPOSITORY[:TAG]\n";
    return 2;
  }
  try {
    identity::DirectoryResolver resolver(examples::resolver_options());
    net::HttpClient http;
    verify::Provenance p = verify::verify_image(verify::ImageRef::parse(argv[1]), resolver, http);
    std::cout << p.ref.str() << " is what " << p.handle.value_or(p.did) << " signed:\n"
              << "  did      " << p.did << "\n"
              << "  tag      " << p.tag.uri << " (rev " << p.tag.commit.rev << ")\n"
              << "  manifest " << p.manifest.uri << " (rev " << p.manifest.commit.rev << ")\n"
              << "  digest   " << p.digest.str() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "verify_tag: NOT VERIFIED: " << e.what() << "\n";
    return 1;
  }
}

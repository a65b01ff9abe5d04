// repo_demo: builds a small signed repository with libatcr's public API,
// prints its commit and MST root CIDs, then verifies its own CAR export the
// way a stranger would (from the bytes and the public key alone).
//
//   repo_demo [sqlite-file]   (default: an in-memory database)
#include <iostream>

#include "atcr/crypto/keys.h"
#include "atcr/repo/repository.h"
#include "atcr/repo/sqlite_store.h"

int main(int argc, char** argv) {
  using namespace atcr;
  try {
    SqliteRepoStorage storage(argc > 1 ? argv[1] : ":memory:");
    PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
    const std::string did = "did:web:demo.example.com";

    Repository repo = Repository::create(storage, did, key);
    repo.apply_writes({RecordWrite::create("io.atcr.tag", "demo_latest",
                                           Value::Map{{"$type", "io.atcr.tag"},
                                                      {"repository", "demo"},
                                                      {"tag", "latest"},
                                                      {"createdAt", "2026-01-01T00:00:00.000Z"}})},
                      key);

    Bytes car = repo.export_car();
    VerifiedRepo verified = verify_repo_car(car, did, key.public_key());

    std::cout << "did:        " << did << "\n"
              << "signing key " << key.public_key().did_key() << "\n"
              << "commit:     " << repo.head().to_string() << "\n"
              << "rev:        " << repo.rev() << "\n"
              << "mst root:   " << repo.data_root().to_string() << "\n"
              << "records:    " << verified.records.size() << "\n"
              << "car bytes:  " << car.size() << " (verified)\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "repo_demo: " << e.what() << "\n";
    return 1;
  }
}

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <unistd.h>

#include "atcr/data/car.h"
#include "atcr/data/cbor.h"
#include "atcr/error.h"
#include "atcr/repo/repository.h"
#include "atcr/repo/sqlite_store.h"

using namespace atcr;

namespace {

const std::string kDid = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
const std::string kCollection = "io.atcr.tag";

Value tag_record(const std::string& tag, int n = 0) {
  return Value(Value::Map{{"$type", kCollection}, {"tag", tag}, {"n", n}});
}

// A temporary SQLite file, removed (with its WAL files) afterwards.
struct TempDb {
  std::string path;
  TempDb() {
    static int counter = 0;
    path = (std::filesystem::temp_directory_path() /
            ("atcr-repo-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".sqlite"))
               .string();
  }
  ~TempDb() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
};

Bytes flip_byte_in_block(const Bytes& car, const Cid& cid) {
  // Find the block's CID in the CAR and flip the first data byte after it.
  Bytes needle(cid.bytes().begin(), cid.bytes().end());
  auto it = std::search(car.begin(), car.end(), needle.begin(), needle.end());
  REQUIRE(it != car.end());
  Bytes out = car;
  out[static_cast<std::size_t>(it - car.begin()) + needle.size() + 2] ^= 0x01;
  return out;
}

}  // namespace

TEST_CASE("create, write, read, list, delete") {
  MemoryRepoStorage storage;
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  Repository repo = Repository::create(storage, kDid, key, {RecordWrite::create(kCollection, "a", tag_record("a"))});
  CHECK(repo.commit().verify(key.public_key()));
  std::string first_rev = repo.rev();

  auto result = repo.apply_writes({RecordWrite::create(kCollection, "b", tag_record("b")),
                                   RecordWrite::create("io.atcr.manifest", "3jzfcijpj2z2a", tag_record("m")),
                                   RecordWrite::update(kCollection, "a", tag_record("a", 2))},
                                  key);
  CHECK(result.rev > first_rev);
  CHECK(result.since == first_rev);
  CHECK(result.ops.size() == 3);
  CHECK(result.ops[2].prev.has_value());
  CHECK(result.blocks.has(result.commit));

  auto a = repo.get_record(kCollection, "a");
  REQUIRE(a);
  CHECK(a->value.at("n").as_integer() == 2);
  CHECK(Cid::compute(Codec::kDagCbor, a->bytes) == a->cid);
  CHECK_FALSE(repo.get_record(kCollection, "zzz"));

  auto listed = repo.list_records(kCollection, 10);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].rkey == "a");
  CHECK(listed[1].rkey == "b");
  CHECK(repo.list_records(kCollection, 10, "a").size() == 1);
  CHECK(repo.list_records(kCollection, 10, "", true)[0].rkey == "b");
  CHECK(repo.list_records(kCollection, 10, "b", true)[0].rkey == "a");
  CHECK(repo.list_records(kCollection, 1).size() == 1);
  CHECK(repo.collections() == std::vector<std::string>{"io.atcr.manifest", "io.atcr.tag"});

  repo.apply_writes({RecordWrite::remove(kCollection, "a")}, key);
  CHECK_FALSE(repo.get_record(kCollection, "a"));
  CHECK(repo.all_records().size() == 2);

  // Reopening sees the same head.
  Repository again = Repository::open(storage, kDid);
  CHECK(again.head() == repo.head());
  CHECK(again.all_records().size() == 2);
}

TEST_CASE("invalid writes are rejected and change nothing") {
  MemoryRepoStorage storage;
  PrivateKey key = PrivateKey::generate(KeyType::kP256);
  Repository repo = Repository::create(storage, kDid, key, {RecordWrite::create(kCollection, "a", tag_record("a"))});
  Cid head = repo.head();
  Cid root = repo.data_root();
  auto rejects = [&](std::vector<RecordWrite> writes, const char* why) {
    CAPTURE(why);
    CHECK_THROWS_WITH_AS(repo.apply_writes(writes, key), doctest::Contains(why), ParseError);
    CHECK(repo.head() == head);
    CHECK(repo.data_root() == root);
    CHECK(storage.head(kDid)->commit == head);
  };
  rejects({RecordWrite::create(kCollection, "b", tag_record("b")), RecordWrite::create(kCollection, "a", tag_record("x"))},
          "already exists");
  rejects({RecordWrite::update(kCollection, "nope", tag_record("x"))}, "does not exist");
  rejects({RecordWrite::remove(kCollection, "nope")}, "does not exist");
  rejects({RecordWrite::create(kCollection, "c", tag_record("c")), RecordWrite::update(kCollection, "c", tag_record("c"))},
          "twice");
  rejects({RecordWrite::create("not an nsid", "c", tag_record("c"))}, "nsid");
  rejects({RecordWrite::create(kCollection, "..", tag_record("c"))}, "..");
  rejects({RecordWrite::create(kCollection, "c", Value(5))}, "map");
  rejects({RecordWrite::create(kCollection, "c", Value(Value::Map{{"$type", ""}}))}, "$type");
  rejects({RecordWrite::create(kCollection, "c", Value(Value::Map{{"big", std::string(1'100'000, 'x')}}))}, "1 MB");
  // The failed writes left the in-memory tree clean: a good write works.
  CHECK_NOTHROW(repo.apply_writes({RecordWrite::create(kCollection, "b", tag_record("b"))}, key));
  CHECK(repo.all_records().size() == 2);
}

TEST_CASE("concurrent writers: the second loses with ConflictError, then refreshes") {
  MemoryRepoStorage storage;
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  Repository one = Repository::create(storage, kDid, key);
  Repository two = Repository::open(storage, kDid);
  one.apply_writes({RecordWrite::create(kCollection, "x", tag_record("x"))}, key);
  CHECK_THROWS_AS(two.apply_writes({RecordWrite::create(kCollection, "y", tag_record("y"))}, key), ConflictError);
  two.refresh();
  two.apply_writes({RecordWrite::create(kCollection, "y", tag_record("y"))}, key);
  one.refresh();
  CHECK(one.all_records().size() == 2);
  CHECK_THROWS_AS(Repository::create(storage, kDid, key), ConflictError);
  CHECK_THROWS_AS(Repository::open(storage, "did:plc:nobody"), NotFoundError);
}

TEST_CASE("export -> verify -> import round-trips byte for byte") {
  MemoryRepoStorage storage;
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  std::vector<RecordWrite> initial;
  for (int i = 0; i < 300; ++i) initial.push_back(RecordWrite::create(kCollection, "t" + std::to_string(i), tag_record("t", i)));
  Repository repo = Repository::create(storage, kDid, key, initial);
  repo.apply_writes({RecordWrite::remove(kCollection, "t7")}, key);
  Bytes car = repo.export_car();

  VerifiedRepo verified = verify_repo_car(car, kDid, key.public_key());
  CHECK(verified.commit_cid == repo.head());
  CHECK(verified.records.size() == 299);

  SqliteRepoStorage other(":memory:");
  Repository imported = import_repo_car(other, car, kDid, key.public_key());
  CHECK(imported.head() == repo.head());
  CHECK(imported.export_car() == car);
  // And the imported repo accepts new commits.
  imported.apply_writes({RecordWrite::create(kCollection, "new", tag_record("n"))}, key);
  CHECK(verify_repo_car(imported.export_car(), kDid, key.public_key()).records.size() == 300);
}

TEST_CASE("tampered exports are rejected with a clear reason") {
  MemoryRepoStorage storage;
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  Repository repo = Repository::create(storage, kDid, key, {RecordWrite::create(kCollection, "a", tag_record("a"))});
  Bytes car = repo.export_car();
  auto record = repo.get_record(kCollection, "a");

  CHECK_THROWS_WITH_AS(verify_repo_car(flip_byte_in_block(car, record->cid), kDid, key.public_key()),
                       doctest::Contains("does not match its CID"), VerifyError);
  CHECK_THROWS_WITH_AS(verify_repo_car(car, kDid, PrivateKey::generate(KeyType::kSecp256k1).public_key()),
                       doctest::Contains("signature"), VerifyError);
  CHECK_THROWS_WITH_AS(verify_repo_car(car, "did:plc:someoneelse", key.public_key()), doctest::Contains("expected"),
                       VerifyError);

  // A re-signed commit with a forged signature: valid CIDs, bad signature.
  Commit forged = repo.commit();
  forged.sig[10] ^= 0xff;
  BlockMap blocks = car::read(car).blocks;
  BlockMap rebuilt;
  Cid forged_cid = rebuilt.add(forged.encode());
  for (const auto& [cid, data] : blocks.blocks())
    if (cid != repo.head()) rebuilt.put(cid, data);
  CHECK_THROWS_WITH_AS(verify_repo_car(car::write({forged_cid}, rebuilt), kDid, key.public_key()),
                       doctest::Contains("signature"), VerifyError);

  // A CAR missing the record block.
  BlockMap partial;
  for (const auto& [cid, data] : blocks.blocks())
    if (cid != record->cid) partial.put(cid, data);
  CHECK_THROWS_WITH_AS(verify_repo_car(car::write({repo.head()}, partial), kDid, key.public_key()),
                       doctest::Contains("missing"), VerifyError);
  CHECK_THROWS_AS(verify_repo_car(Bytes(car.begin(), car.begin() + 40), kDid, key.public_key()), ParseError);
}

TEST_CASE("record proofs prove presence and absence") {
  MemoryRepoStorage storage;
  PrivateKey key = PrivateKey::generate(KeyType::kP256);
  std::vector<RecordWrite> initial;
  for (int i = 0; i < 500; ++i) initial.push_back(RecordWrite::create(kCollection, "r" + std::to_string(i), tag_record("r", i)));
  Repository repo = Repository::create(storage, kDid, key, initial);

  Bytes proof = repo.record_proof(kCollection, "r42");
  CHECK(proof.size() < repo.export_car().size() / 10);  // a path, not the repo
  auto record = verify_record_proof(proof, kDid, key.public_key(), kCollection, "r42");
  REQUIRE(record);
  CHECK(record->value.at("n").as_integer() == 42);

  Bytes absent = repo.record_proof(kCollection, "nope");
  CHECK_FALSE(verify_record_proof(absent, kDid, key.public_key(), kCollection, "nope"));
  // A proof for one key says nothing trustworthy about a far-away key.
  CHECK_THROWS(verify_record_proof(proof, kDid, key.public_key(), kCollection, "r499x"));
  CHECK_THROWS_AS(verify_record_proof(proof, kDid, PrivateKey::generate(KeyType::kP256).public_key(), kCollection, "r42"),
                  VerifyError);
}

TEST_CASE("one SQLite file holds many repos and survives reopening") {
  TempDb db;
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  std::map<std::string, Cid> heads;
  {
    SqliteRepoStorage storage(db.path);
    for (int r = 0; r < 5; ++r) {
      std::string did = "did:web:repo" + std::to_string(r) + ".example.com";
      Repository repo = Repository::create(storage, did, key);
      for (int i = 0; i < 20; ++i)
        repo.apply_writes({RecordWrite::create(kCollection, "k" + std::to_string(i), tag_record("x", r * 100 + i))}, key);
      heads.emplace(did, repo.head());
    }
  }
  SqliteRepoStorage storage(db.path);
  CHECK(storage.list_repos().size() == 5);
  for (const auto& [did, head] : heads) {
    Repository repo = Repository::open(storage, did);
    CHECK(repo.head() == head);
    CHECK(repo.all_records().size() == 20);
    CHECK(verify_repo_car(repo.export_car(), did, key.public_key()).records.size() == 20);
  }
  // Garbage from 20 commits goes; the repo still verifies afterwards.
  Repository repo = Repository::open(storage, heads.begin()->first);
  CHECK(repo.collect_garbage() > 0);
  CHECK(repo.collect_garbage() == 0);
  CHECK(verify_repo_car(repo.export_car(), repo.did(), key.public_key()).records.size() == 20);
  storage.delete_repo(repo.did());
  CHECK(storage.list_repos().size() == 4);
  CHECK_FALSE(storage.head(repo.did()));
}

TEST_CASE("random writes match a model and the repo stays verifiable") {
  MemoryRepoStorage storage;
  PrivateKey key = PrivateKey::generate(KeyType::kSecp256k1);
  Repository repo = Repository::create(storage, kDid, key);
  std::map<std::string, int> model;
  std::mt19937 rng(1234);
  for (int round = 0; round < 200; ++round) {
    std::vector<RecordWrite> batch;
    std::set<std::string> touched;
    int n = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      std::string rkey = "k" + std::to_string(rng() % 60);
      if (!touched.insert(rkey).second) continue;
      int value = static_cast<int>(rng() % 1000);
      auto it = model.find(rkey);
      if (it == model.end()) {
        batch.push_back(RecordWrite::create(kCollection, rkey, tag_record("v", value)));
        model[rkey] = value;
      } else if (rng() % 2) {
        batch.push_back(RecordWrite::update(kCollection, rkey, tag_record("v", value)));
        it->second = value;
      } else {
        batch.push_back(RecordWrite::remove(kCollection, rkey));
        model.erase(it);
      }
    }
    repo.apply_writes(batch, key);
  }
  auto records = repo.all_records();
  REQUIRE(records.size() == model.size());
  for (const auto& e : records) CHECK(repo.get_record(e.collection, e.rkey)->value.at("n").as_integer() == model[e.rkey]);
  CHECK(verify_repo_car(repo.export_car(), kDid, key.public_key()).records.size() == model.size());
}

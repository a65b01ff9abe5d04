// atcr_repo_tool: libatcr's side of the cross-checks against @atproto/repo.
// Same command-line contract as ref-repo.mjs (see there); crosscheck.py runs
// both and compares. Uses only libatcr's public API.
//
//   atcr_repo_tool build <input.json> <out.car>
//   atcr_repo_tool verify <file.car> <did> <did:key>
//   atcr_repo_tool mst-root <keys.json>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "atcr/crypto/keys.h"
#include "atcr/data/json.h"
#include "atcr/encoding/hex.h"
#include "atcr/error.h"
#include "atcr/repo/mst.h"
#include "atcr/repo/repository.h"

using namespace atcr;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, BytesView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw Error("cannot write " + path);
}

void print(const Value::Map& fields) { std::cout << json::serialize(Value(fields)) << "\n"; }

int build(const std::string& input_path, const std::string& car_path) {
  Value input = json::parse(read_file(input_path));
  PrivateKey key = PrivateKey::from_bytes(KeyType::kSecp256k1, hex::decode(input.at("signingKey").as_string()));
  std::vector<RecordWrite> writes;
  for (const Value& r : input.at("records").as_array())
    writes.push_back(RecordWrite::create(r.at("collection").as_string(), r.at("rkey").as_string(), r.at("value")));
  MemoryRepoStorage storage;
  Repository repo = Repository::create(storage, input.at("did").as_string(), key, writes);
  write_file(car_path, repo.export_car());
  print({{"root", repo.head().to_string()}, {"data", repo.data_root().to_string()}});
  return 0;
}

int verify(const std::string& car_path, const std::string& did, const std::string& did_key) {
  VerifiedRepo repo = verify_repo_car(to_bytes(read_file(car_path)), did, PublicKey::from_did_key(did_key));
  Value::Array records;
  for (const RecordEntry& e : repo.records)
    records.push_back(Value::Array{e.collection + "/" + e.rkey, e.cid.to_string()});
  print({{"root", repo.commit_cid.to_string()}, {"data", repo.commit.data.to_string()}, {"records", records}});
  return 0;
}

int mst_root(const std::string& keys_path) {
  Value input = json::parse(read_file(keys_path));
  std::vector<mst::Entry> entries;
  for (const Value& pair : input.as_array())
    entries.push_back({pair.as_array().at(0).as_string(), Cid::parse(pair.as_array().at(1).as_string())});
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  BlockMap empty;
  print({{"root", mst::Tree::build(empty, entries).root().to_string()}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 3 && args[0] == "build") return build(args[1], args[2]);
    if (args.size() == 4 && args[0] == "verify") return verify(args[1], args[2], args[3]);
    if (args.size() == 2 && args[0] == "mst-root") return mst_root(args[1]);
  } catch (const std::exception& e) {
    std::cerr << "atcr_repo_tool: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: atcr_repo_tool build <input.json> <out.car> | verify <car> <did> <did:key> | "
               "mst-root <keys.json>\n";
  return 2;
}

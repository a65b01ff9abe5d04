// atcr_bench: libatcr's side of bench/run.sh. Same workloads and output as
// bench/ref-bench.mjs (see its header for the definitions), one JSON line per
// benchmark and a final peak-RSS line.
//
//   atcr_bench [--quick] [name...]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <unordered_set>

#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/encoding/base32.h"
#include "atcr/encoding/hex.h"
#include "atcr/repo/mst.h"
#include "atcr/repo/repository.h"
#include "atcr/repo/sqlite_store.h"

using namespace atcr;

namespace {

const char* kLeafCid = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";
const char* kSigningKeyHex = "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c";
const char* kRepoDid = "did:plc:atcrbenchatcrbenchatcrbe";
const char* kCollection = "com.example.record";

bool quick = false;
std::size_t scale(std::size_t n) { return quick ? std::max<std::size_t>(1, n / 10) : n; }

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void emit(const std::string& name, std::size_t ops, double seconds, Value::Map extra = {}) {
  extra["name"] = name;
  extra["ops"] = static_cast<std::int64_t>(ops);
  // Value holds no floats (atproto has none), so the two timing fields are
  // appended to the serialised object by hand.
  std::string s = json::serialize(Value(extra));
  char timing[96];
  std::snprintf(timing, sizeof timing, ",\"seconds\":%.6f,\"ops_per_sec\":%.2f}", seconds,
                static_cast<double>(ops) / seconds);
  s.pop_back();
  std::cout << s << timing << "\n" << std::flush;
}

// The key sequence of ref-bench.mjs: splitmix64(42), TID text of x >> 1.
std::vector<std::string> bench_keys(std::size_t n) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  std::uint64_t s = 42;
  while (out.size() < n) {
    s += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::string key = std::string(kCollection) + "/" + base32::encode_sortable(z >> 1);
    if (seen.insert(key).second) out.push_back(std::move(key));
  }
  return out;
}

void mst_build() {
  std::size_t n = scale(100'000);
  auto keys = bench_keys(n);
  Cid leaf = Cid::parse(kLeafCid);
  BlockMap store;
  auto t0 = Clock::now();
  mst::Tree tree(store);
  for (const auto& k : keys) tree.put(k, leaf);
  Cid root = tree.root();
  emit("mst_build_100k", n, seconds_since(t0), {{"root", root.to_string()}, {"first_key", keys[0]}});

  // Not in the reference: building from a sorted list, as bulk imports do.
  std::vector<mst::Entry> entries;
  for (const auto& k : keys) entries.push_back({k, leaf});
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  t0 = Clock::now();
  Cid built = mst::Tree::build(store, entries).root();
  emit("mst_build_sorted_100k", n, seconds_since(t0), {{"root", built.to_string()}});
}

Value record(std::size_t i) {
  return Value(Value::Map{{"$type", kCollection},
                          {"text", "record " + std::to_string(i)},
                          {"createdAt", "2024-09-17T12:00:00.000Z"}});
}

void repo_writes(RepoStorage& storage, const std::string& name, const std::string& store) {
  std::size_t n = scale(10'000);
  PrivateKey key = PrivateKey::from_bytes(KeyType::kSecp256k1, hex::decode(kSigningKeyHex));
  auto keys = bench_keys(n);
  auto t0 = Clock::now();
  Repository repo = Repository::create(storage, kRepoDid, key);
  for (std::size_t i = 0; i < n; ++i)
    repo.apply_writes({RecordWrite::create(kCollection, keys[i].substr(std::strlen(kCollection) + 1), record(i))}, key);
  emit(name, n, seconds_since(t0), {{"data", repo.data_root().to_string()}, {"store", store}});
}

void repo_writes_sqlite() {
  auto path = std::filesystem::temp_directory_path() / ("atcr-bench-" + std::to_string(::getpid()) + ".sqlite");
  {
    SqliteRepoStorage storage(path.string());
    repo_writes(storage, "repo_writes_10k", "sqlite");
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

void repo_writes_memory() {
  MemoryRepoStorage storage;
  repo_writes(storage, "repo_writes_10k_memory", "memory");
}

Value bench_record() {
  const char* path = std::getenv("ATCR_BENCH_RECORD");
  std::ifstream in(path ? path : "bench/record-1k.json");
  if (!in) throw Error("cannot read the bench record (set ATCR_BENCH_RECORD)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

void cbor_encode() {
  Value v = bench_record();
  Bytes bytes = cbor::encode(v);
  std::size_t n = scale(100'000);
  std::size_t total = 0;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) total += cbor::encode(v).size();
  double s = seconds_since(t0);
  if (total != n * bytes.size()) throw Error("encode size changed");
  emit("cbor_encode", n, s,
       {{"bytes", static_cast<std::int64_t>(bytes.size())},
        {"bytes_per_sec", static_cast<std::int64_t>(n * bytes.size() / s)},
        {"cid", Cid::compute(Codec::kDagCbor, bytes).to_string()}});
}

void cbor_decode() {
  Bytes bytes = cbor::encode(bench_record());
  std::size_t n = scale(100'000);
  std::size_t keys = 0;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) keys += cbor::decode(bytes).as_map().size();
  double s = seconds_since(t0);
  if (keys == 0) throw Error("decode produced nothing");
  emit("cbor_decode", n, s,
       {{"bytes", static_cast<std::int64_t>(bytes.size())},
        {"bytes_per_sec", static_cast<std::int64_t>(n * bytes.size() / s)}});
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;
    else only.push_back(a);
  }
  if (const char* q = std::getenv("ATCR_BENCH_QUICK"); q && std::string(q) == "1") quick = true;
  const std::vector<std::pair<std::string, std::function<void()>>> benches = {
      {"mst_build_100k", mst_build},
      {"repo_writes_10k", repo_writes_sqlite},
      {"repo_writes_10k_memory", repo_writes_memory},
      {"cbor_encode", cbor_encode},
      {"cbor_decode", cbor_decode},
  };
  try {
    for (const auto& [name, fn] : benches) {
      if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
      std::cerr << "[atcr-bench] running " << name << "\n";
      fn();
    }
  } catch (const std::exception& e) {
    std::cerr << "atcr_bench: " << e.what() << "\n";
    return 1;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::cout << "{\"name\":\"peak_rss_kb\",\"value\":" << ru.ru_maxrss << "}\n";
  return 0;
}

// index_bench: the network index's ingestion throughput against a real PDS
// (bench/index.sh starts the reference PDS and passes its URLs).
//
//   index_bench <pds_url> <plc_url> <work_dir> [accounts=50] [commits=10]
//
// Creates `accounts` accounts, each making `commits` commits of ATCR records
// (a manifest, two tags and a star per commit), then measures:
//  - firehose: subscribeRepos from cursor 0 read into memory, then every
//    frame through Ingester::handle_frame (signature and MST checks, SQLite)
//    into a fresh index: events/s;
//  - backfill: index::backfill of the PDS (listRepos + verified getRepo per
//    repo) into another fresh index: repos/s;
// and prints peak RSS (VmHWM). One line each on stdout.
#include <fmt/core.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "atcr/identity/directory_resolver.h"
#include "atcr/index/index.h"
#include "atcr/index/ingest.h"
#include "atcr/oci/digest.h"
#include "atcr/xrpc/client.h"
#include "atcr/xrpc/websocket_client.h"

using namespace atcr;
using Clock = std::chrono::steady_clock;

namespace {

std::string peak_rss() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return line.substr(6);
  return "?";
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Value record_write(const std::string& collection, const std::string& rkey, Value value) {
  return Value(Value::Map{{"$type", Value("com.atproto.repo.applyWrites#create")},
                          {"collection", Value(collection)},
                          {"rkey", Value(rkey)},
                          {"value", std::move(value)}});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: index_bench <pds_url> <plc_url> <work_dir> [accounts] [commits]\n";
    return 2;
  }
  std::string pds_url = argv[1], plc_url = argv[2];
  std::filesystem::path work = argv[3];
  int accounts = argc > 4 ? std::stoi(argv[4]) : 50;
  int commits = argc > 5 ? std::stoi(argv[5]) : 10;
  std::filesystem::create_directories(work);
  xrpc::XrpcClient pds(pds_url);

  auto started = Clock::now();
  std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 100000000);
  std::vector<std::string> dids;
  for (int a = 0; a < accounts; ++a) {
    std::string handle = fmt::format("ib{}x{}.test", run, a);
    Value out = pds.procedure("com.atproto.server.createAccount",
                              Value(Value::Map{{"handle", Value(handle)},
                                               {"email", Value(fmt::format("ib{}x{}@example.com", run, a))},
                                               {"password", Value("bench-password-" + run)}}));
    std::string did = out.at("did").as_string(), jwt = out.at("accessJwt").as_string();
    dids.push_back(did);
    for (int c = 0; c < commits; ++c) {
      std::string repo = fmt::format("app{}", c % 3), seed = fmt::format("{}/{}", did, c);
      std::string digest = oci::Digest::of(std::string_view(seed)).str();
      std::string rkey = fmt::format("3kbench{:06d}", c);
      Value::Array writes{
          record_write("io.atcr.manifest", rkey,
                       Value(Value::Map{{"$type", Value("io.atcr.manifest")}, {"repository", Value(repo)},
                                        {"digest", Value(digest)},
                                        {"mediaType", Value("application/vnd.oci.image.manifest.v1+json")},
                                        {"schemaVersion", Value(2)}, {"createdAt", Value("2026-12-03T07:00:00.000Z")},
                                        {"holdDid", Value("did:web:hold.example.com")}})),
          record_write("io.atcr.tag", fmt::format("{}:v{}", repo, c),
                       Value(Value::Map{{"$type", Value("io.atcr.tag")}, {"repository", Value(repo)},
                                        {"tag", Value(fmt::format("v{}", c))},
                                        {"manifest", Value("at://" + did + "/io.atcr.manifest/" + rkey)},
                                        {"updatedAt", Value("2026-12-03T07:00:00.000Z")}})),
          record_write("io.atcr.sailor.star", fmt::format("3kstar{:06d}", c),
                       Value(Value::Map{{"$type", Value("io.atcr.sailor.star")},
                                        {"subject", Value("at://" + did + "/io.atcr.repo.page/" + repo)},
                                        {"createdAt", Value("2026-12-03T07:00:00.000Z")}}))};
      pds.procedure("com.atproto.repo.applyWrites",
                    Value(Value::Map{{"repo", Value(did)}, {"writes", Value(std::move(writes))}}), {}, {.bearer = jwt});
    }
  }
  std::cerr << fmt::format("setup: {} accounts x {} commits in {:.1f} s\n", accounts, commits, seconds_since(started));

  identity::ResolverOptions ro;
  ro.plc_directory = plc_url;
  ro.handles.allow_test_handles = true;
  ro.handles.resolver_service = pds_url;
  ro.handles.lookup_txt = [](std::string_view) { return std::vector<std::string>{}; };
  ro.did_web.allow_http_localhost = true;
  identity::DirectoryResolver resolver(ro);

  // Firehose: the PDS's whole stream, recorded, then ingested.
  std::vector<Bytes> frames;
  {
    std::string url = pds_url;
    url.replace(0, url.find("://"), url.rfind("https", 0) == 0 ? "wss" : "ws");
    auto ws = xrpc::WebSocketClient::connect(url + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0");
    while (auto m = ws->receive(std::chrono::milliseconds(1500))) {
      if (m->kind == xrpc::WebSocketMessage::kTimeout) break;
      frames.push_back(std::move(m->data));
    }
  }
  {
    auto idx = index::Index::open(work / "firehose.sqlite");
    index::Ingester ingester(*idx, resolver);
    // Resolve every DID once first: the bench measures ingestion, not PLC.
    for (const std::string& did : dids) resolver.resolve_did(did);
    auto t = Clock::now();
    for (const Bytes& frame : frames) {
      index::FrameInfo info;
      ingester.handle_frame(frame, pds_url, info);  // as the consumer of a PDS source passes its origin
    }
    double s = seconds_since(t);
    auto st = ingester.stats();
    std::cout << fmt::format("firehose: {} events ({} applied, {} re-syncs, {} rejected) in {:.2f} s = {:.0f} events/s\n",
                             frames.size(), st.applied, st.resyncs, st.rejected, s, frames.size() / s);
  }
  {
    auto idx = index::Index::open(work / "backfill.sqlite");
    index::Ingester ingester(*idx, resolver);
    auto t = Clock::now();
    index::BackfillProgress p = index::backfill(ingester, pds_url);
    double s = seconds_since(t);
    std::cout << fmt::format("backfill: {} repos listed, {} indexed, {} records in {:.2f} s = {:.1f} repos/s\n",
                             p.repos_seen, p.repos_indexed, p.records, s, p.repos_indexed / s);
    std::cout << fmt::format("index: {} repositories\n", idx->repository_count());
  }
  std::cout << "peak RSS:" << peak_rss() << "\n";
  return 0;
}

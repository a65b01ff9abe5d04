// index::Ingester over real #commit frames from an embedded PDS, and over
// frames tampered with every way a hostile relay could: each is rejected,
// logged, and leaves the index as it was. A broken chain re-syncs from the
// PDS (getRepo over HTTP).
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "atcr/data/car.h"
#include "atcr/data/cbor.h"
#include "atcr/data/datetime.h"
#include "atcr/index/index.h"
#include "atcr/index/ingest.h"
#include "atcr/oci/digest.h"
#include "atcr/pds/embedded_pds.h"
#include "atcr/pds/endpoints.h"
#include "atcr/pds/event_stream.h"
#include "atcr/pds/sequencer.h"
#include "atcr/repo/commit.h"
#include "atcr/xrpc/server.h"
#include "atcr_test_records.h"
#include "free_port.h"
#include "index/identity_refresher.h"
#include "memory_resolver.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::index;

namespace {

using test::digest_of;

Value manifest(const std::string& repository, const std::string& seed) { return test::manifest_value(repository, seed); }

Value tag(const std::string& did, const std::string& repository, const std::string& name, const std::string& rkey) {
  return test::tag_value(did, repository, name, rkey);
}

// An embedded PDS serving its sync endpoints on a free port, so re-syncs
// can fetch its repo.
struct Pds {
  test::TempDir dir{"ingest-pds"};
  int port = test::free_port();
  std::unique_ptr<pds::EmbeddedPds> pds;
  std::unique_ptr<xrpc::XrpcServer> server;
  test::MemoryResolver resolver;

  Pds() {
    pds::PdsConfig c;
    c.data_dir = dir.path();
    c.public_url = "http://127.0.0.1:" + std::to_string(port);
    pds = pds::EmbeddedPds::open(c);
    xrpc::ServerOptions so;
    so.port = port;
    so.logger = nullptr;
    server = std::make_unique<xrpc::XrpcServer>(so);
    pds::register_endpoints(*server, *pds, {});
    server->start();
    resolver.add_document(pds->did_document());
  }

  // app:latest, a manifest with digest_of("one").
  void push_app() {
    const std::string& did = pds->did();
    pds->apply_writes({RecordWrite::create("io.atcr.manifest", "3kaaaaaaaaaa2", manifest("app", "one")),
                       RecordWrite::create("io.atcr.tag", "app:latest", tag(did, "app", "latest", "3kaaaaaaaaaa2"))});
  }

  std::vector<Bytes> frames_after(std::int64_t seq) {
    std::vector<Bytes> out;
    for (const pds::SequencedEvent& e : pds->sequencer().read_after(seq, 1000)) out.push_back(e.frame);
    return out;
  }
};

// Captures what is written to stderr (the log) while alive.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    ::dup2(::fileno(file_), 2);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::rewind(file_);
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, file_)) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_ = -1;
};

Outcome feed(Ingester& ingester, const Bytes& frame) {
  FrameInfo info;
  return ingester.handle_frame(frame, "", info);
}

// The last #commit frame's body, to tamper with.
Value last_commit_body(Pds& p) {
  Value body;
  for (const Bytes& frame : p.frames_after(0)) {
    pds::Frame f = pds::decode_frame(frame);
    if (f.type == "#commit") body = f.body;
  }
  return body;
}

Bytes reframe(const Value& body) { return pds::encode_message_frame("#commit", body); }

}  // namespace

TEST_CASE("ingest: a PDS's firehose indexes its io.atcr records; replays change nothing") {
  Pds p;
  const std::string& did = p.pds->did();
  p.pds->apply_writes({RecordWrite::create("io.atcr.manifest", "3kaaaaaaaaaa2", manifest("app", "one")),
                       RecordWrite::create("io.atcr.tag", "app:latest", tag(did, "app", "latest", "3kaaaaaaaaaa2")),
                       RecordWrite::create("app.bsky.feed.post", "3kaaaaaaaaaa2", Value(Value::Map{{"text", Value("hi")}}))});
  p.pds->apply_writes({RecordWrite::create("io.atcr.tag", "app:v2", tag(did, "app", "v2", "3kaaaaaaaaaa2"))});
  p.pds->apply_writes({RecordWrite::remove("io.atcr.tag", "app:v2")});

  auto idx = Index::open(":memory:");
  Ingester ingester(*idx, p.resolver);
  for (const Bytes& frame : p.frames_after(0)) feed(ingester, frame);
  auto detail = idx->repository(did, "app");
  REQUIRE(detail);
  REQUIRE(detail->tags.size() == 1);  // v2 came and went
  CHECK(detail->tags[0].tag == "latest");
  CHECK(detail->tags[0].digest == digest_of("one"));
  CHECK(idx->repo_state(did)->rev == p.pds->rev());

  for (const Bytes& frame : p.frames_after(0))
    if (pds::decode_frame(frame).type == "#commit") CHECK(feed(ingester, frame) == Outcome::kIgnored);
  CHECK(idx->repository(did, "app")->tags.size() == 1);
}

TEST_CASE("ingest: tampered commits are rejected, logged, and change nothing") {
  Pds p;
  const std::string& did = p.pds->did();
  p.push_app();
  auto idx = Index::open(":memory:");
  Ingester ingester(*idx, p.resolver);
  for (const Bytes& frame : p.frames_after(0)) feed(ingester, frame);
  REQUIRE(idx->repository(did, "app")->tags.size() == 1);
  p.pds->apply_writes({RecordWrite::create("io.atcr.tag", "app:evil", tag(did, "app", "evil", "3kaaaaaaaaaa2")),
                       RecordWrite::update("io.atcr.tag", "app:latest", tag(did, "app", "latest", "3kbbbbbbbbbb2"))});
  Value good = last_commit_body(p);

  car::Contents contents = car::read(good.at("blocks").as_bytes());
  Commit commit = Commit::decode(*contents.blocks.find(good.at("commit").as_link()));

  std::vector<std::pair<std::string, Value>> forgeries;
  {  // a record's bytes changed under its CID
    Value v = good;
    Bytes car = v.at("blocks").as_bytes();
    car.back() ^= 0x01;
    v.as_map()["blocks"] = Value(car);
    forgeries.emplace_back("a block that does not hash to its CID", v);
  }
  {  // a commit signed by someone else's key
    PrivateKey other = PrivateKey::generate(KeyType::kSecp256k1);
    Commit forged = Commit::sign(commit.did, commit.data, commit.rev, other);
    BlockMap blocks;
    for (const auto& [cid, bytes] : contents.blocks.blocks())
      if (cid != good.at("commit").as_link()) blocks.put(cid, bytes);
    Cid root = blocks.add(forged.encode());
    Value v = good;
    v.as_map()["blocks"] = Value(car::write({root}, blocks));
    v.as_map()["commit"] = Value(root);
    forgeries.emplace_back("a bad signature", v);
  }
  {  // an op claiming another record than the MST holds
    Value v = good;
    Value::Array ops = v.at("ops").as_array();
    ops[0].as_map()["cid"] = Value(Cid::compute(Codec::kDagCbor, cbor::encode(Value("other"))));
    v.as_map()["ops"] = Value(ops);
    forgeries.emplace_back("an op that disagrees with the MST", v);
  }
  {  // an op hidden from the list: inversion no longer reaches prevData
    Value v = good;
    Value::Array ops = v.at("ops").as_array();
    ops.pop_back();
    v.as_map()["ops"] = Value(ops);
    forgeries.emplace_back("a missing op (prevData)", v);
  }
  {  // prevData of another tree
    Value v = good;
    v.as_map()["prevData"] = Value(Cid::compute(Codec::kDagCbor, cbor::encode(Value("x"))));
    forgeries.emplace_back("a wrong prevData", v);
  }
  {  // the message's rev is not the commit's
    Value v = good;
    v.as_map()["rev"] = Value("3zzzzzzzzzzz2");
    forgeries.emplace_back("a rev that is not the commit's", v);
  }
  for (const auto& forgery : forgeries) {
    const std::string& what = forgery.first;
    const Value& body = forgery.second;
    CAPTURE(what);
    StderrCapture log;
    CHECK(feed(ingester, reframe(body)) == Outcome::kRejected);
    std::string said = log.text();
    CHECK_MESSAGE(said.find("rejected commit of " + did) != std::string::npos, said);
    auto detail = idx->repository(did, "app");
    REQUIRE(detail);
    CHECK(detail->tags.size() == 1);
    CHECK(detail->tags[0].digest == digest_of("one"));
  }
  CHECK(ingester.stats().rejected == forgeries.size());
  // The genuine article still goes in.
  CHECK(feed(ingester, reframe(good)) == Outcome::kApplied);
  CHECK(idx->repository(did, "app")->tags.size() == 2);

  // A frame tells its seq and time (a replay, now ignored).
  FrameInfo info;
  CHECK(ingester.handle_frame(reframe(good), "", info) == Outcome::kIgnored);
  CHECK(info.seq == good.find("seq")->as_integer());
  REQUIRE(info.time);
  CHECK(format_datetime(*info.time) == good.find("time")->as_string());

  // Garbage frames are parse errors (the consumer drops the connection).
  CHECK_THROWS_AS(ingester.handle_frame(Bytes{0xa1, 0x00}, "", info), ParseError);
  CHECK_THROWS_AS(ingester.handle_frame(pds::encode_error_frame("FutureCursor", "no"), "", info), Error);
}

TEST_CASE("ingest: a broken chain re-syncs the repo from its PDS; #account hides it") {
  Pds p;
  const std::string& did = p.pds->did();
  p.push_app();
  std::int64_t seen = p.pds->sequencer().current_seq();
  auto idx = Index::open(":memory:");
  Ingester ingester(*idx, p.resolver);
  for (const Bytes& frame : p.frames_after(0)) feed(ingester, frame);
  // Two more commits; the consumer misses the first.
  p.pds->apply_writes({RecordWrite::create("io.atcr.tag", "app:missed", tag(did, "app", "missed", "3kaaaaaaaaaa2"))});
  p.pds->apply_writes({RecordWrite::create("io.atcr.tag", "app:seen", tag(did, "app", "seen", "3kaaaaaaaaaa2"))});
  auto later = p.frames_after(seen);
  REQUIRE(later.size() == 2);
  CHECK(feed(ingester, later[1]) == Outcome::kResynced);
  CHECK(idx->repository(did, "app")->tags.size() == 3);  // the missed one too, from getRepo
  CHECK(idx->repo_state(did)->rev == p.pds->rev());
  CHECK(feed(ingester, later[0]) == Outcome::kIgnored);  // late and old

  // #account from a PDS that does not host the DID is refused; from its own, hides it.
  Value takedown(Value::Map{{"seq", Value(99)}, {"did", Value(did)}, {"time", Value("2026-12-03T07:00:00Z")},
                            {"active", Value(false)}, {"status", Value("takendown")}});
  StderrCapture log;
  CHECK(ingester.handle_message("#account", takedown, "https://evil.example.com") == Outcome::kRejected);
  CHECK(log.text().find("not its PDS") != std::string::npos);
  CHECK(idx->repository(did, "app"));
  CHECK(ingester.handle_message("#account", takedown, "http://127.0.0.1:" + std::to_string(p.port)) == Outcome::kApplied);
  CHECK_FALSE(idx->repository(did, "app"));
  CHECK(ingester.handle_message("#account", takedown, "") == Outcome::kApplied);  // a relay: trusted
}

TEST_CASE("ingest: backfill lists the PDS's repos and indexes each; resumable and idempotent") {
  Pds p;
  const std::string& did = p.pds->did();
  p.push_app();
  auto idx = Index::open(":memory:");
  Ingester ingester(*idx, p.resolver);
  std::string host = "http://127.0.0.1:" + std::to_string(p.port);
  CHECK_FALSE(backfilled(*idx, host));
  BackfillProgress progress = backfill(ingester, host);
  CHECK(progress.done);
  CHECK(progress.repos_indexed == 1);
  CHECK(progress.records == 2);
  CHECK(backfilled(*idx, host));
  CHECK(idx->repository(did, "app")->tags.size() == 1);
  CHECK(backfill(ingester, host).repos_indexed == 0);  // done: nothing again
  BackfillProgress again = backfill(ingester, host, {.restart = true});
  CHECK(again.repos_skipped == 1);  // current already
}

TEST_CASE("identity refreshes run beside the events, once per DID, and settle") {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::pair<std::string, bool>> done;
  IdentityRefresher refresher([&](const std::string& did, bool fresh) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });  // a handle lookup that hangs
    done.emplace_back(did, fresh);
  });
  auto started = std::chrono::steady_clock::now();
  refresher.enqueue("did:plc:a", false);  // taken by the worker, which hangs
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  refresher.enqueue("did:plc:b", false);
  refresher.enqueue("did:plc:b", true);   // already waiting: upgraded to fresh, not queued twice
  refresher.enqueue("did:plc:c", false);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));  // the caller never waits
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  refresher.settle();
  std::lock_guard lock(mu);
  REQUIRE(done.size() == 3);
  CHECK(done[0] == std::pair<std::string, bool>{"did:plc:a", false});
  CHECK(done[1] == std::pair<std::string, bool>{"did:plc:b", true});
  CHECK(done[2] == std::pair<std::string, bool>{"did:plc:c", false});
}

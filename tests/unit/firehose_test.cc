// The firehose: the persistent sequencer, event-stream frames, the #commit
// CAR slice (enough to invert the ops), boot-time events and recovery, and
// subscribeRepos' cursor rules (over an in-memory socket, and over a real
// WebSocket when the server supports subscriptions).
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "atcr/data/car.h"
#include "atcr/data/cbor.h"
#include "atcr/pds/embedded_pds.h"
#include "atcr/pds/endpoints.h"
#include "atcr/pds/event_stream.h"
#include "atcr/pds/sequencer.h"
#include "atcr/repo/commit.h"
#include "atcr/repo/mst.h"
#include "atcr/repo/sqlite_store.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/websocket_client.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::pds;
using namespace std::chrono_literals;

namespace {

Value body_at(std::string_view time = "2025-01-01T00:00:00.000Z") {
  return Value(Value::Map{{"did", Value("did:web:example.com")}, {"time", Value(time)}});
}

Value record(std::string_view text) {
  return Value(Value::Map{{"$type", Value("io.atcr.test")}, {"text", Value(text)}});
}

PdsConfig config_for(const test::TempDir& dir) {
  PdsConfig c;
  c.data_dir = dir.path();
  c.public_url = "http://localhost:2583";
  return c;
}

// An in-memory WebSocket: records what the server side sends.
class FakeSocket : public xrpc::WebSocket {
 public:
  bool send_binary(BytesView message) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    messages_.emplace_back(message.begin(), message.end());
    cv_.notify_all();
    return true;
  }
  bool send_text(std::string_view) override { return !closed_; }
  void close(std::uint16_t, std::string_view) override {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  bool closed() const override { return closed_; }
  bool wait_closed(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_.load(); });
    return closed_;
  }
  // Waits until at least `n` messages arrived (or 10 s); returns them all.
  std::vector<Bytes> wait_for(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return messages_.size() >= n; });
    return messages_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Bytes> messages_;
  std::atomic<bool> closed_{false};
};

// Runs serve_firehose on its own thread until the socket closes.
struct Session {
  FakeSocket socket;
  std::thread thread;
  Session(Sequencer& seq, std::optional<std::int64_t> cursor) {
    EndpointOptions opts;
    opts.firehose_poll = 50ms;
    opts.firehose_batch = 2;  // exercise batching
    thread = std::thread([&seq, cursor, opts, this] { serve_firehose(seq, socket, cursor, opts); });
  }
  ~Session() {
    socket.close(1000, {});
    thread.join();
  }
};

std::vector<std::int64_t> seqs_of(const std::vector<Bytes>& frames) {
  std::vector<std::int64_t> out;
  for (const Bytes& f : frames) {
    Frame frame = decode_frame(f);
    if (const Value* seq = frame.body.find("seq")) out.push_back(seq->as_integer());
  }
  return out;
}

// Checks a #commit the way a relay does: signature, fields against the
// signed commit, and the ops inverted over the CAR slice alone reach prevData.
void verify_commit_event(const Value& body, const PublicKey& key) {
  car::Contents contents = car::read(body.at("blocks").as_bytes());
  REQUIRE(contents.roots.size() == 1);
  CHECK(contents.roots[0] == body.at("commit").as_link());
  const Bytes* block = contents.blocks.find(contents.roots[0]);
  REQUIRE(block);
  Commit commit = Commit::decode(*block);
  CHECK(commit.verify(key));
  CHECK(commit.rev == body.at("rev").as_string());
  CHECK(commit.did == body.at("repo").as_string());
  mst::Tree tree(contents.blocks, commit.data);
  for (const Value& op : body.at("ops").as_array()) {
    const std::string& path = op.at("path").as_string();
    const std::string& action = op.at("action").as_string();
    if (action == "delete") {
      CHECK(op.at("cid").is_null());
      CHECK_FALSE(tree.get(path));
    } else {
      CHECK(tree.get(path) == op.at("cid").as_link());
      CHECK(contents.blocks.has(op.at("cid").as_link()));  // the record itself travels along
    }
    if (action == "create")
      CHECK(op.find("prev") == nullptr);
    else
      CHECK(op.at("prev").is_link());
  }
  for (const Value& op : body.at("ops").as_array()) {
    const std::string& path = op.at("path").as_string();
    if (op.at("action").as_string() == "create")
      tree.remove(path);
    else
      tree.put(path, op.at("prev").as_link());
  }
  CHECK(tree.root() == body.at("prevData").as_link());
}

}  // namespace

TEST_CASE("firehose: frames encode and decode") {
  Value body = body_at();
  body.as_map()["seq"] = Value(7);
  Bytes frame = encode_message_frame("#identity", body);
  // The header is exactly {op: 1, t: "#identity"}, DAG-CBOR.
  cbor::Prefix header = cbor::decode_prefix(frame);
  CHECK(header.value == Value(Value::Map{{"op", Value(1)}, {"t", Value("#identity")}}));
  Frame decoded = decode_frame(frame);
  CHECK(decoded.op == 1);
  CHECK(decoded.type == "#identity");
  CHECK(decoded.body == body);

  Frame error = decode_frame(encode_error_frame("FutureCursor", "Cursor in the future."));
  CHECK(error.op == -1);
  CHECK(error.type.empty());
  CHECK(error.body.at("error").as_string() == "FutureCursor");
  CHECK(error.body.at("message").as_string() == "Cursor in the future.");
  CHECK(decode_frame(encode_error_frame("ConsumerTooSlow")).body.find("message") == nullptr);

  // Hostile frames: ParseErrors, never crashes.
  Bytes only_header = cbor::encode(Value(Value::Map{{"op", Value(1)}, {"t", Value("#commit")}}));
  CHECK_THROWS_AS(decode_frame(only_header), ParseError);
  CHECK_THROWS_AS(decode_frame(Bytes{}), ParseError);
  Bytes bad_op = cbor::encode(Value(Value::Map{{"op", Value(2)}}));
  cbor::encode_to(bad_op, body);
  CHECK_THROWS_AS(decode_frame(bad_op), ParseError);
  Bytes no_t = cbor::encode(Value(Value::Map{{"op", Value(1)}}));
  cbor::encode_to(no_t, body);
  CHECK_THROWS_AS(decode_frame(no_t), ParseError);
  Bytes trailing = frame;
  trailing.push_back(0);
  CHECK_THROWS_AS(decode_frame(trailing), ParseError);
  Bytes not_map = cbor::encode(Value(Value::Map{{"op", Value(1)}, {"t", Value("#x")}}));
  cbor::encode_to(not_map, Value(5));
  CHECK_THROWS_AS(decode_frame(not_map), ParseError);
  Bytes truncated(frame.begin(), frame.end() - 3);
  CHECK_THROWS_AS(decode_frame(truncated), ParseError);
  Bytes error_no_name = cbor::encode(Value(Value::Map{{"op", Value(-1)}}));
  cbor::encode_to(error_no_name, Value(Value::Map{}));
  CHECK_THROWS_AS(decode_frame(error_no_name), ParseError);
}

TEST_CASE("firehose: sequencer persists, stays monotonic, reads after a cursor, trims") {
  test::TempDir dir("seq");
  std::string path = (dir / "events.sqlite").string();
  {
    Sequencer seq(path);
    CHECK(seq.current_seq() == 0);
    CHECK_FALSE(seq.oldest_seq());
    for (int i = 1; i <= 5; ++i) CHECK(seq.append("#identity", body_at()) == i);
    CHECK_THROWS_AS(seq.append("#identity", Value(Value::Map{})), ParseError);  // no time
    CHECK_THROWS_AS(seq.append("#identity", Value(3)), ParseError);
    CHECK(seq.current_seq() == 5);
  }
  Sequencer seq(path);
  CHECK(seq.current_seq() == 5);
  CHECK(seq.append("#account", body_at()) == 6);
  auto after = seq.read_after(3, 10);
  REQUIRE(after.size() == 3);
  CHECK(after[0].seq == 4);
  CHECK(after[2].type == "#account");
  CHECK(decode_frame(after[2].frame).body.at("seq").as_integer() == 6);
  CHECK(seq.read_after(0, 2).size() == 2);
  CHECK(seq.read_after(6, 10).empty());
  CHECK(seq.last_of({"#identity", "#account"})->seq == 6);
  CHECK(seq.last_of({"#commit"}) == std::nullopt);

  // Keep the last 2; then even after dropping everything old, seqs go on.
  CHECK(seq.trim(2, 0s) == 4);
  CHECK(seq.oldest_seq() == 5);
  CHECK(seq.size() == 2);
  CHECK(seq.trim(0, 1s) == 0);  // nothing is a second old yet
  std::this_thread::sleep_for(1100ms);
  CHECK(seq.trim(0, 1s) == 1);  // the newest always stays
  CHECK(seq.oldest_seq() == 6);
  CHECK(seq.append("#identity", body_at()) == 7);
  CHECK(seq.trim(1, 0s) == 1);
  Sequencer reopened(path);
  CHECK(reopened.current_seq() == 7);
  CHECK(reopened.append("#identity", body_at()) == 8);  // never reused
}

TEST_CASE("firehose: wait_for_new wakes on append and on close") {
  Sequencer seq(":memory:");
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(seq.wait_for_new(0, 50ms));
  CHECK(std::chrono::steady_clock::now() - start >= 40ms);
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    seq.append("#identity", body_at());
  });
  CHECK(seq.wait_for_new(0, 10s));
  writer.join();
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    seq.close();
  });
  start = std::chrono::steady_clock::now();
  CHECK_FALSE(seq.wait_for_new(1, 10s));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  closer.join();
}

TEST_CASE("firehose: #commit events carry a CAR slice that inverts the ops") {
  test::TempDir dir("fh-commit");
  auto pds = EmbeddedPds::open(config_for(dir));
  std::vector<RecordWrite> first;
  for (int i = 0; i < 40; ++i) first.push_back(RecordWrite::create("io.atcr.test", "k" + std::to_string(i), record("v")));
  pds->apply_writes(first);
  pds->apply_writes({RecordWrite::update("io.atcr.test", "k3", record("w")), RecordWrite::remove("io.atcr.test", "k7"),
                     RecordWrite::create("io.atcr.test", "new", record("n"))});
  pds->apply_writes({RecordWrite::remove("io.atcr.test", "k20")});

  auto events = pds->sequencer().read_after(0, 100);
  std::vector<Value> commits;
  for (const SequencedEvent& e : events)
    if (e.type == "#commit") commits.push_back(decode_frame(e.frame).body);
  REQUIRE(commits.size() == 4);  // the initial commit and three writes
  CHECK(commits[0].at("ops").as_array().empty());
  CHECK(commits[0].at("since").is_null());
  for (std::size_t i = 1; i < commits.size(); ++i) {
    const Value& c = commits[i];
    CHECK(c.at("repo").as_string() == pds->did());
    CHECK(c.at("since").as_string() == commits[i - 1].at("rev").as_string());
    CHECK(c.at("rebase").as_bool() == false);
    CHECK(c.at("tooBig").as_bool() == false);
    CHECK(c.at("blobs").as_array().empty());
    CHECK(c.at("seq").is_integer());
    CHECK(c.at("time").is_string());
    verify_commit_event(c, pds->signing_key());
  }
  CHECK(commits[2].at("ops").as_array().size() == 3);
  CHECK(commits.back().at("commit").as_link() == pds->head());
}

TEST_CASE("firehose: boot recovery sequences #sync when the head moved without an event") {
  test::TempDir dir("fh-recover");
  std::int64_t seq_before = 0;
  {
    auto pds = EmbeddedPds::open(config_for(dir));
    pds->apply_writes({RecordWrite::create("io.atcr.test", "a", record("a"))});
    seq_before = pds->sequencer().current_seq();
  }
  // A commit that reached repo.sqlite without its event (a crash in between).
  Cid head = Cid::compute(Codec::kDagCbor, {});
  {
    SqliteRepoStorage storage((dir / "repo.sqlite").string());
    Repository repo = Repository::open(storage, "did:web:localhost%3A2583");
    PrivateKey key = PrivateKey::load((dir / "signing.key").string());
    head = repo.apply_writes({RecordWrite::create("io.atcr.test", "b", record("b"))}, key).commit;
  }
  auto pds = EmbeddedPds::open(config_for(dir));
  REQUIRE(pds->sequencer().current_seq() == seq_before + 1);
  auto last = pds->sequencer().read_after(seq_before, 10);
  REQUIRE(last.size() == 1);
  CHECK(last[0].type == "#sync");
  Value body = decode_frame(last[0].frame).body;
  CHECK(body.at("did").as_string() == pds->did());
  CHECK(body.at("rev").as_string() == pds->rev());
  car::Contents contents = car::read(body.at("blocks").as_bytes());
  CHECK(contents.roots.at(0) == head);
  CHECK(contents.blocks.size() == 1);
  // And only once.
  pds.reset();
  pds = EmbeddedPds::open(config_for(dir));
  CHECK(pds->sequencer().current_seq() == seq_before + 1);
}

TEST_CASE("firehose: a replaced signing key re-signs the repo and announces it") {
  test::TempDir dir("fh-rotate");
  std::string old_key;
  std::int64_t seq_before = 0;
  {
    auto pds = EmbeddedPds::open(config_for(dir));
    pds->apply_writes({RecordWrite::create("io.atcr.test", "a", record("a"))});
    old_key = pds->signing_key().did_key();
    seq_before = pds->sequencer().current_seq();
  }
  std::filesystem::remove(dir / "signing.key");
  auto pds = EmbeddedPds::open(config_for(dir));
  CHECK(pds->signing_key().did_key() != old_key);
  auto events = pds->sequencer().read_after(seq_before, 10);
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == "#identity");
  CHECK(events[1].type == "#sync");
  VerifiedRepo verified = verify_repo_car(pds->export_car(), pds->did(), pds->signing_key());
  CHECK(verified.records.size() == 1);
}

TEST_CASE("firehose: subscribeRepos cursor rules") {
  Sequencer seq(":memory:");
  for (int i = 0; i < 5; ++i) seq.append("#identity", body_at());

  SUBCASE("replay from a cursor, then live events") {
    Session s(seq, 2);
    CHECK(seqs_of(s.socket.wait_for(3)) == std::vector<std::int64_t>{3, 4, 5});
    seq.append("#identity", body_at());
    seq.append("#account", body_at());
    CHECK(seqs_of(s.socket.wait_for(5)) == std::vector<std::int64_t>{3, 4, 5, 6, 7});
  }
  SUBCASE("cursor 0 replays everything") {
    Session s(seq, 0);
    CHECK(seqs_of(s.socket.wait_for(5)).size() == 5);
  }
  SUBCASE("no cursor: live only") {
    Session s(seq, std::nullopt);
    std::this_thread::sleep_for(100ms);
    seq.append("#identity", body_at());
    auto got = s.socket.wait_for(1);
    CHECK(seqs_of(got) == std::vector<std::int64_t>{6});
  }
  SUBCASE("a future cursor gets FutureCursor and the session ends") {
    FakeSocket socket;
    serve_firehose(seq, socket, 99, EndpointOptions{});
    auto got = socket.wait_for(1);
    REQUIRE(got.size() == 1);
    Frame f = decode_frame(got[0]);
    CHECK(f.op == -1);
    CHECK(f.body.at("error").as_string() == "FutureCursor");
  }
  SUBCASE("an outdated cursor gets #info OutdatedCursor, then the oldest kept") {
    seq.trim(2, 0s);  // keeps 4 and 5
    Session s(seq, 1);
    auto got = s.socket.wait_for(3);
    REQUIRE(got.size() == 3);
    Frame info = decode_frame(got[0]);
    CHECK(info.type == "#info");
    CHECK(info.body.at("name").as_string() == "OutdatedCursor");
    CHECK(seqs_of(got) == std::vector<std::int64_t>{4, 5});
  }
}

namespace {

// Reads frames with a 10 s bound, so a test never hangs.
struct WsClient {
  std::unique_ptr<xrpc::WebSocketClient> ws;
  WsClient(int port, const std::string& target)
      : ws(xrpc::WebSocketClient::connect("ws://127.0.0.1:" + std::to_string(port) + target)) {}
  Frame read() {
    auto message = ws->receive(std::chrono::seconds(10));
    REQUIRE(message);
    REQUIRE(message->kind == xrpc::WebSocketMessage::kBinary);
    return decode_frame(message->data);
  }
};

}  // namespace

TEST_CASE("firehose: subscribeRepos over a real WebSocket") {
  test::TempDir dir("fh-ws");
  auto pds = EmbeddedPds::open(config_for(dir));
  xrpc::ServerOptions so;
  so.logger = nullptr;
  xrpc::XrpcServer server(so);
  EndpointOptions opts;
  opts.firehose_poll = 100ms;
  try {
    register_endpoints(server, *pds, opts);
  } catch (const std::logic_error& e) {
    MESSAGE("skipped: the XRPC server has no subscriptions yet (" << e.what() << ")");
    return;
  }
  server.start();
  const std::string target = "/xrpc/com.atproto.sync.subscribeRepos";
  {
    WsClient client(server.port(), target + "?cursor=0");
    CHECK(client.read().type == "#identity");
    CHECK(client.read().type == "#account");
    CHECK(client.read().type == "#commit");
    pds->apply_writes({RecordWrite::create("io.atcr.test", "live", record("x"))});
    Frame live = client.read();
    CHECK(live.type == "#commit");
    CHECK(live.body.at("seq").as_integer() == 4);
    verify_commit_event(live.body, pds->signing_key());
  }
  {
    WsClient client(server.port(), target + "?cursor=1000");
    Frame f = client.read();
    CHECK(f.op == -1);
    CHECK(f.body.at("error").as_string() == "FutureCursor");
  }
  {
    WsClient client(server.port(), target + "?cursor=banana");
    Frame f = client.read();
    CHECK(f.op == -1);
    CHECK(f.body.at("error").as_string() == "InvalidRequest");
  }
  server.stop();
}

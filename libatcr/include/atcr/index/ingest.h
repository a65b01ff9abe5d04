// Keeping the network index current: verified firehose events, re-syncs of
// single repos, and backfills of whole hosts.
//
//   index::Ingester ingester(*idx, resolver, http);
//   index::FirehoseConsumer consumer(ingester, {{.url = "https://relay.example",
//                                                .kind = index::SourceKind::kRelay}});
//   consumer.start();                   // a thread per source
//   index::backfill(ingester, "http://127.0.0.1:2583", {});   // listRepos + getRepo
//   consumer.stop();
//
// Trust: nothing from a firehose is believed unverified. A #commit must be
// signed by the key in the repo's current DID document (fetched fresh once
// if the cached key fails), its CAR blocks must hash to their CIDs, its ops
// must agree with the signed MST, and with sync v1.1's prevData the ops
// must invert to the previous root. A commit that fails is rejected and
// logged (warn), and nothing of it is indexed. A commit whose prevData is
// not the root we last verified for the repo (a broken chain: missed or
// forged events) makes the repo re-sync: getRepo from the DID's own PDS,
// verified as a whole, replaces everything indexed from it. Commits at or
// below the last verified rev are ignored (replays, duplicates from several
// sources). #identity re-resolves the DID (the handle only when it verifies
// both ways); #account hides or shows the account, but from a PDS source
// only for DIDs whose document names that PDS (a PDS cannot take down
// someone it does not host); a relay is trusted for #account of anyone.
//
// Only io.atcr.* records are indexed; repos without any are not tracked
// (except from their first commit on their own PDS's stream), so following
// a relay costs a signature check per ATCR commit and no storage for the
// rest.
//
// Threads: an Ingester may be used from several threads (one per source);
// events of one DID arriving from two sources at once are serialised.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/value.h"
#include "atcr/identity/resolver.h"
#include "atcr/index/index.h"
#include "atcr/net/http_client.h"

namespace atcr::index {

enum class Outcome {
  kApplied,   // verified; io.atcr.* changes (if any) are in the index
  kIgnored,   // nothing to do: another repo's news, an old rev, #info
  kRejected,  // failed verification or was malformed; logged
  kResynced,  // the repo was fetched whole and re-indexed
};

// What a subscribeRepos frame said of itself, besides its message.
struct FrameInfo {
  std::int64_t seq = 0;  // 0 when it has none (#info, errors)
  // The event's `time` (when the source emitted it); nullopt when absent
  // or not an atproto datetime.
  std::optional<std::chrono::system_clock::time_point> time;
};

// Counters since the Ingester was made (for logs and benches).
struct IngestStats {
  std::uint64_t events = 0;
  std::uint64_t applied = 0;
  std::uint64_t ignored = 0;
  std::uint64_t stale = 0;  // of those, commits at or below the repo's verified rev (replays, duplicates)
  std::uint64_t rejected = 0;
  std::uint64_t resyncs = 0;
  std::uint64_t records = 0;  // io.atcr.* record changes applied
};

class Ingester {
 public:
  // `http` fetches repos (getRepo) and is shared; default: one with a
  // 256 MiB response cap and 120 s timeout. The resolver gives DID keys and
  // PDS endpoints; it must outlive the Ingester.
  Ingester(Index& index, identity::Resolver& resolver, std::shared_ptr<const net::HttpClient> http = nullptr);
  ~Ingester();
  Ingester(const Ingester&) = delete;
  Ingester& operator=(const Ingester&) = delete;

  Index& index();

  // One subscribeRepos frame (header + body, DAG-CBOR). `source_origin` is
  // the origin of a PDS source ("" for a relay: trusted for #account).
  // `info` gets the event's seq and time (set before the event is handled).
  // Throws ParseError for a frame that is not an event-stream frame (the
  // connection should be dropped); an error frame ({op: -1}) throws
  // xrpc-style atcr::Error with its error name.
  Outcome handle_frame(BytesView frame, std::string_view source_origin, FrameInfo& info);
  // The body of one decoded message.
  Outcome handle_message(std::string_view type, const Value& body, std::string_view source_origin);

  // Fetches `did`'s repo whole from its PDS (`pds_url`, or the DID
  // document's), verifies it, and replaces what is indexed of it. Returns
  // the number of io.atcr.* records indexed. Throws on failure (network,
  // verification: nothing is changed then).
  std::size_t resync(std::string_view did, std::string_view pds_url = {});

  // The handles and PDSes of DIDs it starts to follow (or that re-sync or
  // announce an #identity) are resolved on a thread of the Ingester's own,
  // not while an event waits: a handle's lookups can take seconds. This
  // waits until every refresh queued so far is done; backfill() ends with it.
  void settle();

  IngestStats stats() const;

  // Called after each event with its repo's DID ("" when it has none), its
  // outcome, and whether it was stale (a commit at or below the verified
  // rev). Set before events flow; called on the handling thread.
  using Observer = std::function<void(std::string_view did, Outcome outcome, bool stale)>;
  void observe(Observer observer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

enum class SourceKind { kRelay, kPds };

struct Source {
  std::string url;  // the service's base URL: http(s):// or ws(s)://host[:port]
  SourceKind kind = SourceKind::kPds;
};

struct ConsumerOptions {
  // Reconnect backoff: doubles from min to max, reset after a connection
  // that delivered events.
  std::chrono::milliseconds min_backoff{500};
  std::chrono::milliseconds max_backoff{60000};
  // A stream silent this long is considered dead (pinged at half).
  std::chrono::milliseconds idle_timeout{60000};
  // Each event's seq is saved after it is handled (so a restart resumes
  // after the last one handled, losing none and repeating none that were
  // saved); `cursor_every` > 1 saves only every n-th event and on stop (a
  // crash then repeats at most n-1 events, which verification ignores).
  std::uint32_t cursor_every = 1;
};

// Where a consumer is on one source (for /metrics and logs).
struct SourceStatus {
  std::string url;
  bool connected = false;
  std::uint64_t events = 0;  // handled from this source since start()
  std::int64_t seq = 0;      // the last handled event's (0: none yet)
  // The last handled event's own time (the source's clock), and when we
  // had handled it (ours): their difference is how far behind the source
  // the consumer ran. nullopt until an event with a time was handled.
  std::optional<std::chrono::system_clock::time_point> event_time;
  std::optional<std::chrono::system_clock::time_point> handled_at;
};

// Follows com.atproto.sync.subscribeRepos on each source from its saved
// cursor (Index::cursor(url)); a source never seen starts from cursor 0 for
// a PDS (its whole retained history) and live for a relay. Reconnects with
// backoff on any failure; an OutdatedCursor #info makes a PDS source
// backfill-worthy (logged). Each source has a thread.
class FirehoseConsumer {
 public:
  FirehoseConsumer(Ingester& ingester, std::vector<Source> sources, ConsumerOptions options = {});
  ~FirehoseConsumer();  // stop()
  FirehoseConsumer(const FirehoseConsumer&) = delete;
  FirehoseConsumer& operator=(const FirehoseConsumer&) = delete;

  void start();
  // Interrupts every connection and joins the threads (promptly: within a
  // second or so). Idempotent.
  void stop();
  // Events handled so far, over all sources.
  std::uint64_t events() const;
  // One entry per source, in the order given. Any thread.
  std::vector<SourceStatus> status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct BackfillProgress {
  std::string host;
  std::uint64_t repos_seen = 0;     // listed so far
  std::uint64_t repos_indexed = 0;  // fetched and indexed
  std::uint64_t repos_skipped = 0;  // already current, inactive, or failing
  std::uint64_t records = 0;
  bool done = false;
};

struct BackfillOptions {
  // Called after each repo (and at the end) from the calling thread.
  std::function<void(const BackfillProgress&)> progress{};
  // Stops early when set (checked between repos); resumable later.
  const std::atomic<bool>* cancel = nullptr;
  // Start over instead of resuming from the saved position.
  bool restart = false;
};

// Lists every repo on `host` (com.atproto.sync.listReposByCollection for
// io.atcr.manifest where the host offers it, else listRepos) and re-syncs
// each whose head differs from what the index last verified. Resumable: the
// listing position is saved (Index::marker("backfill <host>")) as it goes,
// and a finished backfill records "done" there. Fetches each repo from its
// DID's PDS (the host itself when it is one). Errors with one repo are
// logged and skipped; failing to list throws.
BackfillProgress backfill(Ingester& ingester, std::string_view host, const BackfillOptions& options = {});

// Whether `host` has been backfilled to the end (its marker says "done").
bool backfilled(Index& index, std::string_view host);

}  // namespace atcr::index

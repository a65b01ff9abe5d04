// The standard PDS endpoints of an EmbeddedPds, on an XrpcServer.
//
// Registered (all public reads, as the reference PDS serves them):
//   com.atproto.sync.getRepo          CAR (application/vnd.ipld.car) of the whole repo
//   com.atproto.sync.getRecord        record proof CAR
//   com.atproto.sync.getLatestCommit  {cid, rev}
//   com.atproto.sync.listRepos        our one repo
//   com.atproto.sync.getRepoStatus    {did, active, rev}
//   com.atproto.sync.subscribeRepos   the firehose (WebSocket)
//   com.atproto.repo.describeRepo / getRecord / listRecords
//   com.atproto.repo.deleteRecord     procedure, gated by authorize_write
//   com.atproto.server.describeServer
//   com.atproto.identity.resolveHandle (our own handle only)
//   GET /.well-known/did.json         (did:web only)
//   GET /.well-known/atproto-did
// Not registered: com.atproto.sync.getBlob (the embedding service owns blobs).
//
// sync.getRepo ignores `since` and always answers with the whole repo: a
// full CAR is a valid answer to "blocks since rev" (a superset), and the
// repo engine does not track which rev added a block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "atcr/pds/embedded_pds.h"
#include "atcr/xrpc/server.h"

namespace atcr::pds {

// Where each live subscribeRepos session is (the last seq it was sent),
// for metrics: how many follow the firehose and how far the slowest is
// behind. Thread-safe.
class FirehoseSessions {
 public:
  struct Snapshot {
    std::size_t sessions = 0;
    // The lowest seq a session has been sent up to (its cursor before the
    // first event); nullopt with no session.
    std::optional<std::int64_t> oldest_sent;
  };
  Snapshot snapshot() const;

  // serve_firehose's bookkeeping.
  std::uint64_t open(std::int64_t position);
  void sent(std::uint64_t id, std::int64_t seq);
  void close(std::uint64_t id);

 private:
  mutable std::mutex mu_;
  std::uint64_t next_ = 0;
  std::map<std::uint64_t, std::int64_t> at_;
};

struct EndpointOptions {
  // Called before a write procedure (deleteRecord) runs; throws an
  // xrpc::XrpcError (AuthRequired, Forbidden...) to refuse. Unset: every
  // write is refused with 401 AuthRequired.
  std::function<void(const xrpc::ServerRequest&)> authorize_write;
  // subscribeRepos: events read from the log per batch, and how long a live
  // subscriber waits for new events before checking that its socket is open.
  std::size_t firehose_batch = 500;
  std::chrono::milliseconds firehose_poll{1000};
  // Register the firehose (needs XrpcServer::subscription support).
  bool subscribe_repos = true;
  // When set, every session reports its position here (metrics).
  std::shared_ptr<FirehoseSessions> sessions;
};

// Registers the endpoints above. `pds` must outlive the server.
void register_endpoints(xrpc::XrpcServer& server, EmbeddedPds& pds, EndpointOptions options = {});

// The subscribeRepos session on an accepted socket (exposed for embedding
// in other transports and for tests): replay from `cursor` then live-tail
// until the socket closes or the sequencer is closed.
//   - cursor > current seq: error frame FutureCursor, then close;
//   - cursor older than the oldest kept event: #info OutdatedCursor, then
//     everything kept;
//   - no cursor: live events only.
void serve_firehose(Sequencer& sequencer, xrpc::WebSocket& socket, std::optional<std::int64_t> cursor,
                    const EndpointOptions& options);

}  // namespace atcr::pds

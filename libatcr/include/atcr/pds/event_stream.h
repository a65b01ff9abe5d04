// atproto event-stream frames (com.atproto.sync.subscribeRepos).
//
// Every binary WebSocket message is two DAG-CBOR objects back to back:
//   header {"op": 1, "t": "#commit"}  + the message body (no $type), or
//   header {"op": -1}                 + {"error": "...", "message": "..."}.
//
// The *_body() builders make the bodies of the repo-stream messages without
// `seq`: the Sequencer assigns it when the event is persisted, so a body and
// its seq can never disagree.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/data/cid.h"
#include "atcr/data/value.h"
#include "atcr/repo/repository.h"

namespace atcr::pds {

// Lexicon limits of a #commit message (com.atproto.sync.subscribeRepos).
inline constexpr std::size_t kMaxCommitOps = 200;
inline constexpr std::size_t kMaxCommitBlocksBytes = 2'000'000;
// A #sync message's CAR holds only the commit block.
inline constexpr std::size_t kMaxSyncBlocksBytes = 10'000;
// Largest frame decode_frame() accepts (the spec's per-frame cap).
inline constexpr std::size_t kMaxFrameBytes = 5 * 1024 * 1024;

// A message frame: header {op: 1, t: type} then `body`.
Bytes encode_message_frame(std::string_view type, const Value& body);
// An error frame: header {op: -1} then {error, message} (message omitted when empty).
Bytes encode_error_frame(std::string_view error, std::string_view message = {});

struct Frame {
  int op = 0;        // 1 message, -1 error
  std::string type;  // "#commit", "#identity"... ; "" for error frames
  Value body;
};

// Decodes one frame: both objects must be strict DAG-CBOR maps with nothing
// after the body, the header's op must be 1 (with a string t) or -1. Throws
// ParseError naming the problem.
Frame decode_frame(BytesView frame);

// #commit: `did`'s commit as the repo engine reported it. `blocks` is a CAR
// rooted at the commit holding the commit block, the MST nodes a consumer
// needs to invert the ops against `prevData`, and the new records. Ops carry
// `prev` for updates and deletes (sync v1.1). Throws ParseError if the
// commit exceeds kMaxCommitOps (callers check before committing).
Value commit_body(std::string_view did, const CommitResult& commit, std::string_view time);
// Size of the CAR commit_body() would embed (to decide on #sync instead).
std::size_t commit_blocks_size(const CommitResult& commit);
// #sync: asserts the repo's current commit; `blocks` is a CAR holding only
// the commit block.
Value sync_body(std::string_view did, const Cid& commit, BytesView commit_block, std::string_view rev,
                std::string_view time);
// #identity: "re-resolve this DID".
Value identity_body(std::string_view did, const std::optional<std::string>& handle, std::string_view time);
// #account: hosting status; `status` only when inactive.
Value account_body(std::string_view did, bool active, const std::optional<std::string>& status,
                   std::string_view time);
// #info: out-of-band notices such as OutdatedCursor. Not sequenced.
Value info_body(std::string_view name, std::string_view message = {});

}  // namespace atcr::pds

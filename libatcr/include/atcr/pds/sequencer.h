// The persistent, sequenced event log behind a PDS's firehose.
//
// Events live in one SQLite table keyed by `seq INTEGER PRIMARY KEY
// AUTOINCREMENT`: SQLite then never hands out a seq twice, even after the
// newest rows were trimmed or the process restarted, which is what the
// cursor rules of subscribeRepos need (seqs increase monotonically; gaps
// are fine). Each row keeps the fully encoded frame, so replaying to a
// subscriber is a read and a send, never a re-encode.
//
// Thread-safe: one connection behind a mutex; wait_for_new() blocks on a
// condition variable that append() signals, for live tailing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/value.h"

namespace atcr::pds {

struct SequencerOptions {
  // Retention, applied by trim(): keep at most this many of the newest
  // events (0: no count limit) ...
  std::size_t keep_events = 100'000;
  // ... and drop events older than this (0: no age limit). The reference
  // PDS keeps a 72-hour backfill window.
  std::chrono::seconds keep_for = std::chrono::hours(72);
};

struct SequencedEvent {
  std::int64_t seq = 0;
  std::string type;  // "#commit", "#identity", ...
  std::string time;  // the body's `time`
  Bytes frame;       // header + body, ready to send
};

class Sequencer {
 public:
  // Opens (creating if needed) the log at `path` (":memory:" for tests).
  // Throws StorageError.
  explicit Sequencer(const std::string& path, SequencerOptions options = {});
  ~Sequencer();
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Persists a message event: assigns the next seq, sets body["seq"] to it,
  // encodes the frame and stores it, in one transaction. `body` must be a
  // map with a string `time` (ParseError otherwise). Returns the seq.
  std::int64_t append(std::string_view type, Value body);

  // Events with seq > `cursor`, oldest first, at most `limit`.
  std::vector<SequencedEvent> read_after(std::int64_t cursor, std::size_t limit) const;
  // The newest event whose type is one of `types`, if any is still kept.
  std::optional<SequencedEvent> last_of(const std::vector<std::string>& types) const;

  // The highest seq ever handed out (0 before the first event), whether or
  // not that event is still kept.
  std::int64_t current_seq() const;
  // The oldest seq still kept; nullopt when the log is empty.
  std::optional<std::int64_t> oldest_seq() const;
  std::size_t size() const;

  // Blocks until current_seq() > after_seq, close(), or `timeout`; returns
  // whether a newer event exists.
  bool wait_for_new(std::int64_t after_seq, std::chrono::milliseconds timeout) const;
  // Wakes every waiter for good (shutdown); appends still work.
  void close();
  bool closed() const;

  // Applies the retention options; returns how many events were dropped.
  // The newest event is always kept, so the log never forgets its position.
  std::size_t trim();
  // The same with explicit limits (0 = no limit), e.g. for tests.
  std::size_t trim(std::size_t keep_events, std::chrono::seconds keep_for);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atcr::pds

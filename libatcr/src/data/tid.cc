#include "atcr/data/tid.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "atcr/crypto/random.h"
#include "atcr/data/syntax.h"
#include "atcr/encoding/base32.h"
#include "atcr/error.h"

namespace atcr {

namespace {

constexpr std::uint64_t kTopBit = std::uint64_t{1} << 63;

std::uint64_t system_now_us() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count();
  // A clock set before 1970 gives no usable time; the monotonic floor in
  // TidClock still keeps the output increasing.
  return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

std::uint32_t checked_clock_id(std::uint32_t clock_id) {
  if (clock_id > Tid::kMaxClockId)
    throw ParseError("tid: clock id " + std::to_string(clock_id) + " exceeds 10 bits");
  return clock_id;
}

}  // namespace

Tid Tid::parse(std::string_view text) {
  // The syntax check gives the better message. Its regex lets the value use
  // all 64 bits, so the top bit needs its own check.
  syntax::validate_tid(text);
  std::uint64_t value = base32::decode_sortable(text);
  if (value & kTopBit) {
    throw ParseError("TID \"" + std::string(text) +
                     "\": top bit is set (the first character must be 2-7, a or b)");
  }
  return Tid(value);
}

Tid Tid::from_parts(std::uint64_t micros, std::uint32_t clock_id) {
  if (micros > kMaxTimestampUs)
    throw ParseError("tid: timestamp " + std::to_string(micros) + " exceeds 53 bits");
  return Tid(micros << kClockIdBits | checked_clock_id(clock_id));
}

Tid Tid::from_value(std::uint64_t value) {
  if (value & kTopBit) throw ParseError("tid: top bit of " + std::to_string(value) + " is set");
  return Tid(value);
}

std::string Tid::to_string() const { return base32::encode_sortable(value_); }

TidClock::TidClock()
    : TidClock(static_cast<std::uint32_t>(random_u64() & Tid::kMaxClockId)) {}

TidClock::TidClock(std::uint32_t clock_id) : TidClock(clock_id, system_now_us) {}

TidClock::TidClock(std::uint32_t clock_id, TimeSource now_us)
    : clock_id_(checked_clock_id(clock_id)), now_us_(std::move(now_us)) {}

Tid TidClock::next() { return issue(0); }

Tid TidClock::next_after(const Tid& floor) {
  // Same clock id and a larger timestamp is enough; a larger clock id on
  // the same timestamp would be too, but is not worth the special case.
  return issue(floor.timestamp_us() + 1);
}

// Lock-free: claim a timestamp above both the last one issued and
// `min_timestamp_us` with a compare-and-swap, retrying if another thread got
// there first. Each successful swap hands out a distinct timestamp, so with
// one clock id every TID is unique and later calls get larger ones.
Tid TidClock::issue(std::uint64_t min_timestamp_us) {
  std::uint64_t now = std::max(now_us_(), min_timestamp_us);
  std::uint64_t last = last_timestamp_us_.load(std::memory_order_relaxed);
  std::uint64_t chosen;
  do {
    chosen = std::max(now, last + 1);
    if (chosen > Tid::kMaxTimestampUs) throw Error("tid: timestamp space exhausted");
  } while (!last_timestamp_us_.compare_exchange_weak(last, chosen, std::memory_order_relaxed));
  return Tid::from_parts(chosen, clock_id_);
}

}  // namespace atcr

// TIDs ("timestamp identifiers"): record keys and repo revisions.
//
// A TID is a 64-bit integer: the top bit 0, then 53 bits of microseconds
// since the Unix epoch, then a 10-bit clock id that keeps two generators
// that share a microsecond apart. Its text form is 13 base32-sortable
// characters, so TIDs sort the same as text and as numbers.
#pragma once

#include <atomic>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace atcr {

class Tid {
 public:
  static constexpr int kClockIdBits = 10;
  static constexpr std::uint32_t kMaxClockId = (1u << kClockIdBits) - 1;
  static constexpr std::uint64_t kMaxTimestampUs = (std::uint64_t{1} << 53) - 1;

  // The zero TID, "2222222222222": smaller than every generated TID.
  constexpr Tid() = default;

  // Throws ParseError unless `text` is valid TID syntax with the top bit
  // clear (syntax alone admits first characters c-j, which set it).
  static Tid parse(std::string_view text);

  // Throws ParseError if `micros` exceeds 53 bits or `clock_id` 10 bits.
  static Tid from_parts(std::uint64_t micros, std::uint32_t clock_id);

  // Throws ParseError if the top bit is set.
  static Tid from_value(std::uint64_t value);

  std::string to_string() const;

  constexpr std::uint64_t value() const noexcept { return value_; }
  constexpr std::uint64_t timestamp_us() const noexcept { return value_ >> kClockIdBits; }
  constexpr std::uint32_t clock_id() const noexcept {
    return static_cast<std::uint32_t>(value_ & kMaxClockId);
  }

  friend constexpr bool operator==(const Tid&, const Tid&) = default;
  friend constexpr std::strong_ordering operator<=>(const Tid&, const Tid&) = default;

 private:
  explicit constexpr Tid(std::uint64_t value) : value_(value) {}
  std::uint64_t value_ = 0;
};

// Generates strictly increasing TIDs. Safe to share between threads.
//
// Each TID uses the wall clock's microseconds, or one more than the last
// timestamp handed out if that is not larger, so results never repeat or go
// backwards even when the clock steps back or many TIDs are asked for within
// one microsecond (the timestamps then run briefly ahead of the clock).
class TidClock {
 public:
  // Microseconds since the Unix epoch.
  using TimeSource = std::function<std::uint64_t()>;

  // A random clock id, as the spec recommends, so independent generators
  // rarely collide.
  TidClock();
  // A fixed clock id (at most Tid::kMaxClockId, else throws ParseError).
  explicit TidClock(std::uint32_t clock_id);
  // A fixed clock id and another time source, for tests and simulations.
  TidClock(std::uint32_t clock_id, TimeSource now_us);

  TidClock(const TidClock&) = delete;
  TidClock& operator=(const TidClock&) = delete;

  Tid next();

  // A TID greater than `floor` (and than anything this clock returned
  // before): a repo's next rev must exceed its previous rev, which may have
  // come from another clock or a machine whose clock ran ahead.
  Tid next_after(const Tid& floor);

  std::uint32_t clock_id() const noexcept { return clock_id_; }

 private:
  Tid issue(std::uint64_t min_timestamp_us);

  std::uint32_t clock_id_;
  TimeSource now_us_;
  std::atomic<std::uint64_t> last_timestamp_us_{0};
};

}  // namespace atcr

#include "atcr/data/tid.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "atcr/data/syntax.h"
#include "atcr/error.h"
#include "fixtures.h"

using atcr::Tid;
using atcr::TidClock;
using atcr::test::fixture_lines;

namespace {

std::uint64_t wall_clock_us() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

TEST_CASE("Tid: zero, layout and known values") {
  Tid zero;
  CHECK(zero.value() == 0);
  CHECK(zero.to_string() == "2222222222222");
  CHECK(Tid::parse("2222222222222") == zero);

  Tid t = Tid::from_parts(1, 0);
  CHECK(t.value() == 1024);
  CHECK(t.timestamp_us() == 1);
  CHECK(t.clock_id() == 0);

  Tid max = Tid::from_parts(Tid::kMaxTimestampUs, Tid::kMaxClockId);
  CHECK(max.value() == 0x7fffffffffffffffULL);
  CHECK(max.to_string() == "bzzzzzzzzzzzz");  // 'b' is the largest first character
  CHECK(Tid::parse("bzzzzzzzzzzzz") == max);

}

// The spec's TID regex admits first characters 2-7 and a-j: 13 characters
// carry 65 bits and that keeps the value within 64. A TID's top bit (bit 63)
// must also be 0, which rules out c-j. Syntax follows the regex, so other
// implementations' rkeys still validate; the Tid value type refuses them.
TEST_CASE("Tid: first characters c-j are valid syntax but set the top bit") {
  CHECK(Tid::parse("bzzzzzzzzzzzz").value() == 0x7fffffffffffffffULL);
  for (const char* s : {"c222222222222", "jzzzzzzzzzzzz"}) {
    INFO(s);
    CHECK(atcr::syntax::is_valid_tid(s));
    CHECK_THROWS_WITH_AS(Tid::parse(s),
                         doctest::Contains("top bit"), atcr::ParseError);
  }
}

TEST_CASE("Tid: round trips through text and parts") {
  for (std::uint64_t micros : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1700000000000000},
                               Tid::kMaxTimestampUs}) {
    for (std::uint32_t clock : {0u, 1u, 512u, Tid::kMaxClockId}) {
      Tid t = Tid::from_parts(micros, clock);
      CHECK(t.timestamp_us() == micros);
      CHECK(t.clock_id() == clock);
      std::string s = t.to_string();
      CHECK(s.size() == 13);
      CHECK(atcr::syntax::is_valid_tid(s));
      CHECK(Tid::parse(s) == t);
      CHECK(Tid::from_value(t.value()) == t);
    }
  }
}

TEST_CASE("Tid: text order equals numeric order") {
  std::vector<Tid> tids;
  for (std::uint64_t v = 1; v < (std::uint64_t{1} << 62); v = v * 3 + 7)
    tids.push_back(Tid::from_value(v));
  for (std::size_t i = 1; i < tids.size(); ++i) {
    CHECK(tids[i - 1] < tids[i]);
    CHECK(tids[i - 1].to_string() < tids[i].to_string());
  }
}

TEST_CASE("Tid: out-of-range parts and values are refused") {
  CHECK_THROWS_AS(Tid::from_parts(Tid::kMaxTimestampUs + 1, 0), atcr::ParseError);
  CHECK_THROWS_AS(Tid::from_parts(0, Tid::kMaxClockId + 1), atcr::ParseError);
  CHECK_THROWS_AS(Tid::from_value(std::uint64_t{1} << 63), atcr::ParseError);
  CHECK_THROWS_AS(TidClock(Tid::kMaxClockId + 1), atcr::ParseError);
}

TEST_CASE("Tid fixtures: tid_syntax_valid parses and round-trips") {
  auto lines = fixture_lines("syntax/tid_syntax_valid.txt");
  REQUIRE(lines.size() == 4);
  for (const auto& line : lines) {
    INFO(line);
    Tid t = Tid::parse(line);
    CHECK(t.to_string() == line);
    CHECK(Tid::from_parts(t.timestamp_us(), t.clock_id()) == t);
  }
  // "3jzfcijpj2z2a" is the spec's example: 2023-06-30T15:03:01.887007Z.
  Tid example = Tid::parse("3jzfcijpj2z2a");
  CHECK(example.value() == 1728652679052295174ULL);
  CHECK(example.timestamp_us() == 1688137381887007ULL);
  CHECK(example.clock_id() == 6);
}

TEST_CASE("Tid fixtures: tid_syntax_invalid does not parse") {
  auto lines = fixture_lines("syntax/tid_syntax_invalid.txt");
  REQUIRE(lines.size() == 9);
  for (const auto& line : lines) {
    INFO(line);
    CHECK_THROWS_AS(Tid::parse(line), atcr::ParseError);
  }
}

TEST_CASE("TidClock: 100k calls are strictly increasing and near the wall clock") {
  TidClock clock;
  std::uint64_t before = wall_clock_us();
  Tid prev = clock.next();
  CHECK(prev.timestamp_us() >= before);
  CHECK(prev.clock_id() == clock.clock_id());
  for (int i = 0; i < 100000; ++i) {
    Tid t = clock.next();
    REQUIRE(prev < t);
    REQUIRE(prev.to_string() < t.to_string());
    prev = t;
  }
  // Each call costs at least a microsecond of timestamp space, so the clock
  // may run ahead, but by no more than the number of calls.
  CHECK(prev.timestamp_us() <= wall_clock_us() + 100001);
}

TEST_CASE("TidClock: random clock ids use only the low 10 bits") {
  std::set<std::uint32_t> ids;
  for (int i = 0; i < 64; ++i) {
    TidClock c;
    CHECK(c.clock_id() <= Tid::kMaxClockId);
    CHECK(c.next().clock_id() == c.clock_id());
    ids.insert(c.clock_id());
  }
  CHECK(ids.size() > 1);  // 64 draws from 1024 values are all equal with p ~ 2^-630

  TidClock fixed(0x2a5);
  Tid t = fixed.next();
  CHECK(t.clock_id() == 0x2a5);
  CHECK((t.value() & 0x3ff) == 0x2a5);
  CHECK((t.value() >> 63) == 0);
}

TEST_CASE("TidClock: never repeats or goes back when the time source does") {
  std::uint64_t fake_now = 5'000'000;
  TidClock clock(7, [&] { return fake_now; });
  Tid a = clock.next();
  CHECK(a.timestamp_us() == 5'000'000);
  Tid b = clock.next();  // same microsecond
  CHECK(b.timestamp_us() == 5'000'001);
  fake_now = 1'000;      // clock steps back
  Tid c = clock.next();
  CHECK(c > b);
  CHECK(c.timestamp_us() == 5'000'002);
  fake_now = 9'000'000;  // and forward again
  CHECK(clock.next().timestamp_us() == 9'000'000);
  CHECK(clock.next().clock_id() == 7);
}

TEST_CASE("TidClock: exhausting the 53-bit timestamp throws instead of wrapping") {
  TidClock clock(0, [] { return Tid::kMaxTimestampUs; });
  CHECK(clock.next().timestamp_us() == Tid::kMaxTimestampUs);
  CHECK_THROWS_AS(clock.next(), atcr::Error);
}

TEST_CASE("TidClock: next_after exceeds a floor from the future or another clock") {
  std::uint64_t fake_now = 1'000'000;
  TidClock clock(3, [&] { return fake_now; });

  Tid future = Tid::from_parts(2'000'000, 1000);  // a rev written by a fast clock
  Tid after = clock.next_after(future);
  CHECK(after > future);
  CHECK(after.timestamp_us() == 2'000'001);
  CHECK(clock.next() > after);  // the floor also lifts later plain calls

  Tid past = Tid::from_parts(10, 0);
  Tid t = clock.next_after(past);
  CHECK(t > past);
  CHECK(t.timestamp_us() == 2'000'003);  // still monotonic for this clock

  fake_now = 50'000'000;
  CHECK(clock.next_after(past).timestamp_us() == 50'000'000);  // wall clock wins when later

  // Same timestamp, higher clock id in the floor: still strictly greater.
  Tid same = Tid::from_parts(60'000'000, Tid::kMaxClockId);
  CHECK(clock.next_after(same) > same);

  CHECK_THROWS_AS(clock.next_after(Tid::from_parts(Tid::kMaxTimestampUs, 0)), atcr::Error);
}

TEST_CASE("TidClock: concurrent callers get unique, per-thread increasing TIDs") {
  TidClock clock;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<Tid>> results(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      auto& mine = results[static_cast<std::size_t>(i)];
      mine.reserve(kPerThread);
      for (int k = 0; k < kPerThread; ++k) mine.push_back(clock.next());
    });
  }
  go = true;
  for (auto& t : threads) t.join();

  std::vector<Tid> all;
  for (const auto& mine : results) {
    for (std::size_t k = 1; k < mine.size(); ++k) REQUIRE(mine[k - 1] < mine[k]);
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  CHECK(all.size() == static_cast<std::size_t>(kThreads * kPerThread));
}

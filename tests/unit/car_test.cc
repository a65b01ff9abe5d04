#include <doctest/doctest.h>

#include <random>
#include <sstream>

#include "atcr/data/car.h"
#include "atcr/data/cbor.h"
#include "atcr/encoding/hex.h"
#include "atcr/encoding/varint.h"
#include "atcr/error.h"

using namespace atcr;

namespace {

BlockMap sample_blocks(int n) {
  BlockMap m;
  for (int i = 0; i < n; ++i) m.add(cbor::encode(Value(Value::Map{{"i", i}, {"pad", std::string(i, 'x')}})));
  return m;
}

std::string error_of(const Bytes& car) {
  try {
    car::read(car);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("write then read round-trips roots and blocks in order") {
  BlockMap blocks = sample_blocks(20);
  std::vector<Cid> roots{blocks.blocks()[0].first};
  Bytes car = car::write(roots, blocks);
  // One root: the header is 58 bytes, as the spec's example shows.
  CHECK(hex::encode(BytesView(car).subspan(0, 18)) == "3aa265726f6f747381d82a58250001711220");
  auto back = car::read(car);
  CHECK(back.roots == roots);
  REQUIRE(back.blocks.size() == 20);
  for (std::size_t i = 0; i < 20; ++i) {
    CHECK(back.blocks.blocks()[i].first == blocks.blocks()[i].first);
    CHECK(back.blocks.blocks()[i].second == blocks.blocks()[i].second);
  }
  // Byte-for-byte stable.
  CHECK(car::write(back.roots, back.blocks) == car);
}

TEST_CASE("streaming reader yields blocks one at a time") {
  BlockMap blocks = sample_blocks(3);
  Bytes car = car::write({}, blocks);
  std::istringstream in(to_string(car));
  car::Reader r(in);
  CHECK(r.roots().empty());
  int n = 0;
  while (auto b = r.next()) ++n;
  CHECK(n == 3);
}

TEST_CASE("every truncation point is a clean ParseError") {
  BlockMap blocks = sample_blocks(5);
  Bytes car = car::write({blocks.blocks()[0].first}, blocks);
  for (std::size_t cut = 0; cut < car.size(); ++cut) {
    Bytes partial(car.begin(), car.begin() + static_cast<long>(cut));
    std::string err = error_of(partial);
    CAPTURE(cut);
    // Cutting exactly between blocks leaves a valid, shorter CAR.
    if (!err.empty()) CHECK(err.rfind("car:", 0) == 0);
  }
}

TEST_CASE("a flipped byte in any block is detected") {
  BlockMap blocks = sample_blocks(4);
  Bytes car = car::write({}, blocks);
  Bytes bad = car;
  bad.back() ^= 0x01;
  CHECK(error_of(bad).find("does not match its CID") != std::string::npos);
}

TEST_CASE("malformed headers") {
  auto with_header = [](const Value& header) {
    Bytes body = cbor::encode(header);
    Bytes car = varint::encode(body.size());
    car.insert(car.end(), body.begin(), body.end());
    return car;
  };
  CHECK(error_of(Bytes{}).find("empty") != std::string::npos);
  CHECK(error_of(Bytes{0x00}).find("zero") != std::string::npos);
  CHECK(error_of(with_header(Value(Value::Map{{"roots", Value::Array{}}, {"version", 2}}))).find("version") !=
        std::string::npos);
  CHECK(error_of(with_header(Value(Value::Map{{"version", 1}}))).find("roots") != std::string::npos);
  CHECK(error_of(with_header(Value(Value::Map{{"roots", Value::Array{1}}, {"version", 1}}))).find("CID") !=
        std::string::npos);
  CHECK(error_of(with_header(Value(Value::Array{}))).find("not a map") != std::string::npos);
  // A header length claiming a gigabyte is refused before allocating.
  Bytes huge = varint::encode(1u << 30);
  CHECK(error_of(huge).find("exceeds the limit") != std::string::npos);
}

TEST_CASE("oversized and undersized block frames") {
  Bytes car = car::write({}, BlockMap{});
  Bytes big = car;
  varint::append(big, 64ull << 20);
  CHECK(error_of(big).find("exceeds the limit") != std::string::npos);
  Bytes tiny = car;
  varint::append(tiny, 2);
  tiny.push_back(0x01);
  tiny.push_back(0x71);
  CHECK(error_of(tiny).find("too short") != std::string::npos);
  car::Limits limits;
  limits.max_blocks = 2;
  Bytes three = car::write({}, sample_blocks(3));
  CHECK_THROWS_WITH_AS(car::read(three, limits), doctest::Contains("too many blocks"), ParseError);
}

TEST_CASE("random garbage never crashes the reader") {
  std::mt19937 rng(7);
  Bytes base = car::write({}, sample_blocks(3));
  for (int i = 0; i < 2000; ++i) {
    Bytes b = base;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    try {
      car::read(b);
    } catch (const Error&) {
    }
  }
}

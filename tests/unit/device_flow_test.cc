// The device flow's state (white-box: appview/device_store.h): user codes,
// device secrets kept hashed, and the polling state machine of RFC 8628
// (pending, slow_down, denied, expired, approved once), on a clock the
// test moves.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <set>

#include "appview/device_store.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"
#include "temp_dir.h"
#include "test_database.h"

using namespace atcr;
using namespace atcr::appview;

namespace {

constexpr const char* kAlice = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
constexpr const char* kBob = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";

struct Fixture {
  test::TempDir dir{"atcr-device"};
  std::int64_t now = 1'700'000'000;
  std::string db = test::database_url(dir.path());  // SQLite, or PostgreSQL in the integration suite
  std::unique_ptr<DeviceStore> store = open();

  std::unique_ptr<DeviceStore> open() {
    return std::make_unique<DeviceStore>(
        db, DeviceStore::Options{.code_ttl = std::chrono::seconds(600),
                                 .interval = std::chrono::seconds(5),
                                 .clock = [this] { return now; }});
  }
};

}  // namespace

TEST_CASE("user codes: 8 letters of a vowel-free alphabet, typed loosely") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string code = make_user_code();
    REQUIRE(code.size() == 9);
    CHECK(code[4] == '-');
    for (std::size_t j = 0; j < code.size(); ++j)
      if (j != 4) CHECK(kUserCodeAlphabet.find(code[j]) != std::string_view::npos);
    seen.insert(code);
  }
  CHECK(seen.size() > 195);  // random, not a counter
  for (char c : std::string("AEIOU01"))
    CHECK(kUserCodeAlphabet.find(c) == std::string_view::npos);  // no words, no 0/O or 1/I

  CHECK(normalize_user_code("BCDF-GHJK") == "BCDF-GHJK");
  CHECK(normalize_user_code("bcdfghjk") == "BCDF-GHJK");
  CHECK(normalize_user_code(" bcdf ghjk ") == "BCDF-GHJK");
  for (const char* bad : {"", "BCDF-GHJ", "BCDF-GHJKL", "BCDF-GHJA", "BCDF_GHJK", "BCDF-GHJ1", "BCDF-GHJ\xc3\x89"})
    CHECK_FALSE(normalize_user_code(bad));
}

TEST_CASE("device secrets: kept only as a hash, checked per DID, revocable") {
  Fixture f;
  auto code = f.store->start("alice@laptop", "laptop", "127.0.0.1");
  REQUIRE(f.store->decide(code.user_code, kAlice, true));
  PollResult r = f.store->poll(code.device_code);
  REQUIRE(r.status == PollStatus::kApproved);
  CHECK(r.did == kAlice);
  CHECK(r.secret.starts_with(kDeviceSecretPrefix));
  CHECK(r.secret.size() > 40);
  CHECK(hash_device_secret(r.secret) == hex::encode(sha256(as_bytes(r.secret))));

  // Neither the secret nor the device code is in the database, only hashes.
  {
    auto rows = db::open(f.db)->exec("SELECT secret_hash FROM devices");
    REQUIRE(rows.rows.size() == 1);
    CHECK(rows.front().text(0) == hash_device_secret(r.secret));
  }
  std::string dump;
  for (auto& entry : std::filesystem::directory_iterator(f.dir.path())) {
    std::ifstream in(entry.path(), std::ios::binary);
    dump += std::string(std::istreambuf_iterator<char>(in), {});
  }
  CHECK(dump.find(r.secret) == std::string::npos);
  CHECK(dump.find(code.device_code) == std::string::npos);

  // The secret signs in its own DID only; a wrong one signs in nobody.
  f.now += 30;
  auto device = f.store->check_secret(kAlice, r.secret);
  REQUIRE(device);
  CHECK(device->name == "alice@laptop");
  CHECK(device->host == "laptop");
  CHECK(device->ip == "127.0.0.1");
  CHECK_FALSE(f.store->check_secret(kBob, r.secret));
  CHECK_FALSE(f.store->check_secret(kAlice, std::string(kDeviceSecretPrefix) + "wrong"));
  CHECK_FALSE(f.store->check_secret(kAlice, "an-app-password"));
  auto list = f.store->devices(kAlice);
  REQUIRE(list.size() == 1);
  CHECK(list[0].last_used == f.now);
  CHECK(f.store->devices(kBob).empty());

  // Bob cannot revoke Alice's device; Alice can, and then it is gone.
  CHECK_FALSE(f.store->revoke(kBob, list[0].id));
  CHECK(f.store->check_secret(kAlice, r.secret));
  CHECK(f.store->revoke(kAlice, list[0].id));
  CHECK_FALSE(f.store->check_secret(kAlice, r.secret));
  CHECK(f.store->devices(kAlice).empty());
}

TEST_CASE("polling: pending, slow_down (interval grows), approved once, then unknown") {
  Fixture f;
  auto code = f.store->start("box", "box.local", "10.0.0.2");
  CHECK(code.interval == 5);
  CHECK(code.expires_in == 600);
  CHECK(f.store->poll("no-such-code").status == PollStatus::kUnknown);

  CHECK(f.store->poll(code.device_code).status == PollStatus::kPending);
  f.now += 2;
  PollResult fast = f.store->poll(code.device_code);
  CHECK(fast.status == PollStatus::kSlowDown);
  CHECK(fast.interval == 10);
  f.now += 6;  // enough for the old interval, not the new one
  CHECK(f.store->poll(code.device_code).status == PollStatus::kSlowDown);
  f.now += 16;
  CHECK(f.store->poll(code.device_code).status == PollStatus::kPending);

  auto shown = f.store->pending(code.user_code);
  REQUIRE(shown);
  CHECK(shown->device_name == "box");
  CHECK(shown->host == "box.local");
  CHECK(shown->ip == "10.0.0.2");
  CHECK(f.store->pending("bcdf ghjk ") == std::nullopt);  // (almost surely) another code

  // Pending codes survive a restart.
  f.store = f.open();
  REQUIRE(f.store->decide(code.user_code, kAlice, true));
  CHECK_FALSE(f.store->decide(code.user_code, kBob, true));  // decided already
  CHECK_FALSE(f.store->pending(code.user_code));
  f.now += 60;
  PollResult ok = f.store->poll(code.device_code);
  CHECK(ok.status == PollStatus::kApproved);
  CHECK(ok.did == kAlice);
  // The secret is handed out once.
  f.now += 60;
  CHECK(f.store->poll(code.device_code).status == PollStatus::kUnknown);
}

TEST_CASE("polling: denied, and expired codes") {
  Fixture f;
  auto denied = f.store->start("box", "box", "::1");
  CHECK(f.store->decide(denied.user_code, kAlice, false));
  CHECK(f.store->poll(denied.device_code).status == PollStatus::kDenied);
  CHECK(f.store->poll(denied.device_code).status == PollStatus::kUnknown);

  auto late = f.store->start("box", "box", "::1");
  f.now += 600;
  CHECK(f.store->poll(late.device_code).status == PollStatus::kExpired);
  CHECK_FALSE(f.store->pending(late.user_code));
  CHECK_FALSE(f.store->decide(late.user_code, kAlice, true));  // too late to approve
  CHECK(f.store->poll(late.device_code).status == PollStatus::kExpired);
  // Approved but never collected in time: expired too, no device.
  auto uncollected = f.store->start("box", "box", "::1");
  CHECK(f.store->decide(uncollected.user_code, kAlice, true));
  f.now += 601;
  CHECK(f.store->poll(uncollected.device_code).status == PollStatus::kExpired);
  CHECK(f.store->devices(kAlice).empty());
  // Housekeeping forgets them an hour later.
  f.now += 3601;
  f.store->expire();
  CHECK(f.store->poll(late.device_code).status == PollStatus::kUnknown);
}

TEST_CASE("one address cannot pile up codes (the endpoint is open to anyone)") {
  Fixture f;
  for (int i = 0; i < DeviceStore::kMaxPendingPerIp; ++i) f.store->start("box", "box", "10.0.0.9");
  CHECK_THROWS_AS(f.store->start("box", "box", "10.0.0.9"), TooManyCodes);
  f.store->start("box", "box", "10.0.0.10");  // others are not held up
  f.now += 600;                               // once they expire, there is room again
  f.store->start("box", "box", "10.0.0.9");
}

TEST_CASE("labels from the helper are bounded and printable") {
  Fixture f;
  auto code = f.store->start(std::string(500, 'x') + "\n<b>", "h\x01st", "127.0.0.1");
  auto p = f.store->pending(code.user_code);
  REQUIRE(p);
  CHECK(p->device_name.size() == 100);
  CHECK(p->host == "h?st");
}

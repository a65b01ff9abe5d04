// Which pulls count (appview/pull_window.h): once per key and window in one
// instance, and once across instances sharing a database; on SQLite here,
// on PostgreSQL in the integration suite (pull_window_postgres).
#include "appview/pull_window.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "temp_dir.h"
#include "test_database.h"

using namespace atcr;
using appview::PullWindow;

namespace {

constexpr std::chrono::seconds kWindow{300};

struct Fixture {
  test::TempDir dir{"atcr-pull-window"};
  std::shared_ptr<db::Database> database = db::open(test::database_url(dir.path()));
  std::int64_t now = 1'800'000'000;
  PullWindow::Clock clock() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("one instance: a key counts once per window") {
  PullWindow alone(nullptr, kWindow);
  CHECK(alone.first("did:plc:a did:plc:o/app"));
  CHECK(!alone.first("did:plc:a did:plc:o/app"));
  CHECK(alone.first("did:plc:b did:plc:o/app"));
  alone.expire();
  CHECK(!alone.first("did:plc:a did:plc:o/app"));
}

TEST_CASE("instances sharing a database count a key once, again after the window") {
  Fixture f;
  PullWindow a(f.database, kWindow, f.clock()), b(f.database, kWindow, f.clock());
  CHECK(a.first("ip 10.0.0.1 did:plc:o/app"));
  CHECK(!b.first("ip 10.0.0.1 did:plc:o/app"));  // the balancer sent the repeat to b
  CHECK(!a.first("ip 10.0.0.1 did:plc:o/app"));
  CHECK(b.first("ip 10.0.0.2 did:plc:o/app"));
  // Keys are not stored as such.
  CHECK(f.database->exec("SELECT COUNT(*) FROM recent_pulls WHERE key_hash LIKE '%10.0.0%'").front().integer(0) == 0);
  f.now += kWindow.count();
  PullWindow c(f.database, kWindow, f.clock());  // no memory of it
  CHECK(c.first("ip 10.0.0.1 did:plc:o/app"));
  c.expire();  // the window's rows are gone, the current one stays
  CHECK(f.database->exec("SELECT COUNT(*) FROM recent_pulls").front().integer(0) == 1);
}

TEST_CASE("racing instances: one counts") {
  Fixture f;
  std::vector<std::unique_ptr<PullWindow>> instances;
  for (int i = 0; i < 4; ++i) instances.push_back(std::make_unique<PullWindow>(f.database, kWindow, f.clock()));
  std::atomic<int> counted{0};
  {
    std::vector<std::jthread> pulls;
    for (auto& instance : instances)
      pulls.emplace_back([&counted, &instance] {
        if (instance->first("did:plc:a did:plc:o/app")) ++counted;
      });
  }
  CHECK(counted == 1);
}

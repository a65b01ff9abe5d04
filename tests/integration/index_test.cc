// The network index against the reference PDS: 20 accounts write ATCR
// records; the firehose (subscribeRepos) and a backfill (listRepos +
// getRepo) must index exactly the same; a deleted tag disappears; a
// consumer restarted on the same index resumes at its cursor, losing and
// repeating nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "atcr/identity/directory_resolver.h"
#include "atcr/index/index.h"
#include "atcr/index/ingest.h"
#include "atcr/xrpc/client.h"
#include "atcr_test_records.h"
#include "pds_fixture.h"
#include "temp_dir.h"

using namespace atcr;
using namespace std::chrono_literals;

namespace {

constexpr int kAccounts = 20;

Value write(std::string_view action, const std::string& collection, const std::string& rkey, Value value = {}) {
  Value::Map w{{"$type", Value("com.atproto.repo.applyWrites#" + std::string(action))},
               {"collection", Value(collection)},
               {"rkey", Value(rkey)}};
  if (!value.is_null()) w.emplace("value", std::move(value));
  return Value(std::move(w));
}

struct Writer {
  xrpc::XrpcClient pds{test::pds_url(), test::test_http()};
  void apply(const test::Account& a, Value::Array writes) {
    pds.procedure("com.atproto.repo.applyWrites",
                  Value(Value::Map{{"repo", Value(a.did)}, {"writes", Value(std::move(writes))}}), {},
                  {.bearer = a.access_jwt});
  }
  std::string rev_of(const std::string& did) {
    return pds.query("com.atproto.sync.getLatestCommit", xrpc::Params{{"did", did}}).at("rev").as_string();
  }
};

// Everything the read side says about these accounts, as text.
std::string dump(index::Index& idx, const std::vector<test::Account>& accounts) {
  std::ostringstream out;
  for (const test::Account& a : accounts) {
    auto user = idx.user(a.did);
    out << a.did << " handle=" << (user ? user->handle : "?") << "\n";
    for (const auto& r : idx.user_repositories(a.did, {.limit = 100})) {
      auto d = idx.repository(a.did, r.repository, accounts[0].did);
      REQUIRE(d);
      out << "  " << r.repository << " stars=" << d->summary.star_count << " viewer=" << d->viewer_starred
          << " desc=" << d->summary.description << " readme=" << d->readme.size() << " hold=" << d->hold_did << "\n";
      for (const auto& t : d->tags) out << "    " << t.tag << " " << t.digest << " " << t.size << "\n";
    }
    for (const auto& s : idx.user_stars(a.did, {.limit = 100})) out << "  star " << s.owner.did << "/" << s.repository << "\n";
  }
  return out.str();
}

// Waits until `idx` has verified every account at its current rev.
void wait_current(index::Index& idx, Writer& w, const std::vector<test::Account>& accounts) {
  auto deadline = std::chrono::steady_clock::now() + 90s;
  for (const test::Account& a : accounts) {
    std::string want = w.rev_of(a.did);
    while (true) {
      auto state = idx.repo_state(a.did);
      if (state && state->rev >= want) break;
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the index never caught up with " << a.did);
      std::this_thread::sleep_for(50ms);
    }
  }
}

}  // namespace

TEST_CASE("index: the firehose and a backfill of the reference PDS index the same; restarts resume at the cursor") {
  Writer w;
  std::vector<test::Account> accounts;
  for (int i = 0; i < kAccounts; ++i) accounts.push_back(test::create_account(w.pds));
  for (int i = 0; i < kAccounts; ++i) {
    const test::Account& a = accounts[i];
    const test::Account& next = accounts[(i + 1) % kAccounts];
    std::string repo = "app" + std::to_string(i % 3);
    w.apply(a, {write("create", "io.atcr.manifest", "3kaaaaaaaaaa2", test::manifest_value(repo, a.did + "1")),
                write("create", "io.atcr.tag", repo + ":latest",
                      test::tag_value(a.did, repo, "latest", "3kaaaaaaaaaa2")),
                write("create", "io.atcr.tag", repo + ":old",
                      test::tag_value(a.did, repo, "old", "3kaaaaaaaaaa2", "2026-12-03T06:00:00.000Z")),
                write("create", "io.atcr.repo.page", repo,
                      Value(Value::Map{{"$type", Value("io.atcr.repo.page")},
                                       {"repository", Value(repo)},
                                       {"description", Value("# " + repo + "\n\nAccount " + std::to_string(i))},
                                       {"createdAt", Value("2026-12-03T07:00:00.000Z")},
                                       {"updatedAt", Value("2026-12-03T07:00:00.000Z")}})),
                write("create", "io.atcr.sailor.star", "3kstar0000002",
                      Value(Value::Map{{"$type", Value("io.atcr.sailor.star")},
                                       {"subject", Value("at://" + next.did + "/io.atcr.repo.page/app" +
                                                         std::to_string(((i + 1) % kAccounts) % 3))},
                                       {"createdAt", Value("2026-12-03T07:00:00.000Z")}}))});
  }
  // Half the accounts delete their "old" tag again.
  for (int i = 0; i < kAccounts; i += 2)
    w.apply(accounts[i], {write("delete", "io.atcr.tag", "app" + std::to_string(i % 3) + ":old")});

  test::TempDir dir("index-it");
  identity::DirectoryResolver resolver(test::loopback_resolver_options());
  std::string firehose_dump;
  std::int64_t cursor = 0;
  {
    auto idx = index::Index::open(dir / "firehose.sqlite");
    index::Ingester ingester(*idx, resolver, test::test_http());
    index::FirehoseConsumer consumer(ingester, {{test::pds_url(), index::SourceKind::kPds}});
    consumer.start();
    wait_current(*idx, w, accounts);
    // A repo is current once re-synced, maybe before the stream got to its
    // later events: one more commit, applied in stream order, shows the
    // consumer is past all of ours.
    w.apply(accounts[0], {write("create", "io.atcr.sailor.profile", "self",
                                Value(Value::Map{{"$type", Value("io.atcr.sailor.profile")},
                                                 {"createdAt", Value("2026-12-03T07:00:00.000Z")}}))});
    wait_current(*idx, w, {accounts[0]});
    // Where the consumer is (what /metrics shows): connected, the last seq,
    // and the lag behind the PDS's clock of the last event it handled.
    std::vector<index::SourceStatus> status = consumer.status();
    REQUIRE(status.size() == 1);
    CHECK(status[0].url == test::pds_url());
    CHECK(status[0].connected);
    CHECK(status[0].events > 0);
    CHECK(status[0].seq > 0);
    REQUIRE(status[0].event_time);
    REQUIRE(status[0].handled_at);
    double lag = std::chrono::duration<double>(*status[0].handled_at - *status[0].event_time).count();
    MESSAGE("firehose lag of the last event: " << lag << " s");
    CHECK(lag > -1.0);  // the PDS's clock is ours
    CHECK(lag < 30.0);
    consumer.stop();
    CHECK_FALSE(consumer.status()[0].connected);
    CHECK(idx->cursor(test::pds_url()) == consumer.status()[0].seq);
    CHECK(ingester.stats().rejected == 0);
    firehose_dump = dump(*idx, accounts);
    cursor = idx->cursor(test::pds_url()).value_or(0);
    CHECK(cursor > 0);
    // The deleted tags are gone, the kept ones there.
    auto even = idx->repository(accounts[0].did, "app0");
    REQUIRE(even);
    REQUIRE(even->tags.size() == 1);
    CHECK(even->tags[0].tag == "latest");
    CHECK(idx->repository(accounts[1].did, "app1")->tags.size() == 2);
    CHECK(idx->repository(accounts[1].did, "app1")->summary.star_count == 1);
  }
  MESSAGE(firehose_dump.substr(0, 600));

  {
    auto idx = index::Index::open(dir / "backfill.sqlite");
    index::Ingester ingester(*idx, resolver, test::test_http());
    auto started = std::chrono::steady_clock::now();
    index::BackfillProgress p = index::backfill(ingester, test::pds_url());
    CHECK(p.done);
    CHECK(p.repos_indexed >= kAccounts);
    MESSAGE("backfill: " << p.repos_seen << " repos listed, " << p.repos_indexed << " indexed in "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
                         << " ms");
    CHECK(dump(*idx, accounts) == firehose_dump);
  }

  // Restart: more writes while no consumer runs; a new one on the same
  // index picks up exactly from the saved cursor.
  for (int i = 0; i < kAccounts; i += 3)
    w.apply(accounts[i], {write("create", "io.atcr.tag", "app" + std::to_string(i % 3) + ":v2",
                                test::tag_value(accounts[i].did, "app" + std::to_string(i % 3), "v2", "3kaaaaaaaaaa2", "2026-12-03T08:00:00.000Z"))});
  {
    auto idx = index::Index::open(dir / "firehose.sqlite");
    CHECK(idx->cursor(test::pds_url()) == cursor);
    index::Ingester ingester(*idx, resolver, test::test_http());
    // Other tests share the PDS: count our accounts' events only.
    std::set<std::string> ours;
    for (const auto& a : accounts) ours.insert(a.did);
    std::mutex mu;
    std::map<index::Outcome, int> outcomes;
    int stale = 0;
    ingester.observe([&](std::string_view did, index::Outcome outcome, bool was_stale) {
      if (!ours.count(std::string(did))) return;
      std::lock_guard lock(mu);
      ++outcomes[outcome];
      stale += was_stale;
    });
    index::FirehoseConsumer consumer(ingester, {{test::pds_url(), index::SourceKind::kPds}});
    consumer.start();
    wait_current(*idx, w, accounts);
    consumer.stop();
    std::lock_guard lock(mu);
    CHECK(stale == 0);  // nothing before the cursor came again
    CHECK(outcomes[index::Outcome::kResynced] == 0);  // and nothing was missed
    CHECK(outcomes[index::Outcome::kRejected] == 0);
    CHECK(outcomes[index::Outcome::kApplied] == (kAccounts + 2) / 3);
    for (int i = 0; i < kAccounts; i += 3) {
      auto d = idx->repository(accounts[i].did, "app" + std::to_string(i % 3));
      REQUIRE(d);
      CHECK(d->tags.at(0).tag == "v2");
    }
    CHECK(idx->cursor(test::pds_url()) > cursor);
  }
}

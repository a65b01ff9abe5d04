#include "atcr/oci/credential_store.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <sstream>

#include "atcr/error.h"
#include "atcr/oci/registry_login.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::oci;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
  std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace

TEST_CASE("credential store: store, get, list, erase; one entry per registry host") {
  test::TempDir dir("atcr-creds");
  CredentialStore store(dir / "sub" / "credentials.json");
  CHECK_FALSE(store.get("r.example"));
  CHECK(store.list().empty());

  store.store("https://R.example:5000/v2/", {"alice.test", "app-pass-1", ""});
  store.store("127.0.0.1:5000", {"did:plc:bob", "app-pass-2", ""});
  auto alice = store.get("r.example:5000");
  REQUIRE(alice);
  CHECK(alice->username == "alice.test");
  CHECK(alice->secret == "app-pass-1");
  CHECK(store.list() == std::map<std::string, std::string>{{"127.0.0.1:5000", "did:plc:bob"},
                                                          {"r.example:5000", "alice.test"}});
  // The file holds secrets: 0600, and nothing else is left beside it.
  struct stat st{};
  REQUIRE(::stat((dir / "sub" / "credentials.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(std::distance(std::filesystem::directory_iterator(dir / "sub"), {}) == 1);

  store.store("r.example:5000", {"alice.test", "rotated", ""});
  CHECK(store.get("http://r.example:5000")->secret == "rotated");
  CHECK(store.erase("r.example:5000"));
  CHECK_FALSE(store.erase("r.example:5000"));
  CHECK(store.list().size() == 1);
}

TEST_CASE("credential store: several accounts per registry, one active") {
  test::TempDir dir("atcr-creds");
  CredentialStore store(dir / "credentials.json");
  store.store("r.example", {"alice.test", "dev-a", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"});
  store.store("r.example", {"bob.test", "dev-b", "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"});
  CHECK(store.get("r.example")->username == "bob.test");  // the latest login is active
  // An image reference names the account: by handle (any case) or by DID.
  CHECK(store.get("r.example", "Alice.Test")->secret == "dev-a");
  CHECK(store.get("r.example", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")->secret == "dev-a");
  CHECK(store.get("r.example", "carol.test")->username == "bob.test");  // unknown: the active one

  auto all = store.accounts();
  REQUIRE(all.count("r.example"));
  CHECK(all["r.example"].active == "bob.test");
  CHECK(all["r.example"].accounts.size() == 2);

  CHECK(store.activate("r.example", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"));
  CHECK(store.get("r.example")->username == "alice.test");
  CHECK_FALSE(store.activate("r.example", "carol.test"));
  CHECK_FALSE(store.activate("other.example", "alice.test"));

  // Logging in again as alice by DID replaces her account, not adds one.
  store.store("r.example", {"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "dev-a2", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"});
  CHECK(store.accounts()["r.example"].accounts.size() == 2);
  CHECK(store.get("r.example", "alice.test")->secret == "dev-a2");

  // erase: the active account, another becomes active; then by name.
  CHECK(store.erase("r.example"));
  CHECK(store.get("r.example")->username == "bob.test");
  CHECK(store.erase("r.example", "bob.test"));
  CHECK_FALSE(store.get("r.example"));
  CHECK(store.list().empty());
}

TEST_CASE("credential store: writes are atomic: a reader never sees half a file") {
  test::TempDir dir("atcr-creds");
  const auto file = dir / "credentials.json";
  CredentialStore(file).store("r.example", {"alice.test", "s0", ""});
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  // Each write replaces the file by rename, so every read parses whole,
  // however the two interleave (a secret long enough to span many writes).
  std::thread reader([&] {
    CredentialStore store(file);
    while (!done) {
      try {
        if (!store.get("r.example")) ++bad;
      } catch (const std::exception&) {
        ++bad;
      }
      ++reads;
    }
  });
  CredentialStore writer(file);
  for (int i = 0; i < 200; ++i) writer.store("r.example", {"alice.test", std::string(20000, 'a' + i % 26), ""});
  done = true;
  reader.join();
  CHECK(bad == 0);
  CHECK(reads > 0);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);  // no temporaries left
}

TEST_CASE("credential store: concurrent stores and erases, from threads and processes, lose nothing") {
  test::TempDir dir("atcr-creds");
  const auto file = dir / "credentials.json";
  CredentialStore(file).store("r.example", {"keep.test", "k", ""});
  CredentialStore(file).store("r.example", {"gone.test", "g", ""});
  constexpr int kWorkers = 4, kEach = 15;
  // Each worker adds its own accounts; one also erases "gone.test". Without
  // the lock two read-modify-write cycles interleave and one's entry is lost.
  auto work = [&](int w) {
    CredentialStore store(file);
    for (int i = 0; i < kEach; ++i)
      store.store("r.example", {"w" + std::to_string(w) + "-" + std::to_string(i) + ".test", "s", ""});
    if (w == 0) store.erase("r.example", "gone.test");
  };
  std::vector<pid_t> children;
  for (int w = 0; w < kWorkers; ++w) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 0;
      try {
        work(w);
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
    children.push_back(pid);
  }
  std::vector<std::thread> threads;
  for (int w = kWorkers; w < 2 * kWorkers; ++w) threads.emplace_back(work, w);
  for (auto& t : threads) t.join();
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  auto accounts = CredentialStore(file).accounts().at("r.example").accounts;
  CHECK(accounts.size() == 1 + 2 * kWorkers * kEach);
  CHECK(accounts.count("keep.test") == 1);
  CHECK(accounts.count("gone.test") == 0);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), {}) == 1);  // no lock file, no temporaries
}

TEST_CASE("credential store: the single-account file of older versions is read") {
  test::TempDir dir("atcr-creds");
  spit(dir / "credentials.json", R"({"registries":{"r.example":{"username":"alice.test","secret":"pw"}}})");
  CredentialStore store(dir / "credentials.json");
  CHECK(store.get("r.example") == Credential{"alice.test", "pw", ""});
  store.store("r.example", {"bob.test", "pw2", ""});
  CHECK(store.get("r.example", "alice.test")->secret == "pw");
}

TEST_CASE("credential store: a loose or corrupt file is an error naming it, never reset") {
  test::TempDir dir("atcr-creds");
  CredentialStore store(dir / "credentials.json");
  store.store("r.example", {"alice.test", "secret", ""});
  ::chmod((dir / "credentials.json").c_str(), 0644);
  CHECK_THROWS_AS(store.get("r.example"), StorageError);
  ::chmod((dir / "credentials.json").c_str(), 0600);
  CHECK(store.get("r.example"));

  for (std::string text : {std::string(R"({"registries": [1, 2]})"), std::string(R"({"registries": {"r": {"accounts": {"a": {}}}}})"),
                           std::string("{\"registries\": {"), std::string("not json")}) {
    CAPTURE(text);
    spit(dir / "broken.json", text);
    CredentialStore broken(dir / "broken.json");
    try {
      broken.get("x");
      FAIL("a corrupt file was read");
    } catch (const ParseError& e) {
      CHECK(std::string(e.what()).find((dir / "broken.json").string()) != std::string::npos);
    }
    // A write must not paper over it either.
    CHECK_THROWS_AS(broken.store("x", {"u", "s", ""}), ParseError);
    CHECK(slurp(dir / "broken.json") == text);
  }
}

TEST_CASE("credential helper: the account named by the calling command's image reference") {
  using V = std::vector<std::string>;
  CHECK(identity_in_command_line(V{"docker", "push", "r.example:5000/Alice.Test/app:1"}, "r.example:5000") ==
        "alice.test");
  CHECK(identity_in_command_line(V{"docker", "pull", "r.example/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app@sha256:00"},
                                 "https://r.example/v1/") == "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
  CHECK(identity_in_command_line(V{"podman", "push", "--tls-verify=false", "local:1", "docker://r.example/bob.test/x"},
                                 "r.example") == "bob.test");
  CHECK(identity_in_command_line(V{"docker", "build", "--tag=r.example/bob.test/x:2", "."}, "r.example") ==
        "bob.test");
  // Another registry, no identity, an invalid one, nothing at all.
  CHECK_FALSE(identity_in_command_line(V{"docker", "push", "other.example/alice.test/app"}, "r.example"));
  CHECK_FALSE(identity_in_command_line(V{"docker", "push", "r.example/app:1"}, "r.example"));
  CHECK_FALSE(identity_in_command_line(V{"docker", "push", "r.example/bad_handle!/app"}, "r.example"));
  CHECK_FALSE(identity_in_command_line(V{}, "r.example"));
  // Our own process has a command line.
  CHECK_FALSE(process_command_line(::getpid()).empty());
  CHECK(process_command_line(-1).empty());
}

TEST_CASE("configure-docker: credHelpers merged into existing JSON, the rest untouched") {
  std::string out = with_credential_helper(
      R"({"auths":{"other.example":{"auth":"eHl6"}},"credHelpers":{"gcr.io":"gcloud"},"experimental":"enabled","n":1.5})",
      "https://R.example:5000", "atcr", "config.json");
  CHECK(out.find(R"("r.example:5000": "atcr")") != std::string::npos);
  CHECK(out.find(R"("gcr.io": "gcloud")") != std::string::npos);
  CHECK(out.find(R"("auth": "eHl6")") != std::string::npos);
  CHECK(out.find(R"("experimental": "enabled")") != std::string::npos);
  CHECK(out.find("1.5") != std::string::npos);
  // Idempotent, and from nothing.
  CHECK(with_credential_helper(out, "r.example:5000", "atcr", "config.json") == out);
  CHECK(with_credential_helper("", "r.example", "atcr", "x").find(R"("r.example": "atcr")") != std::string::npos);
  // Not JSON, or credHelpers of the wrong type: an error naming the file.
  for (const char* bad : {"{", "[]", R"({"credHelpers": []})"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(with_credential_helper(bad, "r.example", "atcr", "/home/u/.docker/config.json"),
                         doctest::Contains("/home/u/.docker/config.json"), ParseError);
  }

  test::TempDir dir("atcr-config");
  auto file = dir / ".docker" / "config.json";
  CHECK(configure_credential_helper(file, "r.example", "atcr"));
  CHECK_FALSE(configure_credential_helper(file, "r.example", "atcr"));
  CHECK(configure_credential_helper(file, "s.example", "atcr"));
  std::string text = slurp(file);
  CHECK(text.find(R"("r.example": "atcr")") != std::string::npos);
  CHECK(text.find(R"("s.example": "atcr")") != std::string::npos);
  spit(dir / "bad.json", "{oops");
  CHECK_THROWS_AS(configure_credential_helper(dir / "bad.json", "r.example", "atcr"), ParseError);
  CHECK(slurp(dir / "bad.json") == "{oops");
}

TEST_CASE("registry base URL: loopback speaks http, the rest https") {
  CHECK(registry_base_url("127.0.0.1:5000") == "http://127.0.0.1:5000");
  CHECK(registry_base_url("localhost:5000") == "http://localhost:5000");
  CHECK(registry_base_url("Registry.Example") == "https://registry.example");
  CHECK(registry_base_url("http://r.example:8080/") == "http://r.example:8080");
  CHECK(registry_base_url("https://R.example/v1/") == "https://r.example");
}

TEST_CASE("registry login: Bearer challenges as registries send them") {
  auto c = parse_bearer_challenge(
      R"(Bearer realm="http://127.0.0.1:5000/auth/token",service="127.0.0.1:5000",scope="repository:a/b:pull,push")");
  REQUIRE(c);
  CHECK(c->realm == "http://127.0.0.1:5000/auth/token");
  CHECK(c->service == "127.0.0.1:5000");
  CHECK(c->scope == "repository:a/b:pull,push");
  CHECK(parse_bearer_challenge(R"(bearer realm=https://auth.example/token)")->realm == "https://auth.example/token");
  CHECK_FALSE(parse_bearer_challenge(R"(Basic realm="registry")"));
  CHECK_FALSE(parse_bearer_challenge(R"(Bearer service="x")"));  // no realm
  CHECK_FALSE(parse_bearer_challenge(""));
}

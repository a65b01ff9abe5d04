#include "atcr/oci/credential_store.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include "atcr/error.h"
#include "atcr/oci/registry_login.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::oci;

TEST_CASE("credential store: store, get, list, erase; one entry per registry host") {
  test::TempDir dir("atcr-creds");
  CredentialStore store(dir / "sub" / "credentials.json");
  CHECK_FALSE(store.get("r.example"));
  CHECK(store.list().empty());

  store.store("https://R.example:5000/v2/", {"alice.test", "app-pass-1"});
  store.store("127.0.0.1:5000", {"did:plc:bob", "app-pass-2"});
  auto alice = store.get("r.example:5000");
  REQUIRE(alice);
  CHECK(alice->username == "alice.test");
  CHECK(alice->secret == "app-pass-1");
  CHECK(store.list() == std::map<std::string, std::string>{{"127.0.0.1:5000", "did:plc:bob"},
                                                          {"r.example:5000", "alice.test"}});
  // The file holds secrets: 0600.
  struct stat st{};
  REQUIRE(::stat((dir / "sub" / "credentials.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  store.store("r.example:5000", {"alice.test", "rotated"});
  CHECK(store.get("http://r.example:5000")->secret == "rotated");
  CHECK(store.erase("r.example:5000"));
  CHECK_FALSE(store.erase("r.example:5000"));
  CHECK(store.list().size() == 1);
}

TEST_CASE("credential store: a loose or broken file is refused, not trusted") {
  test::TempDir dir("atcr-creds");
  CredentialStore store(dir / "credentials.json");
  store.store("r.example", {"alice.test", "secret"});
  ::chmod((dir / "credentials.json").c_str(), 0644);
  CHECK_THROWS_AS(store.get("r.example"), StorageError);
  ::chmod((dir / "credentials.json").c_str(), 0600);
  CHECK(store.get("r.example"));

  CredentialStore broken(dir / "broken.json");
  {
    // Written privately but not JSON of the expected shape.
    CredentialStore(dir / "broken.json").store("x", {"u", "s"});
    FILE* f = std::fopen((dir / "broken.json").c_str(), "w");
    std::fputs("{\"registries\": [1, 2]}", f);
    std::fclose(f);
  }
  CHECK_THROWS_AS(broken.get("x"), ParseError);
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

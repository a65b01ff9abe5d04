#include "atcr/hold/config.h"

#include <doctest/doctest.h>

#include <fstream>
#include <map>

#include "temp_dir.h"

using atcr::ConfigError;
using atcr::hold::HoldConfig;

namespace {

// An environment made of exactly these variables.
HoldConfig::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const std::map<std::string, std::string> kMinimalS3 = {
    {"HOLD_SERVER_PUBLIC_URL", "https://hold.example.com"},
    {"HOLD_REGISTRATION_OWNER_DID", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
    {"AWS_ACCESS_KEY_ID", "AKID"},
    {"AWS_SECRET_ACCESS_KEY", "secret"},
    {"S3_BUCKET", "blobs"},
    {"S3_ENDPOINT", "http://127.0.0.1:7480"},
};

std::filesystem::path write(const atcr::test::TempDir& dir, const std::string& text) {
  auto path = dir / "hold.toml";
  std::ofstream(path) << text;
  return path;
}

// The key a load fails on.
std::string failing_key(const std::optional<std::filesystem::path>& file,
                        std::map<std::string, std::string> env) {
  try {
    HoldConfig::load(file, env_of(std::move(env)));
  } catch (const ConfigError& e) {
    return e.key();
  }
  return "(loaded)";
}

}  // namespace

TEST_CASE("hold config: the minimal settings from the environment load with defaults") {
  HoldConfig c = HoldConfig::load(std::nullopt, env_of(kMinimalS3));
  CHECK(c.server.public_url == "https://hold.example.com");
  CHECK(c.server.host == "127.0.0.1");
  CHECK(c.server.port == 8080);
  CHECK_FALSE(c.server.is_public);
  CHECK(c.registration.owner_did == "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
  CHECK(c.storage.driver == "s3");
  CHECK(c.storage.s3.bucket == "blobs");
  CHECK(c.storage.s3.endpoint == "http://127.0.0.1:7480");
  CHECK(c.storage.s3.credentials.access_key_id == "AKID");
  CHECK(c.storage.presign);
  CHECK(c.storage.presign_expiry == std::chrono::minutes(15));
  CHECK(c.storage.path == std::filesystem::path("/var/lib/atcr-hold/blobs"));
  CHECK_FALSE(c.quota.enabled);
  CHECK(c.quota.tiers.at("deckhand") == 5'000'000'000ULL);
  CHECK(c.quota.tiers.at("bosun") == 50'000'000'000ULL);
  CHECK(c.quota.tiers.at("quartermaster") == 100'000'000'000ULL);
}

TEST_CASE("hold config: the template lists every option and loads once the required ones are set") {
  std::string text = HoldConfig::template_toml();
  for (const char* key : {"public_url", "owner_did", "allow_all_crew", "driver", "bucket", "presign_expiry",
                          "session_ttl", "tiers", "level"})
    CHECK(text.find(key) != std::string::npos);
  CHECK(text.find("HOLD_SERVER_PUBLIC_URL") != std::string::npos);
  CHECK(text.find("AWS_SECRET_ACCESS_KEY") != std::string::npos);

  atcr::test::TempDir dir;
  auto file = write(dir, text);
  // Required settings are commented out: an unedited template fails loudly.
  CHECK(failing_key(file, {}) == "server.public_url");
  HoldConfig c = HoldConfig::load(file, env_of(kMinimalS3));
  CHECK(c.server.port == 8080);
  CHECK(c.quota.tiers.size() == 3);
}

TEST_CASE("hold config: the environment overrides the file, which overrides defaults") {
  atcr::test::TempDir dir;
  auto file = write(dir, R"(
[server]
public_url = "https://from-file.example"
port = 9000
public = true

[storage]
driver = "filesystem"
path = "/srv/blobs"

[quota]
enabled = true
tiers = { small = "1MB", big = 1073741824 }
default_tier = "small"
)");
  HoldConfig c = HoldConfig::load(file, env_of({{"HOLD_SERVER_PORT", "9100"},
                                                {"HOLD_REGISTRATION_OWNER_DID", "did:web:owner.example"}}));
  CHECK(c.server.public_url == "https://from-file.example");
  CHECK(c.server.port == 9100);
  CHECK(c.server.is_public);
  CHECK(c.storage.driver == "filesystem");
  CHECK(c.storage.path == std::filesystem::path("/srv/blobs"));
  CHECK_FALSE(c.storage.presign);  // the filesystem cannot presign
  CHECK(c.quota.enabled);
  CHECK(c.quota.tiers.at("small") == 1'000'000);
  CHECK(c.quota.tiers.at("big") == 1ULL << 30);
}

TEST_CASE("hold config: invalid settings name their key") {
  atcr::test::TempDir dir;
  auto env = kMinimalS3;

  CHECK(failing_key(write(dir, "[server]\npubic = false\n"), env) == "server.pubic");
  CHECK(failing_key(write(dir, "[server]\nport = \"eighty\"\n"), env) == "server.port");
  CHECK(failing_key(write(dir, "[server]\nport = 70000\n"), env) == "server.port");
  CHECK(failing_key(write(dir, "[server]\npublic = \"maybe\"\n"), env) == "server.public");
  CHECK(failing_key(write(dir, "[storage]\ndriver = \"ftp\"\n"), env) == "storage.driver");
  CHECK(failing_key(write(dir, "[storage]\npresign_expiry = \"10y\"\n"), env) == "storage.presign_expiry");
  CHECK(failing_key(write(dir, "[storage]\npresign_expiry = \"30d\"\n"), env) == "storage.presign_expiry");
  CHECK(failing_key(write(dir, "[quota]\nenabled = true\ndefault_tier = \"gold\"\n"), env) ==
        "quota.default_tier");
  CHECK(failing_key(write(dir, "[quota]\ntiers = { a = \"lots\" }\n"), env) == "quota.tiers");
  CHECK(failing_key(write(dir, "this is not toml"), env) == "");

  auto bad_url = env;
  bad_url["HOLD_SERVER_PUBLIC_URL"] = "https://hold.example.com/path";
  CHECK(failing_key(std::nullopt, bad_url) == "server.public_url");
  bad_url["HOLD_SERVER_PUBLIC_URL"] = "ftp://hold.example.com";
  CHECK(failing_key(std::nullopt, bad_url) == "server.public_url");

  auto bad_owner = env;
  bad_owner["HOLD_REGISTRATION_OWNER_DID"] = "alice.bsky.social";
  CHECK(failing_key(std::nullopt, bad_owner) == "registration.owner_did");

  auto no_bucket = env;
  no_bucket.erase("S3_BUCKET");
  CHECK(failing_key(std::nullopt, no_bucket) == "storage.bucket");
}

TEST_CASE("hold config: an error message says where the bad value came from") {
  auto env = kMinimalS3;
  env["HOLD_SERVER_PORT"] = "http";
  try {
    HoldConfig::load(std::nullopt, env_of(env));
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    std::string what = e.what();
    CHECK(what.find("server.port") != std::string::npos);
    CHECK(what.find("HOLD_SERVER_PORT") != std::string::npos);
  }
}

#include "atcr/hold/config.h"

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>

#include "temp_dir.h"
#include "warnings.h"

using atcr::ConfigError;
using atcr::hold::HoldConfig;
using atcr::test::warned;

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
  CHECK(c.storage.driver == HoldConfig::Driver::kS3);
  CHECK(c.storage.s3.bucket == "blobs");
  CHECK(c.storage.s3.endpoint == "http://127.0.0.1:7480");
  CHECK(c.storage.s3.credentials.access_key_id == "AKID");
  CHECK(c.storage.presign);
  CHECK(c.storage.presign_expiry == std::chrono::minutes(15));
  CHECK(c.blob_root() == std::filesystem::path("/var/lib/atcr-hold/blobs"));
  CHECK_FALSE(c.quota.enabled);
  CHECK(c.quota.tiers.at("deckhand") == 5'000'000'000ULL);
  CHECK(c.quota.tiers.at("bosun") == 50'000'000'000ULL);
  CHECK(c.quota.tiers.at("quartermaster") == 100'000'000'000ULL);
}

TEST_CASE("hold config: one source of defaults; validate() holds a config built in code to the file's rules") {
  // Loaded with only the required settings, a config equals one built in
  // code with the same settings: every default comes from HoldConfig's own.
  HoldConfig loaded = HoldConfig::load(std::nullopt, env_of(kMinimalS3));
  HoldConfig built;
  built.server.public_url = "https://hold.example.com";
  built.registration.owner_did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
  built.storage.s3.endpoint = loaded.storage.s3.endpoint;
  built.storage.s3.bucket = loaded.storage.s3.bucket;
  built.storage.s3.credentials = loaded.storage.s3.credentials;
  // Every setting, the keys added since included (operator== compares them all).
  CHECK(built == loaded);
  // The same from an empty file.
  atcr::test::TempDir dir("atcr-hold-config");
  CHECK(built == HoldConfig::load(write(dir, ""), env_of(kMinimalS3)));
  CHECK_NOTHROW(built.validate());

  auto key_of = [](const HoldConfig& c) {
    try {
      c.validate();
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string("(valid)");
  };
  HoldConfig bad = built;
  bad.registration.owner_did = "alice";
  CHECK(key_of(bad) == "registration.owner_did");
  bad = built;
  bad.storage.s3.bucket.clear();
  CHECK(key_of(bad) == "storage.bucket");
  bad.storage.driver = HoldConfig::Driver::kFilesystem;  // needs no bucket
  CHECK(key_of(bad) == "(valid)");
  bad = built;
  bad.server.public_url = "https://hold.example.com/path";
  CHECK(key_of(bad) == "server.public_url");
  bad = built;
  bad.quota.enabled = true;
  bad.quota.default_tier = "admiral";
  CHECK(key_of(bad) == "quota.default_tier");
  // The rules of the keys added with the admin panel, scanning, GC and metrics.
  bad = built;
  bad.storage.prefix = "hold-a";
  CHECK(key_of(bad) == "storage.prefix");
  bad = built;
  bad.registration.appview_did = "appview";
  CHECK(key_of(bad) == "registration.appview_did");
  bad = built;
  bad.admin.session_lifetime = std::chrono::seconds(30);
  CHECK(key_of(bad) == "admin.session_lifetime");
  bad = built;
  bad.scanner.job_timeout = std::chrono::seconds(0);
  CHECK(key_of(bad) == "scanner.job_timeout");
  bad = built;
  bad.gc.interval = std::chrono::seconds(0);
  CHECK(key_of(bad) == "gc.interval");
  bad = built;
  bad.metrics.addr = "9100";
  CHECK(key_of(bad) == "metrics.addr");
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
  CHECK(c.storage.driver == HoldConfig::Driver::kFilesystem);
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

namespace {

std::vector<std::string> names_of(const std::map<std::string, std::string>& env) {
  std::vector<std::string> names;
  for (const auto& [name, value] : env) names.push_back(name);
  return names;
}

HoldConfig load_env(const std::map<std::string, std::string>& env,
                    const std::optional<std::filesystem::path>& file = std::nullopt) {
  return HoldConfig::load(file, env_of(env), names_of(env));
}


// The settings an ATCR .env.hold spells with ATCR's names, as ours would.
void check_same(const HoldConfig& a, const HoldConfig& b) {
  CHECK(a.server.public_url == b.server.public_url);
  CHECK(a.server.host == b.server.host);
  CHECK(a.server.port == b.server.port);
  CHECK(a.server.is_public == b.server.is_public);
  CHECK(a.server.data_dir == b.server.data_dir);
  CHECK(a.registration.owner_did == b.registration.owner_did);
  CHECK(a.registration.allow_all_crew == b.registration.allow_all_crew);
  CHECK(a.identity.did_method == b.identity.did_method);
  CHECK(a.identity.plc_url == b.identity.plc_url);
  CHECK(a.storage.driver == b.storage.driver);
  CHECK(a.storage.path == b.storage.path);
  CHECK(a.storage.s3.endpoint == b.storage.s3.endpoint);
  CHECK(a.storage.s3.bucket == b.storage.s3.bucket);
  CHECK(a.storage.s3.region == b.storage.s3.region);
  CHECK(a.storage.s3.credentials.access_key_id == b.storage.s3.credentials.access_key_id);
  CHECK(a.storage.s3.credentials.secret_access_key == b.storage.s3.credentials.secret_access_key);
  CHECK(a.storage.presign == b.storage.presign);
}

}  // namespace

TEST_CASE("hold config: an ATCR .env.hold runs unchanged, as our own names would") {
  const std::map<std::string, std::string> atcr_env = {
      {"HOLD_PUBLIC_URL", "https://hold.example.com"},
      {"HOLD_SERVER_ADDR", "127.0.0.1:9123"},
      {"HOLD_DATABASE_DIR", "/srv/hold"},
      {"HOLD_OWNER", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
      {"HOLD_PUBLIC", "true"},
      {"HOLD_ALLOW_ALL_CREW", "true"},
      {"HOLD_DATABASE_DID_METHOD", "web"},
      {"STORAGE_DRIVER", "filesystem"},
      {"STORAGE_ROOT_DIR", "/srv/blobs"},
  };
  const std::map<std::string, std::string> ours = {
      {"HOLD_SERVER_PUBLIC_URL", "https://hold.example.com"},
      {"HOLD_SERVER_HOST", "127.0.0.1"},
      {"HOLD_SERVER_PORT", "9123"},
      {"HOLD_SERVER_DATA_DIR", "/srv/hold"},
      {"HOLD_REGISTRATION_OWNER_DID", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
      {"HOLD_SERVER_PUBLIC", "true"},
      {"HOLD_REGISTRATION_ALLOW_ALL_CREW", "true"},
      {"HOLD_IDENTITY_DID_METHOD", "web"},
      {"HOLD_STORAGE_DRIVER", "filesystem"},
      {"HOLD_STORAGE_PATH", "/srv/blobs"},
  };
  HoldConfig a = load_env(atcr_env);
  HoldConfig b = load_env(ours);
  check_same(a, b);
  CHECK(a.server.port == 9123);
  CHECK(a.storage.path == "/srv/blobs");
  CHECK(a.warnings.empty());
  CHECK(b.warnings.empty());
}

TEST_CASE("hold config: ATCR's file keys (storage.access_key, database.*, server.addr) map onto ours") {
  atcr::test::TempDir dir("atcr-hold-config-alias");
  HoldConfig a = load_env({}, write(dir,
                                    "[server]\npublic_url = \"https://hold.example.com\"\naddr = \":9200\"\n"
                                    "[registration]\nowner_did = \"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"\n"
                                    "[database]\npath = \"/srv/hold\"\ndid_method = \"plc\"\n"
                                    "did = \"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"\n"
                                    "plc_directory_url = \"https://plc.example.com\"\n"
                                    "[storage]\nbucket = \"blobs\"\nendpoint = \"http://127.0.0.1:7480\"\n"
                                    "access_key = \"AKID\"\nsecret_key = \"secret\"\n"
                                    "[gc]\nenabled = true\n"));
  atcr::test::TempDir dir2("atcr-hold-config-ours");
  HoldConfig b = load_env({}, write(dir2,
                                    "[server]\npublic_url = \"https://hold.example.com\"\nport = 9200\n"
                                    "data_dir = \"/srv/hold\"\n"
                                    "[registration]\nowner_did = \"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"\n"
                                    "[identity]\ndid_method = \"plc\"\ndid = \"did:plc:ewvi7nxzyoun6zhxrhs64oiz\"\n"
                                    "plc_url = \"https://plc.example.com\"\n"
                                    "[storage]\nbucket = \"blobs\"\nendpoint = \"http://127.0.0.1:7480\"\n"
                                    "access_key_id = \"AKID\"\nsecret_access_key = \"secret\"\n"));
  check_same(a, b);
  CHECK(a.identity.did == b.identity.did);
  CHECK(a.server.host == "127.0.0.1");  // ":9200" names no host: ours stays loopback, and says so
  CHECK(warned(a, "names no host"));
  CHECK(a.gc.enabled);  // ATCR's gc.enabled is ours too
  CHECK_FALSE(warned(a, "gc."));
  CHECK(b.warnings.empty());
}

TEST_CASE("hold config: our name wins over ATCR's, with a warning; unknown HOLD_* names are warned about") {
  auto env = kMinimalS3;
  env["HOLD_SERVER_PORT"] = "9300";
  env["HOLD_SERVER_ADDR"] = "127.0.0.2:9400";
  env["HOLD_SERVER_PROT"] = "1";
  env["HOLD_KEY_PATH"] = "/srv/hold/signing.key";
  env["HOLD_ADMIN_ENABLED"] = "false";  // ATCR's name is ours too
  env["HOLD_BENCH"] = "/build/bench/hold_bench";  // the project's own script variable
  HoldConfig c = load_env(env);
  CHECK(c.server.port == 9300);
  CHECK(c.server.host == "127.0.0.2");  // the alias still sets what ours does not
  CHECK(warned(c, "both HOLD_SERVER_PORT and ATCR's HOLD_SERVER_ADDR are set; using HOLD_SERVER_PORT"));
  CHECK(warned(c, "unknown environment variable HOLD_SERVER_PROT (ignored); did you mean HOLD_SERVER_PORT?"));
  CHECK(warned(c, "$HOLD_KEY_PATH is an ATCR setting"));
  CHECK(!c.admin.enabled);
  CHECK_FALSE(warned(c, "HOLD_BENCH"));
  CHECK(c.warnings.size() == 3);

  atcr::test::TempDir dir("atcr-hold-config-both");
  c = load_env(kMinimalS3, write(dir, "[storage]\naccess_key = \"ATCR\"\naccess_key_id = \"OURS\"\n"));
  CHECK(c.storage.s3.credentials.access_key_id == "AKID");  // env over file, whatever the spelling
  c = load_env({{"HOLD_SERVER_PUBLIC_URL", "https://hold.example.com"},
                {"HOLD_REGISTRATION_OWNER_DID", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
                {"HOLD_STORAGE_DRIVER", "filesystem"}},
               write(dir, "[storage]\naccess_key = \"ATCR\"\naccess_key_id = \"OURS\"\n"));
  CHECK(c.storage.s3.credentials.access_key_id == "OURS");
  CHECK(warned(c, "both storage.access_key_id and ATCR's storage.access_key are set"));

  CHECK(failing_key(std::nullopt, [] {
          auto e = kMinimalS3;
          e["HOLD_SERVER_ADDR"] = "no-port";
          return e;
        }()) == "server.host");
}

TEST_CASE("hold config: an ATCR name that is also ours (HOLD_SCANNER_SECRET) is one variable, not two") {
  auto env = kMinimalS3;
  env["HOLD_SCANNER_SECRET"] = "s3cret";
  HoldConfig c = load_env(env);
  CHECK(c.scanner.secret == "s3cret");
  CHECK(c.warnings.empty());
  std::string text = HoldConfig::template_toml();
  CHECK(text.find("# Environment: HOLD_SCANNER_SECRET\n") != std::string::npos);
}

TEST_CASE("hold config: config init documents ATCR's spellings beside ours") {
  std::string text = HoldConfig::template_toml();
  CHECK(text.find("# ATCR spelling (also accepted): server.addr / $HOLD_SERVER_ADDR (host:port)") !=
        std::string::npos);
  CHECK(text.find("storage.access_key / $HOLD_STORAGE_ACCESS_KEY") != std::string::npos);
  CHECK(text.find("$STORAGE_ROOT_DIR") != std::string::npos);
  CHECK(text.find("database.did_method / $HOLD_DATABASE_DID_METHOD") != std::string::npos);
  CHECK(text.find("not used yet") != std::string::npos);
  CHECK(text.find("HOLD_BENCH*") != std::string::npos);
}

TEST_CASE("hold config: scanning is on with a secret, for the tiers listed") {
  HoldConfig off = HoldConfig::load(std::nullopt, env_of(kMinimalS3));
  CHECK(off.scanner.secret.empty());
  CHECK_FALSE(off.scanner.scans(""));
  CHECK_FALSE(off.scanner.scans("deckhand"));

  auto env = kMinimalS3;
  env["HOLD_SCANNER_SECRET"] = "s3cret";
  env["HOLD_SCANNER_SCAN_ON_PUSH"] = " bosun,quartermaster ,";
  HoldConfig some = HoldConfig::load(std::nullopt, env_of(env));
  CHECK(some.scanner.scan_on_push == std::set<std::string>{"bosun", "quartermaster"});
  CHECK(some.scanner.scans("bosun"));
  CHECK_FALSE(some.scanner.scans("deckhand"));
  CHECK_FALSE(some.scanner.scans(""));  // the owner: only with "*"
  CHECK(some.scanner.job_timeout == std::chrono::minutes(10));

  env["HOLD_SCANNER_SCAN_ON_PUSH"] = "*";
  HoldConfig all = HoldConfig::load(std::nullopt, env_of(env));
  CHECK(all.scanner.scans(""));
  CHECK(all.scanner.scans("anything"));

  env["HOLD_SCANNER_JOB_TIMEOUT"] = "0s";
  CHECK(failing_key(std::nullopt, env) == "scanner.job_timeout");
}

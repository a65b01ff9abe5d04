// The hold's configuration: built-in defaults, then a TOML file, then the
// environment (HOLD_<SECTION>_<NAME>, e.g. HOLD_SERVER_PUBLIC_URL, plus the
// usual AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, S3_BUCKET and
// S3_ENDPOINT).
//
// The defaults are this struct's initializers: a HoldConfig built in code
// and one loaded from an empty file agree (config init writes them). Only
// three things must be set: where blobs go (storage credentials and
// bucket, or driver = "filesystem"), server.public_url and
// registration.owner_did. Everything else has a default a small hold can run
// with. `atcr-hold config init` writes template() to a file: every option,
// its default, its help and the environment variables that override it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/error.h"
#include "atcr/log.h"
#include "atcr/pds/embedded_pds.h"
#include "atcr/s3/client.h"

namespace atcr::hold {

struct HoldConfig {
  struct Server {
    std::string public_url;  // "https://hold.example.com": the did:web and every URL handed out
    std::string host = "127.0.0.1";
    int port = 8080;
    bool is_public = false;  // [server] public: anyone may pull
    std::filesystem::path data_dir = "/var/lib/atcr-hold";
    std::chrono::seconds shutdown_grace{30};
    bool operator==(const Server&) const = default;
  } server;

  struct Registration {
    std::string owner_did;
    bool allow_all_crew = false;
    bool enable_bluesky_posts = false;
    std::string appview_did;  // may call updateCrewTier besides the hold's admins
    std::string region;
    std::string provider;
    // The hold's own Bluesky profile (app.bsky.actor.profile/self, written
    // at boot) and where its push posts link to.
    std::string profile_display_name;
    std::string profile_description;
    // A PNG or JPEG file (at most 1,000,000 bytes, the lexicon's limit):
    // the profile's avatar, a blob in the hold's repo served by getBlob to
    // anyone. Empty: no avatar.
    std::filesystem::path profile_avatar;
    std::string appview_url = "https://atcr.io";
    bool operator==(const Registration&) const = default;
  } registration;

  struct Admin {
    bool enabled = true;  // the owner's web panel at /admin
    std::chrono::seconds session_lifetime{12 * 3600};
    bool operator==(const Admin&) const = default;
  } admin;

  struct Identity {
    pds::DidMethod did_method = pds::DidMethod::kWeb;
    std::string did;                 // adopt an existing did:plc
    std::string plc_url = "https://plc.directory";
    std::string handle;  // default: public_url's host
    std::string handle_resolver;  // a resolveHandle service for handles DNS does not know
    bool development = false;  // resolve did:web on loopback (over http)
    bool operator==(const Identity&) const = default;
  } identity;

  enum class Driver { kS3, kFilesystem };
  struct Storage {
    Driver driver = Driver::kS3;
    std::filesystem::path path;  // filesystem root; "" = blob_root()'s default
    s3::S3Config s3 = [] {
      s3::S3Config c;
      c.path_style = true;  // <endpoint>/<bucket>: what S3-compatible servers expect
      return c;
    }();
    // s3: every key under it (ending in '/'; "/" the bucket root); the hold
    // owns all of it. "": the hold's own, chosen at its first start.
    std::string prefix;
    bool presign = true;  // false: blob bytes go through the hold
    std::chrono::seconds presign_expiry{15 * 60};
    bool operator==(const Storage&) const = default;
  } storage;

  struct Uploads {
    std::chrono::seconds session_ttl{24 * 3600};
    std::uint64_t max_part_bytes = 5ULL << 30;  // a proxied uploadPart body
    bool operator==(const Uploads&) const = default;
  } uploads;

  struct Quota {
    bool enabled = false;
    std::map<std::string, std::uint64_t> tiers = {  // name -> bytes
        {"deckhand", 5'000'000'000}, {"bosun", 50'000'000'000}, {"quartermaster", 100'000'000'000}};
    std::string default_tier = "deckhand";
    bool operator==(const Quota&) const = default;
  } quota;

  struct Scanner {
    std::string secret;                       // empty: scanning is off
    std::set<std::string> scan_on_push;       // tier names; "*": every push
    std::chrono::seconds job_timeout{10 * 60};
    // Whether a push by a user of `tier` ("" for the owner) is scanned.
    bool scans(std::string_view tier) const {
      return !secret.empty() && (scan_on_push.contains("*") || (!tier.empty() && scan_on_push.contains(std::string(tier))));
    }
    bool operator==(const Scanner&) const = default;
  } scanner;
  struct Gc {
    bool enabled = false;  // scheduled runs; Hold::gc() works either way
    std::chrono::seconds interval{24 * 3600};
    // How long a blob must stay unreferenced (across runs) before it goes.
    std::chrono::seconds grace_period{24 * 3600};
    bool operator==(const Gc&) const = default;
  } gc;

  struct Metrics {
    bool enabled = true;
    std::string addr;  // "host:port" of a listener of its own; "" = the main one
    bool operator==(const Metrics&) const = default;
  } metrics;

  struct Log {
    log::Level level = log::Level::kInfo;
    bool operator==(const Log&) const = default;
  } log;

  // The filesystem driver's root: storage.path, or <data_dir>/blobs.
  std::filesystem::path blob_root() const;

  // Throws atcr::ConfigError naming the key for anything missing or
  // invalid (load() and the Hold's constructor both call it, so a config
  // built in code is held to the same rules as a file).
  void validate() const;

  // Reads an environment variable; nullopt when unset.
  using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

  // Throws atcr::ConfigError naming the key for anything missing or invalid.
  // `env` defaults to the process environment.
  static HoldConfig load(const std::optional<std::filesystem::path>& file, EnvLookup env = {},
                   const std::vector<std::string>& env_names = {});

  // Said once at start (logged as warnings by the program): ATCR settings
  // accepted but not used yet, an ATCR spelling overridden by ours, unknown
  // HOLD_* environment variables (`env_names`, the names set; the process's
  // when `env` is unset). ATCR's config keys and environment names are
  // accepted as aliases of ours (see `config init`).
  std::vector<std::string> warnings;
  // The commented TOML written by `atcr-hold config init`.
  static std::string template_toml();
  // Equal settings (tests compare a config built in code with a loaded one).
  bool operator==(const HoldConfig&) const = default;
};

}  // namespace atcr::hold

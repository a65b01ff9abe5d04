// The AppView's configuration: built-in defaults, then a TOML file, then the
// environment (ATCR_<SECTION>_<NAME>, e.g. ATCR_SERVER_DEFAULT_HOLD_DID,
// plus the ATCR names of the Go AppView: ATCR_DEFAULT_HOLD_DID,
// ATCR_BASE_URL, ATCR_HTTP_ADDR is not read).
//
// Only server.default_hold_did must be set: the hold that stores the blobs
// of users whose io.atcr.sailor.profile names none. Everything else has a
// default that runs a registry on http://127.0.0.1:5000.
//
// `atcr-appview config init [FILE]` writes template_toml(): every option,
// its default, its help and the environment variables that override it.
// These keys are a stable interface (scripts and the quickstart use them):
//
//   [server]   host, port, public_url, data_dir, default_hold_did,
//              service (the token `service`/`aud`; default public_url's host[:port]),
//              blob_delete
//   [identity] plc_url
//   [auth]     token_lifetime, device_code_ttl, device_poll_interval, oauth_scope,
//              web_session_lifetime
//   [cache]    identity_ttl, tag_ttl, manifest_entries, hold_ttl
//   [uploads]  part_size, session_ttl, max_sessions_per_user, max_sessions
//   [index]    relays, pdses, backfill
//   [install]  helper_binary
//   [log]      level
//   [database] url
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "atcr/error.h"
#include "atcr/log.h"

namespace atcr::appview {

// The defaults are this struct's initializers: an AppviewConfig built in
// code and one loaded from an empty file agree (config init writes them).
struct AppviewConfig {
  struct Server {
    std::string host = "127.0.0.1";
    int port = 5000;
    // The base URL clients reach the registry at: the token realm is
    // <public_url>/auth/token. No trailing '/'.
    std::string public_url = "http://127.0.0.1:5000";
    std::filesystem::path data_dir = "/var/lib/atcr-appview";
    std::string default_hold_did;
    // Registry JWTs' `aud` and the challenge's service="...".
    std::string service;  // default: public_url's host[:port]
    // DELETE of blobs; false answers 405 UNSUPPORTED.
    bool blob_delete = true;
    bool operator==(const Server&) const = default;
  } server;

  struct Identity {
    std::string plc_url = "https://plc.directory";
    std::string handle_resolver;  // a resolveHandle service, asked last
    bool development = false;     // .test handles, http did:web on loopback
    bool operator==(const Identity&) const = default;
  } identity;

  struct Auth {
    std::chrono::seconds token_lifetime{15 * 60};
    // The device flow of docker-credential-atcr login: how long a code
    // waits for approval, and the polling interval it asks for.
    std::chrono::seconds device_code_ttl{10 * 60};
    std::chrono::seconds device_poll_interval{5};
    std::string oauth_scope = "atproto transition:generic";
    std::chrono::seconds web_session_lifetime{30 * 24 * 3600};
    bool operator==(const Auth&) const = default;
  } auth;

  struct Cache {
    std::chrono::seconds identity_ttl{10 * 60};  // handle -> DID -> PDS
    std::chrono::seconds tag_ttl{30};            // tag -> digest (our own writes invalidate)
    std::size_t manifest_entries = 1000;         // manifests by digest (immutable)
    std::chrono::seconds hold_ttl{5 * 60};       // repo -> hold, hold -> public?, crew approvals
    bool operator==(const Cache&) const = default;
  } cache;

  struct Uploads {
    // PATCH bodies are cut into parts of this size on their way to the
    // hold; at least 5 MiB (S3's minimum for all parts but the last).
    std::uint64_t part_size = 16ULL << 20;
    std::chrono::seconds session_ttl{60 * 60};  // idle uploads are dropped
    std::size_t max_sessions_per_user = 32;      // past these: 429 TOOMANYREQUESTS
    std::size_t max_sessions = 1024;
    // Origins ("http://127.0.0.1:7480") a hold's part URLs may name besides
    // the hold's own; anything else must be https on a public address.
    std::vector<std::string> storage_origins;
    bool operator==(const Uploads&) const = default;
  } uploads;

  // The network index's sources (index/ingest.h): firehoses followed and
  // backfilled. None: the index holds only what this AppView pushes.
  struct NetworkIndex {
    std::vector<std::string> relays;  // origins
    std::vector<std::string> pdses;   // origins of PDSes and holds
    bool backfill = true;             // on first start
    bool operator==(const NetworkIndex&) const = default;
  } index;

  struct Install {
    // The docker-credential-atcr binary /install.sh installs: a file on
    // this host (served at /install/docker-credential-atcr) or an http(s)
    // URL. "" : /install says the operator has not set it up.
    std::string helper_binary;
    bool operator==(const Install&) const = default;
  } install;

  struct Metrics {
    bool enabled = true;
    std::string addr;  // "host:port" of a listener of its own; "" = the main one
    bool operator==(const Metrics&) const = default;
  } metrics;

  struct Log {
    log::Level level = log::Level::kInfo;
    bool operator==(const Log&) const = default;
  } log;

  // Where the AppView keeps its state (sessions, device secrets, uploads in
  // progress, keys): "" for data_dir/appview.sqlite (one instance), or a
  // postgres:// URL that several instances behind a load balancer share
  // (docs/scale-out.md).
  struct Database {
    std::string url;
    bool operator==(const Database&) const = default;
  } database;

  // server.service, or (when "") public_url's host[:port].
  std::string service_name() const;

  // Throws atcr::ConfigError naming the key for anything missing or
  // invalid (load() and the Appview's constructor both call it, so a config
  // built in code is held to the same rules as a file).
  void validate() const;

  using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

  // Throws atcr::ConfigError naming the key for anything missing or
  // invalid. `env` defaults to the process environment.
  static AppviewConfig load(const std::optional<std::filesystem::path>& file, EnvLookup env = {},
                   const std::vector<std::string>& env_names = {});

  // Said once at start (logged as warnings by the program): ATCR settings
  // accepted but not used yet, an ATCR spelling overridden by ours, unknown
  // ATCR_* environment variables (`env_names`, the names set; the process's
  // when `env` is unset). ATCR's config keys and environment names are
  // accepted as aliases of ours (see `config init`).
  std::vector<std::string> warnings;
  // The commented TOML written by `atcr-appview config init`.
  static std::string template_toml();
  // Equal settings (tests compare a config built in code with a loaded one).
  bool operator==(const AppviewConfig&) const = default;
};

}  // namespace atcr::appview

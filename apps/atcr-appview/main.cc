// atcr-appview: the OCI registry's command line. Everything it does is
// libatcr's atcr::appview; this file reads arguments, wires signals and
// runs the server.
//
//   atcr-appview config init [FILE]    commented TOML (default appview.toml; - for stdout)
//   atcr-appview serve [--config FILE] run the registry (SIGTERM/SIGINT drain; SIGUSR1 toggles debug logs)
//   atcr-appview backfill [--config FILE] index every repo of the configured index sources again
//   atcr-appview healthcheck [--config FILE] [--url URL]  exit 0 when the local registry answers
//   atcr-appview version
//
// Settings: FILE, then ATCR_* environment variables (see config init and
// atcr/appview/config.h). The only required one is server.default_hold_did
// (ATCR_DEFAULT_HOLD_DID). Exit codes: 0 ok, 1 failure, 2 usage, 78 config.
#include <cstdio>
#include <string>

#include "atcr/appview/appview.h"
#include "atcr/appview/config.h"
#include "atcr/error.h"
#include "atcr/log.h"
#include "atcr/xrpc/server.h"
#include "atcr/version.h"
#include "service_cli.h"

namespace {

using atcr::appview::Appview;
using atcr::appview::AppviewConfig;
using atcr::cli::Args;


const char* const kUsage = R"(usage: atcr-appview <command> [options]

commands:
  serve [--config FILE]    run the registry
  backfill [--config FILE] index every repo of index.relays and index.pdses again
                           (listRepos + verified getRepo; resumable, a progress line
                           per 100 repos; a running registry keeps serving meanwhile)
  config init [FILE]       write a commented config (default: appview.toml; - for stdout)
  healthcheck [--config FILE] [--url URL]
                           exit 0 when the registry on this machine answers
                           /xrpc/_health within 5 s (server.host/port), else 1
  version                  print the version

Settings come from FILE, then ATCR_* environment variables (see config init).
Only server.default_hold_did (ATCR_DEFAULT_HOLD_DID) is required.
)";

int serve(const Args& args) {
  atcr::cli::block_signals();
  AppviewConfig config = AppviewConfig::load(args.config);
  atcr::log::set_level(config.log.level);
  for (const auto& warning : config.warnings) atcr::log::warn("config", "{}", warning);

  Appview appview(config);
  atcr::xrpc::ServerOptions options;
  options.host = config.server.host;
  options.port = config.server.port;
  options.version = ATCR_VERSION;
  options.max_body_bytes = 5 * 1024 * 1024;  // manifests (4 MiB); blobs stream
  atcr::xrpc::Metrics metrics;
  atcr::cli::instrument(options, metrics, config.metrics.enabled);
  atcr::xrpc::XrpcServer server(options);
  appview.register_endpoints(server);
  appview.instrument(metrics);
  auto metrics_server = atcr::cli::metrics_listener(metrics, server, config.metrics.enabled, config.metrics.addr);
  server.start();
  atcr::log::info("appview", "serving {} on {}:{} (default hold {})", config.server.public_url,
                  config.server.host, server.port(), config.server.default_hold_did);
  atcr::cli::serve(server, {.program = "appview", .housekeeping = [&] { appview.housekeeping(); }});
  return 0;
}

int backfill(const Args& args) {
  AppviewConfig config = AppviewConfig::load(args.config);
  atcr::log::set_level(config.log.level);
  if (config.index.relays.empty() && config.index.pdses.empty()) {
    std::fputs("atcr-appview: no index sources: set index.relays or index.pdses\n", stderr);
    return 78;
  }
  Appview appview(config, {.follow_network = false});
  std::uint64_t repos = 0, records = 0;
  appview.backfill([&](const atcr::index::BackfillProgress& p) {
    if (p.done || p.repos_seen % 100 == 0)
      std::fprintf(stderr, "backfill %s: %llu repos listed, %llu indexed, %llu skipped, %llu records%s\n",
                   p.host.c_str(), static_cast<unsigned long long>(p.repos_seen),
                   static_cast<unsigned long long>(p.repos_indexed), static_cast<unsigned long long>(p.repos_skipped),
                   static_cast<unsigned long long>(p.records), p.done ? " (done)" : "");
    if (p.done) {
      repos += p.repos_indexed;
      records += p.records;
    }
  });
  std::printf("backfilled %llu repos, %llu records; %lld repositories indexed\n",
              static_cast<unsigned long long>(repos), static_cast<unsigned long long>(records),
              static_cast<long long>(appview.index().repository_count()));
  return 0;
}

// Reads the config without logging its warnings: a container runtime runs
// this every few seconds.
int healthcheck(const Args& args) {
  AppviewConfig config = AppviewConfig::load(args.config);
  return atcr::cli::healthcheck("atcr-appview", args, config.server.host, config.server.port);
}

int run(int argc, char** argv) {
  std::string command = argc > 1 ? argv[1] : "";
  std::string sub = argc > 2 ? argv[2] : "";
  if (command == "version" || command == "--version") {
    std::printf("atcr-appview %s\n", ATCR_VERSION);
    return 0;
  }
  if (command == "serve") return serve(atcr::cli::parse_args(argc, argv, 2));
  if (command == "healthcheck") return healthcheck(atcr::cli::parse_args(argc, argv, 2));
  if (command == "backfill") return backfill(atcr::cli::parse_args(argc, argv, 2));
  if (command == "config" && sub == "init")
    return atcr::cli::config_init("atcr-appview", atcr::cli::parse_args(argc, argv, 3), "appview.toml",
                                  AppviewConfig::template_toml(), "set server.default_hold_did");
  bool help = command == "help" || command == "--help" || command == "-h";
  std::fputs(kUsage, help ? stdout : stderr);
  return help ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  return atcr::cli::guarded_main("atcr-appview", [&] { return run(argc, argv); });
}

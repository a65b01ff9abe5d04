// atcr-hold: the hold service's command line. Everything it does is
// libatcr's atcr::hold; this file only reads arguments and runs the server
// (the shared serve loop: apps/common/service_cli.h).
//
//   atcr-hold serve [--config FILE]             SIGTERM drains; SIGUSR1 toggles debug logs
//   atcr-hold config init [FILE]                commented TOML (- for stdout)
//   atcr-hold repo export [--config FILE]       the hold's repo as a CAR on stdout
//   atcr-hold repo import [--config FILE] CAR...
//   atcr-hold gc [--dry-run] [--json] [--config FILE]
//   atcr-hold healthcheck [--config FILE] [--url URL]   exit 0 when the local hold answers
//   atcr-hold version
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "atcr/data/json.h"
#include "atcr/error.h"
#include "atcr/hold/config.h"
#include "atcr/hold/hold.h"
#include "atcr/log.h"
#include "atcr/xrpc/server.h"
#include "atcr/version.h"
#include "service_cli.h"

namespace {

using atcr::cli::Args;
using atcr::hold::Hold;
using atcr::hold::HoldConfig;


const char* const kUsage = R"(usage: atcr-hold <command> [options]

commands:
  serve [--config FILE]               run the hold
  config init [FILE]                  write a commented config (default: hold.toml; - for stdout)
  repo export [--config FILE]         write the hold's repo as a CAR to stdout
  repo import [--config FILE] CAR...  upsert every record of the CARs in one commit
  gc [--dry-run] [--json] [--config FILE]
                                      collect garbage now (through the running hold, or
                                      in this process when none runs); --dry-run only
                                      reports what would go and why
  healthcheck [--config FILE] [--url URL]
                                      exit 0 when the hold on this machine answers
                                      /xrpc/_health within 5 s (server.host/port), else 1
  version                             print the version

Settings come from FILE, then HOLD_* environment variables (see config init).
)";

HoldConfig load(const Args& args) {
  HoldConfig config = HoldConfig::load(args.config);
  atcr::log::set_level(config.log.level);
  for (const auto& warning : config.warnings) atcr::log::warn("config", "{}", warning);
  return config;
}

int serve(const Args& args) {
  atcr::cli::block_signals();
  HoldConfig config = load(args);
  Hold hold(config);
  atcr::xrpc::ServerOptions options;
  options.host = config.server.host;
  options.port = config.server.port;
  options.version = ATCR_VERSION;
  options.max_body_bytes = 4 * 1024 * 1024;  // JSON bodies; blob parts stream
  atcr::xrpc::Metrics metrics;
  atcr::cli::instrument(options, metrics, config.metrics.enabled);
  atcr::xrpc::XrpcServer server(options);
  hold.register_endpoints(server);
  hold.instrument(metrics);
  auto metrics_server = atcr::cli::metrics_listener(metrics, server, config.metrics.enabled, config.metrics.addr);
  server.start();
  atcr::log::info("hold", "{} serving {} on {}:{}", hold.did(), config.server.public_url, config.server.host,
                  server.port());
  atcr::cli::serve(server, {.program = "hold",
                            .housekeeping = [&] { hold.housekeeping(); },
                            .shutdown_grace = config.server.shutdown_grace});
  return 0;
}

int repo_export(const Args& args) {
  Hold hold(load(args));
  hold.export_car(std::cout);
  std::cout.flush();
  return std::cout ? 0 : 1;
}

int repo_import(const Args& args) {
  if (args.positional.empty()) {
    std::fputs("atcr-hold repo import: name at least one CAR file\n", stderr);
    return 2;
  }
  HoldConfig config = load(args);
  std::vector<atcr::Bytes> cars;
  for (const auto& path : args.positional) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw atcr::Error("cannot read " + path);
    cars.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  Hold hold(config);
  std::size_t n = hold.import_cars(cars);
  std::fprintf(stderr, "atcr-hold: imported %zu records from %zu file(s)\n", n, cars.size());
  return 0;
}

int gc(const Args& args) {
  bool dry_run = false, json = false;
  for (const auto& a : args.positional) {
    if (a == "--dry-run") {
      dry_run = true;
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "atcr-hold gc: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  atcr::hold::GcReport report = Hold::run_gc(load(args), dry_run);
  std::cout << (json ? atcr::json::serialize(report.to_json()) + "\n" : report.summary());
  std::cout.flush();
  return std::cout ? 0 : 1;
}

// Reads the config without logging its warnings: a container runtime runs
// this every few seconds.
int healthcheck(const Args& args) {
  HoldConfig config = HoldConfig::load(args.config);
  return atcr::cli::healthcheck("atcr-hold", args, config.server.host, config.server.port);
}

int run(int argc, char** argv) {
  std::string command = argc > 1 ? argv[1] : "";
  std::string sub = argc > 2 ? argv[2] : "";
  if (command == "version" || command == "--version") {
    std::printf("atcr-hold %s\n", ATCR_VERSION);
    return 0;
  }
  if (command == "serve") return serve(atcr::cli::parse_args(argc, argv, 2));
  if (command == "config" && sub == "init")
    return atcr::cli::config_init("atcr-hold", atcr::cli::parse_args(argc, argv, 3), "hold.toml",
                                  HoldConfig::template_toml(),
                                  "set server.public_url, registration.owner_did and storage");
  if (command == "healthcheck") return healthcheck(atcr::cli::parse_args(argc, argv, 2));
  if (command == "gc") return gc(atcr::cli::parse_args(argc, argv, 2));
  if (command == "repo" && sub == "export") return repo_export(atcr::cli::parse_args(argc, argv, 3));
  if (command == "repo" && sub == "import") return repo_import(atcr::cli::parse_args(argc, argv, 3));
  bool help = command == "help" || command == "--help" || command == "-h";
  std::fputs(kUsage, help ? stdout : stderr);
  return help ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  return atcr::cli::guarded_main("atcr-hold", [&] { return run(argc, argv); });
}

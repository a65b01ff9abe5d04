// atcr-appview: the OCI registry's command line. Everything it does is
// libatcr's atcr::appview; this file reads arguments, wires signals and
// runs the server.
//
//   atcr-appview config init [FILE]    commented TOML (default appview.toml; - for stdout)
//   atcr-appview serve [--config FILE] run the registry (SIGTERM/SIGINT: drain and stop)
//   atcr-appview version
//
// Settings: FILE, then ATCR_* environment variables (see config init and
// atcr/appview/config.h). The only required one is server.default_hold_did
// (ATCR_DEFAULT_HOLD_DID). Exit codes: 0 ok, 1 failure, 2 usage, 78 config.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "atcr/appview/appview.h"
#include "atcr/appview/config.h"
#include "atcr/error.h"
#include "atcr/log.h"
#include "atcr/xrpc/server.h"

namespace {

using atcr::appview::Appview;
using atcr::appview::AppviewConfig;
using Clock = std::chrono::steady_clock;

constexpr const char* kVersion = ATCR_VERSION;
constexpr auto kHousekeepingEvery = std::chrono::minutes(1);
constexpr auto kShutdownGrace = std::chrono::seconds(30);

const char* const kUsage = R"(usage: atcr-appview <command> [options]

commands:
  serve [--config FILE]    run the registry
  config init [FILE]       write a commented config (default: appview.toml; - for stdout)
  version                  print the version

Settings come from FILE, then ATCR_* environment variables (see config init).
Only server.default_hold_did (ATCR_DEFAULT_HOLD_DID) is required.
)";

struct Args {
  std::vector<std::string> positional;
  std::optional<std::filesystem::path> config;
};

Args parse_args(int argc, char** argv, int first) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" || a == "-c") {
      if (i + 1 >= argc) throw atcr::ConfigError("", "--config needs a file");
      args.config = argv[++i];
    } else if (a.starts_with("--config=")) {
      args.config = a.substr(9);
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

int config_init(const Args& args) {
  std::string path = args.positional.empty() ? "appview.toml" : args.positional[0];
  std::string text = AppviewConfig::template_toml();
  if (path == "-") {
    std::cout << text;
    return 0;
  }
  if (std::filesystem::exists(path)) {
    std::fprintf(stderr, "atcr-appview: %s exists; not overwriting it\n", path.c_str());
    return 1;
  }
  std::ofstream out(path);
  out << text;
  if (!out) {
    std::fprintf(stderr, "atcr-appview: cannot write %s\n", path.c_str());
    return 1;
  }
  std::fprintf(stderr, "atcr-appview: wrote %s; set server.default_hold_did\n", path.c_str());
  return 0;
}

// Blocks the signals main waits for, in every thread started later.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int serve(const Args& args) {
  sigset_t signals = handled_signals();
  AppviewConfig config = AppviewConfig::load(args.config);
  if (auto level = atcr::log::parse_level(config.log.level)) atcr::log::set_level(*level);

  Appview appview(config);
  atcr::xrpc::ServerOptions options;
  options.host = config.server.host;
  options.port = config.server.port;
  options.version = kVersion;
  options.max_body_bytes = 5 * 1024 * 1024;  // manifests (4 MiB); blobs stream
  atcr::xrpc::XrpcServer server(options);
  appview.register_endpoints(server);
  server.start();
  atcr::log::info("appview", "serving {} on {}:{} (default hold {})", config.server.public_url,
                  config.server.host, server.port(), config.server.default_hold_did);

  auto next_housekeeping = Clock::now() + kHousekeepingEvery;
  for (;;) {
    timespec tick{1, 0};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) break;
    if (Clock::now() >= next_housekeeping) {
      try {
        appview.housekeeping();
      } catch (const atcr::Error& e) {
        atcr::log::error("appview", "housekeeping failed: {}", e.what());
      }
      next_housekeeping = Clock::now() + kHousekeepingEvery;
    }
  }

  atcr::log::info("appview", "shutting down: draining in-flight requests");
  auto stopped = std::async(std::launch::async, [&] { server.stop(); });
  if (stopped.wait_for(kShutdownGrace) == std::future_status::timeout) {
    atcr::log::warn("appview", "requests still running after {}s; exiting anyway", kShutdownGrace.count());
    std::fflush(nullptr);
    std::quick_exit(0);
  }
  atcr::log::info("appview", "stopped");
  return 0;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string command = argv[1];
  std::string sub = argc > 2 ? argv[2] : "";
  if (command == "version" || command == "--version") {
    std::printf("atcr-appview %s\n", kVersion);
    return 0;
  }
  if (command == "serve") return serve(parse_args(argc, argv, 2));
  if (command == "config" && sub == "init") return config_init(parse_args(argc, argv, 3));
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fputs(kUsage, stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const atcr::ConfigError& e) {
    std::fprintf(stderr, "atcr-appview: configuration: %s\n", e.what());
    return 78;  // EX_CONFIG
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atcr-appview: %s\n", e.what());
    return 1;
  }
}

// atcr-hold: the hold service's command line. Everything it does is
// libatcr's atcr::hold; this file only reads arguments, wires signals and
// runs the server.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "atcr/error.h"
#include "atcr/hold/config.h"
#include "atcr/hold/hold.h"
#include "atcr/log.h"
#include "atcr/xrpc/server.h"

namespace {

using atcr::hold::Hold;
using atcr::hold::HoldConfig;
using Clock = std::chrono::steady_clock;

constexpr const char* kVersion = ATCR_VERSION;
constexpr auto kDebugWindow = std::chrono::minutes(30);
constexpr auto kHousekeepingEvery = std::chrono::minutes(1);

const char* const kUsage = R"(usage: atcr-hold <command> [options]

commands:
  serve [--config FILE]               run the hold
  config init [FILE]                  write a commented config (default: hold.toml; - for stdout)
  repo export [--config FILE]         write the hold's repo as a CAR to stdout
  repo import [--config FILE] CAR...  upsert every record of the CARs in one commit
  version                             print the version

Settings come from FILE, then HOLD_* environment variables (see config init).
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
  std::string path = args.positional.empty() ? "hold.toml" : args.positional[0];
  std::string text = HoldConfig::template_toml();
  if (path == "-") {
    std::cout << text;
    return 0;
  }
  if (std::filesystem::exists(path)) {
    std::fprintf(stderr, "atcr-hold: %s exists; not overwriting it\n", path.c_str());
    return 1;
  }
  std::ofstream(path) << text;
  std::fprintf(stderr, "atcr-hold: wrote %s; set server.public_url, registration.owner_did and storage\n",
               path.c_str());
  return 0;
}

void apply_log_level(const HoldConfig& config) {
  if (auto level = atcr::log::parse_level(config.log.level)) atcr::log::set_level(*level);
}

// Blocks the signals this process handles, in every thread it will start,
// so sigtimedwait() in main receives them.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int serve(const Args& args) {
  sigset_t signals = handled_signals();
  HoldConfig config = HoldConfig::load(args.config);
  apply_log_level(config);
  const atcr::log::Level configured_level = atcr::log::level();

  Hold hold(config);
  atcr::xrpc::ServerOptions options;
  options.host = config.server.host;
  options.port = config.server.port;
  options.version = kVersion;
  options.max_body_bytes = 4 * 1024 * 1024;  // JSON bodies; blob parts stream
  atcr::xrpc::XrpcServer server(options);
  hold.register_endpoints(server);
  server.start();
  atcr::log::info("hold", "{} serving {} on {}:{}", hold.did(), config.server.public_url, config.server.host,
                  server.port());

  std::optional<Clock::time_point> debug_until;
  auto next_housekeeping = Clock::now() + kHousekeepingEvery;
  for (;;) {
    timespec tick{1, 0};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) break;
    if (sig == SIGUSR1) {
      if (debug_until) {
        debug_until.reset();
        atcr::log::set_level(configured_level);
        atcr::log::info("hold", "SIGUSR1: debug logging off");
      } else {
        debug_until = Clock::now() + kDebugWindow;
        atcr::log::set_level(atcr::log::Level::kDebug);
        atcr::log::info("hold", "SIGUSR1: debug logging on for 30 minutes");
      }
    }
    if (debug_until && Clock::now() >= *debug_until) {
      debug_until.reset();
      atcr::log::set_level(configured_level);
      atcr::log::info("hold", "debug logging window over");
    }
    if (Clock::now() >= next_housekeeping) {
      try {
        hold.housekeeping();
      } catch (const std::exception& e) {
        atcr::log::error("hold", "housekeeping failed: {}", e.what());
      }
      next_housekeeping = Clock::now() + kHousekeepingEvery;
    }
  }

  atcr::log::info("hold", "shutting down: draining in-flight requests (up to {}s)",
                  config.server.shutdown_grace.count());
  auto stopped = std::async(std::launch::async, [&] { server.stop(); });
  if (stopped.wait_for(config.server.shutdown_grace) == std::future_status::timeout) {
    atcr::log::warn("hold", "requests still running after the grace period; exiting anyway");
    std::fflush(nullptr);
    std::quick_exit(0);
  }
  atcr::log::info("hold", "stopped");
  return 0;
}

int repo_export(const Args& args) {
  HoldConfig config = HoldConfig::load(args.config);
  apply_log_level(config);
  Hold hold(config);
  hold.export_car(std::cout);
  std::cout.flush();
  return std::cout ? 0 : 1;
}

int repo_import(const Args& args) {
  if (args.positional.empty()) {
    std::fputs("atcr-hold repo import: name at least one CAR file\n", stderr);
    return 2;
  }
  HoldConfig config = HoldConfig::load(args.config);
  apply_log_level(config);
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

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string command = argv[1];
  std::string sub = argc > 2 ? argv[2] : "";
  if (command == "version" || command == "--version") {
    std::printf("atcr-hold %s\n", kVersion);
    return 0;
  }
  if (command == "serve") return serve(parse_args(argc, argv, 2));
  if (command == "config" && sub == "init") return config_init(parse_args(argc, argv, 3));
  if (command == "repo" && sub == "export") return repo_export(parse_args(argc, argv, 3));
  if (command == "repo" && sub == "import") return repo_import(parse_args(argc, argv, 3));
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
    std::fprintf(stderr, "atcr-hold: configuration: %s\n", e.what());
    return 78;  // EX_CONFIG
  } catch (const std::exception& e) {
    std::fprintf(stderr, "atcr-hold: %s\n", e.what());
    return 1;
  }
}

#include "service_cli.h"

#include <signal.h>
#include <fmt/core.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>

#include "atcr/error.h"
#include "atcr/net/http_client.h"
#include "util/text.h"

namespace atcr::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDebugWindow = std::chrono::minutes(30);

sigset_t handled() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
  return set;
}

void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

void instrument(xrpc::ServerOptions& options, xrpc::Metrics& metrics, bool enabled) {
  if (enabled) options.logger = metrics.instrument(std::move(options.logger));
}

std::unique_ptr<xrpc::XrpcServer> metrics_listener(xrpc::Metrics& metrics, xrpc::XrpcServer& main, bool enabled,
                                                   const std::string& addr) {
  if (!enabled) return nullptr;
  if (addr.empty()) {
    metrics.register_endpoint(main);
    return nullptr;
  }
  std::size_t colon = addr.rfind(':');
  xrpc::ServerOptions options;
  options.host = addr.substr(0, colon);
  if (options.host.size() > 1 && options.host.front() == '[') options.host = options.host.substr(1, options.host.size() - 2);
  try {
    options.port = std::stoi(addr.substr(colon + 1));
  } catch (const std::exception&) {
    throw ConfigError("metrics.addr", "'" + addr + "' has no port number");
  }
  options.logger = nullptr;  // scrapes are not worth a log line each
  auto server = std::make_unique<xrpc::XrpcServer>(options);
  metrics.register_endpoint(*server);
  server->start();
  log::info("metrics", "serving /metrics on {}:{}", options.host, server->port());
  return server;
}

Args parse_args(int argc, char** argv, int first) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" || a == "-c") {
      if (i + 1 >= argc) throw ConfigError("", "--config needs a file");
      args.config = argv[++i];
    } else if (a.starts_with("--config=")) {
      args.config = a.substr(9);
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

int config_init(std::string_view program, const Args& args, const std::string& default_name,
                const std::string& text, std::string_view next_step) {
  std::string path = args.positional.empty() ? default_name : args.positional[0];
  if (path == "-") {
    std::cout << text;
    return std::cout ? 0 : 1;
  }
  if (std::filesystem::exists(path)) {
    std::fprintf(stderr, "%.*s: %s exists; not overwriting it\n", static_cast<int>(program.size()), program.data(),
                 path.c_str());
    return 1;
  }
  std::ofstream out(path);
  out << text;
  if (!out) {
    std::fprintf(stderr, "%.*s: cannot write %s\n", static_cast<int>(program.size()), program.data(), path.c_str());
    return 1;
  }
  std::fprintf(stderr, "%.*s: wrote %s; %.*s\n", static_cast<int>(program.size()), program.data(), path.c_str(),
               static_cast<int>(next_step.size()), next_step.data());
  return 0;
}

void block_signals() {
  sigset_t set = handled();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void serve(xrpc::XrpcServer& server, const ServeOptions& options) {
  raise_open_file_limit();
  sigset_t signals = handled();
  const log::Level configured = log::level();
  // When SIGUSR1's debug logging window ends; kOff while it is off. (Not an
  // optional: gcc 12 warns it "may be used uninitialized", gcc bug 80635.)
  constexpr auto kOff = Clock::time_point::max();
  auto debug_until = kOff;
  auto next_housekeeping = Clock::now() + options.housekeeping_every;

  for (;;) {
    timespec tick{1, 0};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) break;
    if (sig == SIGUSR1) {
      if (debug_until != kOff) {
        debug_until = kOff;
        log::set_level(configured);
        log::info(options.program, "SIGUSR1: debug logging off");
      } else {
        debug_until = Clock::now() + kDebugWindow;
        log::set_level(log::Level::kDebug);
        log::info(options.program, "SIGUSR1: debug logging on for 30 minutes");
      }
    }
    if (Clock::now() >= debug_until) {
      debug_until = kOff;
      log::set_level(configured);
      log::info(options.program, "debug logging window over");
    }
    if (options.housekeeping && Clock::now() >= next_housekeeping) {
      try {
        options.housekeeping();
      } catch (const std::exception& e) {
        log::error(options.program, "housekeeping failed: {}", e.what());
      }
      next_housekeeping = Clock::now() + options.housekeeping_every;
    }
  }

  log::info(options.program, "shutting down: draining in-flight requests (up to {}s)",
            options.shutdown_grace.count());
  auto stopped = std::async(std::launch::async, [&] { server.stop(); });
  if (stopped.wait_for(options.shutdown_grace) == std::future_status::timeout) {
    log::warn(options.program, "requests still running after the grace period; exiting anyway");
    std::fflush(nullptr);
    std::quick_exit(0);
  }
  log::info(options.program, "stopped");
}

namespace {

// Where a client on this machine reaches a server listening on `host`.
std::string local_base_url(const std::string& host, int port) {
  std::string h = host;
  if (h.empty() || h == "0.0.0.0") h = "127.0.0.1";
  if (h == "::" || h == "[::]") h = "::1";
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  return fmt::format("http://{}:{}", h, port);
}

}  // namespace

int healthcheck(std::string_view program, const Args& args, const std::string& host, int port) {
  std::string base = local_base_url(host, port);
  const auto& pos = args.positional;
  for (std::size_t i = 0; i < pos.size(); ++i) {
    if (pos[i] == "--url" && i + 1 < pos.size()) {
      base = pos[++i];
    } else if (pos[i].starts_with("--url=")) {
      base = pos[i].substr(6);
    } else {
      throw ConfigError("", fmt::format("healthcheck: unexpected argument '{}' (--url URL)", pos[i]));
    }
  }
  std::string url = std::string(util::strip_trailing_slashes(base)) + "/xrpc/_health";
  net::HttpOptions options;
  options.timeout = std::chrono::seconds(5);
  options.connect_timeout = std::chrono::seconds(2);
  options.max_response_bytes = 64 * 1024;
  int p = static_cast<int>(program.size());
  try {
    net::HttpResponse response = net::HttpClient(options).get(url);
    std::printf("%.*s: %s: %d %s\n", p, program.data(), url.c_str(), response.status, response.text().c_str());
    return response.ok() ? 0 : 1;
  } catch (const net::HttpError& e) {
    std::printf("%.*s: %s: unhealthy: %s\n", p, program.data(), url.c_str(), e.what());
    return 1;
  }
}

int guarded_main(std::string_view program, const std::function<int()>& body) {
  int p = static_cast<int>(program.size());
  try {
    return body();
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%.*s: configuration: %s\n", p, program.data(), e.what());
    return 78;  // EX_CONFIG
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%.*s: %s\n", p, program.data(), e.what());
    return 1;
  }
}

}  // namespace atcr::cli

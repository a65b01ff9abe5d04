// What the server programs (atcr-hold, atcr-appview) share on the command
// line: argument parsing, `config init`, and the serve loop (signals,
// housekeeping, graceful shutdown). Program logic stays in libatcr.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/log.h"
#include "atcr/xrpc/metrics.h"
#include "atcr/xrpc/server.h"

namespace atcr::cli {

struct Args {
  std::vector<std::string> positional;
  std::optional<std::filesystem::path> config;  // --config FILE / -c FILE / --config=FILE
};

// Arguments from argv[first] on. Throws ConfigError for a --config without a file.
Args parse_args(int argc, char** argv, int first);

// `config init [FILE]`: writes `text` to FILE (default `default_name`; "-"
// for stdout), never over an existing file. Returns the exit code.
int config_init(std::string_view program, const Args& args, const std::string& default_name,
                const std::string& text, std::string_view next_step);

// Blocks SIGTERM, SIGINT and SIGUSR1 in this thread and every thread it
// starts afterwards, so serve() receives them. Call first thing in a
// program's serve command, before any thread exists.
void block_signals();


struct ServeOptions {
  std::string_view program;  // for log lines: "hold", "appview"
  std::function<void()> housekeeping;
  std::chrono::seconds housekeeping_every{60};
  std::chrono::seconds shutdown_grace{30};
};

// Runs until SIGTERM or SIGINT, then stops `server` (in-flight requests
// finish; after shutdown_grace the process exits anyway). SIGUSR1 toggles
// debug logging, which reverts by itself after 30 minutes. Housekeeping
// failures are logged, never fatal. Raises the open-file limit to its hard
// maximum first: every connection holds a few descriptors.
void serve(xrpc::XrpcServer& server, const ServeOptions& options);

// The [metrics] settings: `options.logger` starts counting requests into
// `metrics` when enabled. Call before the main server is made.
void instrument(xrpc::ServerOptions& options, xrpc::Metrics& metrics, bool enabled);
// Serves GET /metrics: on `main` (before it starts) when `addr` is empty,
// else on a listener of its own at addr ("host:port"), started here and
// returned (keep it alive while serving). Nothing when not enabled.
std::unique_ptr<xrpc::XrpcServer> metrics_listener(xrpc::Metrics& metrics, xrpc::XrpcServer& main, bool enabled,
                                                   const std::string& addr);

// `healthcheck [--url URL]`: GET <URL or http://host:port>/xrpc/_health of a
// server running on this machine (host 0.0.0.0 / :: / "" ask loopback), for
// container HEALTHCHECKs and probes that have no curl. Prints one line;
// returns 0 for a 2xx within 5 s, else 1. `args.positional` may hold
// "--url URL" (then host and port are not used).
int healthcheck(std::string_view program, const Args& args, const std::string& host, int port);

// Runs `body`, mapping exceptions to exit codes: ConfigError 78 (EX_CONFIG),
// anything else 1, each with a one-line message.
int guarded_main(std::string_view program, const std::function<int()>& body);

}  // namespace atcr::cli

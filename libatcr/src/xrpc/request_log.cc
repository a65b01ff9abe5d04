// The stderr request logger and the guarded call to a logger.
#include "xrpc/request_log.h"

#include <fmt/core.h>

#include <cstdio>

namespace atcr::xrpc {

Logger stderr_logger() {
  return [](const RequestLog& log) {
    std::string line = fmt::format("{} {} {} {:.3f}ms {}", log.method, log.path, log.status,
                                   static_cast<double>(log.latency.count()) / 1000.0,
                                   log.remote_addr);
    if (!log.internal_error.empty()) line += fmt::format(" error: {}", log.internal_error);
    line += '\n';
    // One fwrite per line, so lines from concurrent requests do not interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

void emit_log(const Logger& logger, const RequestLog& entry) {
  if (!logger) return;
  try {
    logger(entry);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xrpc server: request logger failed: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "xrpc server: request logger failed with an unknown exception\n");
  }
}

}  // namespace atcr::xrpc

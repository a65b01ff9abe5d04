// The stderr request logger and the guarded call to a logger.
#include "xrpc/request_log.h"

#include <fmt/core.h>

#include <cstdio>

#include "atcr/log.h"

namespace atcr::xrpc {

Logger stderr_logger() {
  return [](const RequestLog& entry) {
    // The method and path are the client's (decoded: "%0D%0A" is a line
    // break by now), and an error message may quote them: all escaped.
    std::string line = fmt::format("{} {} {} {:.3f}ms {}", log::escape(entry.method), log::escape(entry.path),
                                   entry.status, static_cast<double>(entry.latency.count()) / 1000.0,
                                   log::escape(entry.remote_addr));
    if (!entry.internal_error.empty()) line += fmt::format(" error: {}", log::escape(entry.internal_error));
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
    std::fprintf(stderr, "xrpc server: request logger failed: %s\n", log::escape(e.what()).c_str());
  } catch (...) {
    std::fprintf(stderr, "xrpc server: request logger failed with an unknown exception\n");
  }
}

}  // namespace atcr::xrpc

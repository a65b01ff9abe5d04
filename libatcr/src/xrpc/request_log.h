// Request logging shared by the HTTP and WebSocket transports.
#pragma once

#include "atcr/xrpc/server.h"

namespace atcr::xrpc {

// Calls the logger, reporting (not propagating) what it throws: the
// transport calls it outside any handler's try, where an escaping exception
// would end the connection's thread.
void emit_log(const Logger& logger, const RequestLog& entry);

}  // namespace atcr::xrpc

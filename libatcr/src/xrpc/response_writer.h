// Sends a ServerResponse on a connection: a buffered body, a streamed one
// (Content-Length or chunked), or a file region read in pieces; for HEAD
// the header alone, with the Content-Length the body would have had.
#pragma once

#include <string>

#include "atcr/xrpc/server.h"
#include "xrpc/sync_stream.h"

namespace atcr::xrpc {

struct ResponseFraming {
  bool head = false;         // a HEAD request: never a body
  unsigned version = 11;     // the request's HTTP version (10 or 11)
  bool keep_alive = true;    // announce keep-alive (else Connection: close)
};

// Writes `res`. A response that cannot be sent as given (a status out of
// range, a file that cannot be opened) is replaced by a 500 before anything
// is written, so `res.status` is what the client saw. Returns false when the
// connection must not carry another request: a write failed or timed out,
// or a body could not be completed after its header was sent (the stream
// callback threw, or wrote other than its declared length). What went
// wrong on our side goes to `internal_error`.
bool write_response(SyncStream& io, const ServerOptions& options, ServerResponse& res,
                    const ResponseFraming& framing, std::string& internal_error);

}  // namespace atcr::xrpc

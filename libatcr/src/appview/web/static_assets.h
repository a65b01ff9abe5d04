// Internal: the web UI's own stylesheet and script, served under a path
// that names their content (/static/<hash>/atcr.css), so browsers keep
// them for a year (Cache-Control: immutable) and a new build's pages ask
// for the new files. No third-party code; the pages work without the
// script (it only adds copy buttons and confirmations).
#pragma once

#include <string>

#include "atcr/xrpc/server.h"

namespace atcr::appview::web {

// "/static/<hash>/atcr.css" and "/static/<hash>/atcr.js".
const std::string& stylesheet_path();
const std::string& script_path();

// GET /static/<hash>/<file>: the asset, or a 404 for another hash or file;
// GET /favicon.ico: a small SVG icon.
void register_static_assets(xrpc::XrpcServer& server);

}  // namespace atcr::appview::web

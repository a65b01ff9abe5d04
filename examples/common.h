// What the examples share (as libgit2's examples/common.h): identity
// settings from the environment, with the names ATCR's services use, so the
// examples run against the public network by default and against a local
// stack (scripts/registry.sh) with:
//   ATCR_IDENTITY_PLC_URL=<PLC_URL>            a PLC directory other than plc.directory
//   ATCR_IDENTITY_HANDLE_RESOLVER=<PDS_URL>    a PDS to resolve handles DNS and HTTPS do not
//   ATCR_IDENTITY_DEVELOPMENT=true             .test handles, did:web on localhost over http
#pragma once

#include <cstdlib>
#include <string>

#include "atcr/identity/directory_resolver.h"

namespace examples {

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

inline atcr::identity::ResolverOptions resolver_options() {
  atcr::identity::ResolverOptions options;
  if (!env("ATCR_IDENTITY_PLC_URL").empty()) options.plc_directory = env("ATCR_IDENTITY_PLC_URL");
  options.handles.resolver_service = env("ATCR_IDENTITY_HANDLE_RESOLVER");
  bool development = env("ATCR_IDENTITY_DEVELOPMENT") == "true";
  options.handles.allow_test_handles = development;
  options.did_web.allow_http_localhost = development;
  return options;
}

}  // namespace examples

// A client for a PLC directory's HTTP API (https://plc.directory by
// default; tests and private deployments point it elsewhere).
//
// Errors:
//   - ParseError: the DID is not a did:plc, or the directory's answer is
//     malformed;
//   - ResolutionError: the directory does not know the DID (404) or it is
//     deactivated (410), on reads;
//   - PlcError: any other error status, with the directory's own message
//     (e.g. a rejected operation on submit);
//   - net::HttpError: no answer at all (connect, timeout, size caps).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/identity/did_document.h"
#include "atcr/identity/plc.h"
#include "atcr/identity/resolver.h"
#include "atcr/net/http_client.h"

namespace atcr::identity {

inline constexpr std::string_view kDefaultPlcDirectory = "https://plc.directory";

// The directory answered with an unexpected error status.
class PlcError : public Error {
 public:
  PlcError(int status, const std::string& message) : Error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

class PlcClient {
 public:
  // `directory` is a base URL ("https://plc.directory"; a trailing slash
  // is dropped). The HTTP client is shared, e.g. with a Resolver.
  explicit PlcClient(std::shared_ptr<const net::HttpClient> http,
                     std::string directory = std::string(kDefaultPlcDirectory));
  // With a client of its own.
  explicit PlcClient(std::string directory = std::string(kDefaultPlcDirectory), net::HttpOptions http = {});

  const std::string& directory() const { return directory_; }

  // POST /<did>: submits a signed operation. For a genesis op, `did` must
  // be the one it derives (VerifyError otherwise, before any request).
  void submit(std::string_view did, const PlcOperation& op) const;

  // GET /<did>: the DID document; its id must be `did` (ResolutionError).
  DidDocument document(std::string_view did) const;
  // GET /<did>/data: the current state.
  PlcState data(std::string_view did) const;
  // GET /<did>/log/last: the latest operation, e.g. as `previous` for
  // PlcOperation::update().
  PlcOperation last_op(std::string_view did) const;
  // GET /<did>/log/audit: every operation, nullified ones included; feed it
  // to verify_plc_audit_log() to check the directory's work.
  std::vector<PlcLogEntry> audit_log(std::string_view did) const;

 private:
  net::HttpResponse get(std::string_view did, std::string_view suffix, std::size_t max_bytes) const;

  std::shared_ptr<const net::HttpClient> http_;
  std::string directory_;
};

}  // namespace atcr::identity

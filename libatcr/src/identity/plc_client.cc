#include "atcr/identity/plc_client.h"

#include <fmt/format.h>

#include "atcr/data/json.h"
#include "http_util.h"
#include "plc_internal.h"
#include "util/text.h"

namespace atcr::identity {

namespace {

// Operations are at most 7500 bytes of CBOR; their JSON and the documents
// and state they render to are a few KiB. The audit log grows with every
// operation, so it gets more room, but a bound all the same.
constexpr std::size_t kMaxSmallAnswer = 64 * 1024;
constexpr std::size_t kMaxAuditLog = 8 * 1024 * 1024;

void check_did(std::string_view did) {
  // The DID goes into the URL path: only the exact did:plc form may.
  if (!is_plc_did(did)) throw ParseError(fmt::format("PLC: \"{}\" is not a did:plc", did.substr(0, 80)));
}

}  // namespace

PlcClient::PlcClient(std::shared_ptr<const net::HttpClient> http, std::string directory)
    : http_(std::move(http)), directory_(util::strip_trailing_slashes(directory)) {}

PlcClient::PlcClient(std::string directory, net::HttpOptions http)
    : http_(std::make_shared<net::HttpClient>(std::move(http))), directory_(util::strip_trailing_slashes(directory)) {}

void PlcClient::submit(std::string_view did, const PlcOperation& op) const {
  check_did(did);
  if (!op.is_signed()) throw VerifyError("PLC: refusing to submit an unsigned operation");
  if (op.is_genesis() && op.did() != did)
    throw VerifyError(fmt::format("PLC: genesis operation creates {}, not {}", op.did(), did));
  net::HttpRequest request;
  request.method = "POST";
  request.url = fmt::format("{}/{}", directory_, did);
  request.headers = {{"content-type", "application/json"}};
  request.body = to_bytes(op.to_json());
  net::HttpResponse response = http_->send(request, detail::bounded(*http_, kMaxSmallAnswer, 0));
  if (!response.ok())
    throw PlcError(response.status, fmt::format("PLC {}: submitting an operation for {} failed: {}", directory_,
                                                did, detail::describe(response)));
}

net::HttpResponse PlcClient::get(std::string_view did, std::string_view suffix, std::size_t max_bytes) const {
  check_did(did);
  net::HttpRequest request;
  request.url = fmt::format("{}/{}{}", directory_, did, suffix);
  net::HttpResponse response = http_->send(request, detail::bounded(*http_, max_bytes, 0));
  if (response.status == 404)
    throw ResolutionError(fmt::format("PLC {}: {} is not registered", directory_, did));
  if (response.status == 410)
    throw ResolutionError(fmt::format("PLC {}: {} is deactivated (tombstoned)", directory_, did));
  if (!response.ok())
    throw PlcError(response.status, fmt::format("PLC {}: GET {}{}: {}", directory_, did, suffix,
                                                detail::describe(response)));
  return response;
}

DidDocument PlcClient::document(std::string_view did) const {
  DidDocument doc = DidDocument::parse(get(did, "", kMaxSmallAnswer).text());
  if (doc.id != did)
    throw ResolutionError(fmt::format("PLC {}: asked for {}, got the document of {}", directory_, did, doc.id));
  return doc;
}

PlcState PlcClient::data(std::string_view did) const {
  Value v = json::parse(get(did, "/data", kMaxSmallAnswer).text());
  try {
    if (v.at("did").as_string() != did)
      throw ResolutionError(fmt::format("PLC {}: asked for {}, got the data of {}", directory_, did,
                                        v.at("did").as_string()));
    return detail::plc_state_from_value(v);
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("PLC {}: data of {}: {}", directory_, did, e.what()));
  }
}

PlcOperation PlcClient::last_op(std::string_view did) const {
  return PlcOperation::from_json(get(did, "/log/last", kMaxSmallAnswer).text());
}

std::vector<PlcLogEntry> PlcClient::audit_log(std::string_view did) const {
  return parse_plc_audit_log(get(did, "/log/audit", kMaxAuditLog).text());
}

}  // namespace atcr::identity

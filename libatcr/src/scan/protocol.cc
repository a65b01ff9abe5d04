#include "atcr/scan/protocol.h"

#include <fmt/core.h>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"

namespace atcr::scan {

namespace {

constexpr std::size_t kMaxBytesField = 100ULL * 1000 * 1000;

[[noreturn]] void bad(std::string_view what) { throw ParseError(fmt::format("scan message: {}", what)); }

std::string string_field(const Value& m, std::string_view key, std::size_t max, bool required) {
  const Value* v = m.find(key);
  if (!v || v->is_null()) {
    if (required) bad(fmt::format("{} is required", key));
    return {};
  }
  if (!v->is_string()) bad(fmt::format("{} must be a string", key));
  if (v->as_string().size() > max) bad(fmt::format("{} is longer than {} bytes", key, max));
  return v->as_string();
}

std::optional<std::int64_t> int_field(const Value& m, std::string_view key, bool required) {
  const Value* v = m.find(key);
  if (!v || v->is_null()) {
    if (required) bad(fmt::format("{} is required", key));
    return std::nullopt;
  }
  if (!v->is_integer()) bad(fmt::format("{} must be an integer", key));
  return v->as_integer();
}

Bytes bytes_field(const Value& m, std::string_view key) {
  const Value* v = m.find(key);
  if (!v || v->is_null()) return {};
  if (!v->is_bytes()) bad(fmt::format("{} must be bytes ({{\"$bytes\": base64}})", key));
  if (v->as_bytes().size() > kMaxBytesField) bad(fmt::format("{} is over 100 MB", key));
  return v->as_bytes();
}

Value parse_message(std::string_view json, std::string_view want) {
  Value m;
  try {
    m = json::parse(json, 16);
  } catch (const ParseError& e) {
    bad(e.what());
  }
  if (!m.is_map()) bad("not a JSON object");
  if (message_type(m) != want) bad(fmt::format("type must be \"{}\"", want));
  return m;
}

}  // namespace

Value::Array layers_value(const std::vector<LayerRef>& layers) {
  Value::Array out;
  for (const LayerRef& l : layers)
    out.emplace_back(
        Value::Map{{"digest", Value(l.digest)}, {"size", Value(l.size)}, {"mediaType", Value(l.media_type)}});
  return out;
}

std::vector<LayerRef> layers_from(const Value* list) {
  std::vector<LayerRef> out;
  if (!list || list->is_null()) return out;
  if (!list->is_array()) bad("layers must be an array");
  if (list->as_array().size() > ScanJob::kMaxLayers) bad(fmt::format("more than {} layers", ScanJob::kMaxLayers));
  for (const Value& l : list->as_array()) {
    if (!l.is_map()) bad("a layer must be an object");
    LayerRef ref{string_field(l, "digest", 128, true), int_field(l, "size", false).value_or(0),
                 string_field(l, "mediaType", 256, false)};
    if (ref.size < 0) bad("a layer's size must not be negative");
    out.push_back(std::move(ref));
  }
  return out;
}

std::string message_type(const Value& message) {
  const Value* t = message.is_map() ? message.find("type") : nullptr;
  if (!t || !t->is_string()) return {};
  const std::string& s = t->as_string();
  return s == "scan_job" || s == "scan_result" ? s : std::string();
}

std::string ScanJob::to_json() const {
  Value::Map m{
      {"type", Value("scan_job")},
      {"seq", Value(seq)},
      {"digest", Value(digest)},
      {"repository", Value(repository)},
      {"userDid", Value(user_did)},
      {"holdDid", Value(hold_did)},
      {"holdEndpoint", Value(hold_endpoint)},
  };
  if (!tag.empty()) m["tag"] = Value(tag);
  if (priority) m["priority"] = Value(*priority);
  if (!manifest_uri.empty()) m["manifest"] = Value(manifest_uri);
  if (!layers.empty()) m["layers"] = Value(layers_value(layers));
  return json::serialize(Value(std::move(m)));
}

ScanJob ScanJob::from_json(std::string_view json) {
  Value m = parse_message(json, "scan_job");
  ScanJob job;
  job.seq = *int_field(m, "seq", true);
  job.digest = string_field(m, "digest", 128, true);
  job.repository = string_field(m, "repository", 256, true);
  job.tag = string_field(m, "tag", 256, false);
  job.user_did = string_field(m, "userDid", 2048, true);
  if (!syntax::is_valid_did(job.user_did)) bad("userDid is not a DID");
  job.hold_did = string_field(m, "holdDid", 2048, true);
  if (!syntax::is_valid_did(job.hold_did)) bad("holdDid is not a DID");
  job.hold_endpoint = string_field(m, "holdEndpoint", 2048, true);
  if (!job.hold_endpoint.starts_with("http://") && !job.hold_endpoint.starts_with("https://"))
    bad("holdEndpoint is not an http(s) URL");
  job.priority = int_field(m, "priority", false);
  job.manifest_uri = string_field(m, "manifest", 8192, false);
  job.layers = layers_from(m.find("layers"));
  return job;
}

std::string ScanResult::to_json() const {
  Value::Map m{
      {"type", Value("scan_result")},
      {"digest", Value(digest)},
      {"summary", Value(Value::Map{{"critical", Value(summary.critical)},
                                   {"high", Value(summary.high)},
                                   {"medium", Value(summary.medium)},
                                   {"low", Value(summary.low)},
                                   {"total", Value(summary.total)}})},
      {"scannerVersion", Value(scanner_version)},
  };
  if (seq) m["seq"] = Value(*seq);
  if (!sbom.empty()) m["sbom"] = Value(sbom);
  if (!vuln_report.empty()) m["vulnReport"] = Value(vuln_report);
  if (!error.empty()) m["error"] = Value(error.substr(0, 1024));
  return json::serialize(Value(std::move(m)));
}

ScanResult ScanResult::from_json(std::string_view json) {
  Value m = parse_message(json, "scan_result");
  ScanResult r;
  r.seq = int_field(m, "seq", false);
  r.digest = string_field(m, "digest", 128, true);
  r.scanner_version = string_field(m, "scannerVersion", 64, false);
  r.error = string_field(m, "error", 1024, false);
  r.sbom = bytes_field(m, "sbom");
  r.vuln_report = bytes_field(m, "vulnReport");
  if (const Value* s = m.find("summary"); s && !s->is_null()) {
    if (!s->is_map()) bad("summary must be an object");
    auto count = [&](std::string_view key) {
      std::int64_t n = int_field(*s, key, false).value_or(0);
      if (n < 0) bad(fmt::format("summary.{} must not be negative", key));
      return n;
    };
    r.summary = {count("critical"), count("high"), count("medium"), count("low"), count("total")};
  } else if (r.error.empty()) {
    bad("summary is required");
  }
  return r;
}

}  // namespace atcr::scan

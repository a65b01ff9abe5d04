// The list endpoints: /v2/<name>/tags/list, /v2/<name>/referrers/<digest>
// and /v2/_catalog.
//
// Tags come from the owner's io.atcr.tag records, sorted lexically and
// paginated with n/last (Link: rel="next" when more remain). Referrers are
// the repository's manifests whose subject is the digest, as an image
// index (artifactType filter: OCI-Filters-Applied). The catalog lists every
// repository in the network index (index/index.h): all the network's, not
// only those pushed through this AppView.
#include <fmt/core.h>

#include "appview/appview_impl.h"
#include "appview/pagination.h"
#include "atcr/data/json.h"
#include "atcr/oci/media_types.h"
#include "atcr/oci/records.h"

namespace atcr::appview {

namespace {

xrpc::ServerResponse paged_json(Value body, const Page& page, std::optional<std::size_t> n, const std::string& path) {
  auto r = xrpc::ServerResponse::text(json::serialize(body), "application/json");
  if (page.more && n && !page.items.empty()) r.header("Link", next_link(path, *n, page.items.back()));
  return r;
}

Value string_array(const std::vector<std::string>& items) {
  Value::Array a;
  for (const std::string& s : items) a.emplace_back(s);
  return Value(std::move(a));
}

// A referrer's descriptor in the referrers index: its media type, digest,
// size (its manifestBlob's: the record keeps the blob ref), artifact type
// and annotations.
Value referrer_descriptor(const oci::ManifestRecord& m, const Value& record, const std::string& artifact_type) {
  std::int64_t size = 0;
  if (const Value* blob = record.find("manifestBlob"); blob && blob->is_map())
    if (const Value* s = blob->find("size"); s && s->is_integer()) size = s->as_integer();
  Value::Map d{
      {"mediaType", Value(m.media_type)},
      {"digest", Value(m.digest.str())},
      {"size", Value(size)},
  };
  if (!artifact_type.empty()) d["artifactType"] = Value(artifact_type);
  if (!m.annotations.empty()) {
    Value::Map a;
    for (const auto& [k, val] : m.annotations) a[k] = Value(val);
    d["annotations"] = Value(std::move(a));
  }
  return Value(std::move(d));
}

}  // namespace

xrpc::ServerResponse Appview::Impl::list_catalog(const xrpc::ServerRequest& req) {
  auto n = parse_page_size(req.param("n"));
  std::size_t want = n.value_or(kMaxPageSize);
  Page page;
  if (want > 0) {
    page.items = network_index->catalog(static_cast<std::int64_t>(want) + 1, req.param("last").value_or(""));
    page.more = page.items.size() > want;
    if (page.more) page.items.resize(want);
  }
  return paged_json(Value(Value::Map{{"repositories", string_array(page.items)}}), page, n, "/v2/_catalog");
}

std::vector<std::string> Appview::Impl::tag_names(const Target& t) {
  // Listing goes through every tag record of the user; clients page
  // through it in several requests, so the names are kept briefly
  // (cache.tag_ttl; our own tag writes and deletes drop them at once).
  std::string key = t.did + "/" + t.name.repository;
  if (auto hit = tag_lists.get(key)) return std::move(*hit);
  std::vector<std::string> names;
  for (const Value& v : list_records(t, oci::kTagCollection)) {
    try {
      oci::TagRecord tag = oci::TagRecord::from_value(v);
      if (tag.repository == t.name.repository && oci::is_valid_tag(tag.tag)) names.push_back(tag.tag);
    } catch (const ParseError&) {
      continue;  // a malformed record is skipped, not fatal to the list
    }
  }
  tag_lists.put(key, names);
  return names;
}

xrpc::ServerResponse Appview::Impl::list_tags(const xrpc::ServerRequest& req) {
  Target t = resolve_name(req.path_params[0]);
  authorize(req, t, "pull");
  auto n = parse_page_size(req.param("n"));
  Page page = paginate(tag_names(t), n, req.param("last").value_or(""));
  Value body(Value::Map{{"name", Value(t.str())}, {"tags", string_array(page.items)}});
  return paged_json(std::move(body), page, n, fmt::format("/v2/{}/tags/list", t.str()));
}

xrpc::ServerResponse Appview::Impl::list_referrers(const xrpc::ServerRequest& req) {
  Target t = resolve_name(req.path_params[0]);
  authorize(req, t, "pull");
  const std::string& subject = req.path_params[1];
  if (!oci::Digest::valid(subject))
    throw registry_error(oci::ErrorCode::kDigestInvalid, fmt::format("'{}' is not a digest", subject.substr(0, 80)));
  auto filter = req.param("artifactType");

  Value::Array manifests;
  for (const Value& v : list_records(t, oci::kManifestCollection)) {
    std::optional<oci::ManifestRecord> record;
    try {
      record = oci::ManifestRecord::from_value(v);
    } catch (const ParseError&) {
      continue;  // a malformed record is skipped, not fatal to the list
    }
    const oci::ManifestRecord& m = *record;
    if (m.repository != t.name.repository || !m.subject || m.subject->digest.str() != subject) continue;
    std::string artifact_type = m.artifact_type.empty() ? m.config_media_type() : m.artifact_type;
    if (filter && artifact_type != *filter) continue;
    manifests.push_back(referrer_descriptor(m, v, artifact_type));
  }
  Value body(Value::Map{
      {"schemaVersion", Value(2)},
      {"mediaType", Value(oci::media_type::kImageIndex)},
      {"manifests", Value(std::move(manifests))},
  });
  auto r = xrpc::ServerResponse::text(json::serialize(body), std::string(oci::media_type::kImageIndex));
  if (filter) r.header("OCI-Filters-Applied", "artifactType");
  return r;
}

void Appview::Impl::register_lists(xrpc::XrpcServer& server) {
  server.route("GET", "/v2/_catalog", guard("", [this](const xrpc::ServerRequest& req) { return list_catalog(req); }));
  server.route("GET", "/v2/(.+)/tags/list",
               guard("pull", [this](const xrpc::ServerRequest& req) { return list_tags(req); }));
  server.route("GET", "/v2/(.+)/referrers/([^/]+)",
               guard("pull", [this](const xrpc::ServerRequest& req) { return list_referrers(req); }));
}

}  // namespace atcr::appview

#include "hold/user_images.h"

#include <fmt/core.h>

#include <deque>
#include <memory>

#include "atcr/oci/manifest.h"
#include "atcr/oci/records.h"
#include "atcr/xrpc/client.h"

namespace atcr::hold {

namespace {

constexpr std::string_view kProfileCollection = "io.atcr.sailor.profile";
// A user with more records than this is read no further: the run keeps
// all of their data rather than decide on a partial view.
constexpr std::size_t kMaxPages = 1000;

// Every record of `collection` in the user's repo: (rkey, value).
std::vector<std::pair<std::string, Value>> list_all(const xrpc::XrpcClient& pds, const std::string& did,
                                                    std::string_view collection) {
  std::vector<std::pair<std::string, Value>> out;
  bool complete = xrpc::for_each_listed_record(pds, did, collection, kMaxPages, [&](const std::string& rkey, const Value& v) {
    out.emplace_back(rkey, v);
    return true;
  });
  if (!complete) throw Error(fmt::format("{} has more than {} pages of {}", did, kMaxPages, collection));
  return out;
}

struct ManifestEntry {
  std::vector<std::string> blobs;     // config, layers, subject
  std::vector<std::string> children;  // an index's manifests
};

// A record whose layers were dropped for size: the manifest blob has them.
ManifestEntry entry_from_blob(const xrpc::XrpcClient& pds, const std::string& did, const oci::ManifestRecord& m) {
  xrpc::XrpcResponse r = pds.query_raw("com.atproto.sync.getBlob", {{"did", did}, {"cid", m.manifest_blob->to_string()}});
  oci::Manifest parsed = oci::Manifest::parse(BytesView(r.body), m.media_type);
  ManifestEntry e;
  for (const auto& d : parsed.referenced_blobs()) e.blobs.push_back(d.digest.str());
  if (parsed.subject) e.blobs.push_back(parsed.subject->digest.str());
  for (const auto& d : parsed.referenced_manifests()) e.children.push_back(d.digest.str());
  return e;
}

ManifestEntry entry_of(const xrpc::XrpcClient& pds, const std::string& did, const oci::ManifestRecord& m) {
  // Neither layers nor manifests: a record summarised for size (or an
  // artifact with none); the manifest blob says which.
  if (m.layers.empty() && m.manifests.empty() && m.manifest_blob) return entry_from_blob(pds, did, m);
  ManifestEntry e;
  if (m.config) e.blobs.push_back(m.config->digest.str());
  for (const auto& d : m.layers) e.blobs.push_back(d.digest.str());
  if (m.subject) e.blobs.push_back(m.subject->digest.str());
  for (const auto& d : m.manifests) e.children.push_back(d.digest.str());
  return e;
}

}  // namespace

UserImages read_user_images(identity::Resolver& resolver, const net::HttpClient& http, const std::string& did) {
  auto endpoint = resolver.resolve_did(did).pds_endpoint();
  if (!endpoint) throw Error(fmt::format("{} names no PDS", did));
  std::shared_ptr<const net::HttpClient> shared(&http, [](const net::HttpClient*) {});
  xrpc::XrpcClient pds(*endpoint, shared);

  UserImages out;
  for (auto& [rkey, value] : list_all(pds, did, kProfileCollection)) {
    if (rkey != "self") continue;
    const Value* flag = value.find("autoRemoveUntagged");
    out.auto_remove_untagged = flag && flag->is_bool() && flag->as_bool();
  }
  // Digest -> what its manifest uses (records of one digest share it).
  std::map<std::string, ManifestEntry> by_digest;
  std::map<std::string, std::set<std::string>> repositories;  // manifest digest -> where
  for (auto& [rkey, value] : list_all(pds, did, oci::kManifestCollection)) {
    oci::ManifestRecord m = oci::ManifestRecord::from_value(value);
    std::string digest = m.digest.str();
    out.manifest_by_rkey[rkey] = digest;
    repositories[digest].insert(m.repository);
    if (!by_digest.contains(digest)) by_digest[digest] = entry_of(pds, did, m);
  }
  std::deque<std::string> keep;
  if (out.auto_remove_untagged) {
    for (auto& [rkey, value] : list_all(pds, did, oci::kTagCollection)) {
      oci::TagRecord tag = oci::TagRecord::from_value(value);
      if (auto d = tag.digest()) keep.push_back(d->str());
      // A tag may name its manifest only by the record's (TID) key.
      if (auto key = oci::manifest_rkey_of(tag.manifest_uri, did)) {
        if (auto it = out.manifest_by_rkey.find(*key); it != out.manifest_by_rkey.end()) keep.push_back(it->second);
      }
    }
  } else {
    for (const auto& [digest, entry] : by_digest) keep.push_back(digest);
  }
  while (!keep.empty()) {
    std::string digest = std::move(keep.front());
    keep.pop_front();
    if (!out.kept_manifests.insert(digest).second) continue;
    auto it = by_digest.find(digest);
    if (it == by_digest.end()) continue;
    out.kept_blobs.insert(it->second.blobs.begin(), it->second.blobs.end());
    for (const std::string& blob : it->second.blobs)
      out.kept_blob_repositories[blob].insert(repositories[digest].begin(), repositories[digest].end());
    keep.insert(keep.end(), it->second.children.begin(), it->second.children.end());
  }
  return out;
}

}  // namespace atcr::hold

// Internal: what a user's own PDS says about their images, for the hold's
// garbage collection (gc.cc). The PDS is the truth: a manifest counts as
// long as its io.atcr.manifest record is there.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "atcr/identity/resolver.h"
#include "atcr/net/http_client.h"

namespace atcr::hold {

struct UserImages {
  // Manifest record key -> the manifest's digest.
  std::map<std::string, std::string> manifest_by_rkey;
  // The digests of the manifests the user keeps: tagged ones and what
  // tagged indexes reference, or all of them without autoRemoveUntagged.
  std::set<std::string> kept_manifests;
  // Every blob digest (config, layers, subject) a kept manifest uses.
  std::set<std::string> kept_blobs;
  // Blob digest -> the repositories of the kept manifests that use it.
  std::map<std::string, std::set<std::string>> kept_blob_repositories;
  bool auto_remove_untagged = false;
};

// Reads the user's io.atcr.manifest, io.atcr.tag and io.atcr.sailor.profile
// records from the PDS their DID document names (com.atproto.repo.listRecords,
// unauthenticated; a record whose layer list was dropped for size is read
// from its manifest blob). Throws atcr::Error when anything cannot be read:
// the caller must then keep all of the user's data.
UserImages read_user_images(identity::Resolver& resolver, const net::HttpClient& http, const std::string& did);

}  // namespace atcr::hold

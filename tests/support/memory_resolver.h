// An identity::Resolver over documents held in memory, for tests whose
// callers are keys the test generated (no PLC directory, no network).
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "atcr/crypto/keys.h"
#include "atcr/identity/resolver.h"

namespace atcr::test {

class MemoryResolver : public identity::Resolver {
 public:
  // Adds (or replaces) a DID whose #atproto key is `key`.
  void add(const std::string& did, const PublicKey& key) {
    identity::DidDocument doc;
    doc.id = did;
    doc.verification_methods.push_back({"atproto", key});
    std::lock_guard lock(mu_);
    docs_[did] = std::move(doc);
  }

  // Adds (or replaces) a whole document (services too: a PDS endpoint).
  void add_document(identity::DidDocument doc) {
    std::lock_guard lock(mu_);
    std::string did = doc.id;
    docs_[did] = std::move(doc);
  }

  identity::DidDocument resolve_did(std::string_view did, bool) override {
    std::lock_guard lock(mu_);
    auto it = docs_.find(std::string(did));
    if (it == docs_.end()) throw identity::ResolutionError("unknown DID " + std::string(did));
    return it->second;
  }
  std::string resolve_handle(std::string_view handle, bool) override {
    throw identity::ResolutionError("MemoryResolver resolves no handles: " + std::string(handle));
  }
  identity::Identity resolve(std::string_view did, bool fresh) override {
    return identity::Identity{std::string(did), std::nullopt, resolve_did(did, fresh)};
  }

 private:
  std::mutex mu_;
  std::map<std::string, identity::DidDocument> docs_;
};

}  // namespace atcr::test

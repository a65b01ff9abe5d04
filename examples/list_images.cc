// list_images: a user's images straight from their own PDS, with no
// AppView in between: their io.atcr.tag records (com.atproto.repo.listRecords,
// page by page) and the io.atcr.manifest records they point at.
//
//   list_images alice.example.com      (a local stack: see common.h)
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "atcr/identity/directory_resolver.h"
#include "atcr/oci/records.h"
#include "atcr/xrpc/client.h"
#include "common.h"

namespace {

using namespace atcr;

// Every record of a collection: uri -> value.
std::map<std::string, Value> list_all(const xrpc::XrpcClient& pds, const std::string& did,
                                      std::string_view collection) {
  std::map<std::string, Value> out;
  std::string cursor;
  do {
    xrpc::Params params;
    params.add("repo", did).add("collection", collection).add("limit", 100);
    if (!cursor.empty()) params.add("cursor", cursor);
    Value page = pds.query("com.atproto.repo.listRecords", params);
    for (const Value& r : page.at("records").as_array()) out.emplace(r.at("uri").as_string(), r.at("value"));
    const Value* next = page.find("cursor");
    cursor = next && next->is_string() && !page.at("records").as_array().empty() ? next->as_string() : "";
  } while (!cursor.empty());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: list_images HANDLE|DID\n";
    return 2;
  }
  try {
    identity::DirectoryResolver resolver(examples::resolver_options());
    identity::Identity id = resolver.resolve(argv[1]);
    auto pds_url = id.document.pds_endpoint();
    if (!pds_url) throw Error(id.did + " has no PDS");
    xrpc::XrpcClient pds(*pds_url);
    std::cout << id.handle.value_or(id.did) << " (" << id.did << ") on " << *pds_url << "\n";

    auto manifests = list_all(pds, id.did, oci::kManifestCollection);
    auto tags = list_all(pds, id.did, oci::kTagCollection);
    for (const auto& [uri, value] : tags) {
      oci::TagRecord tag = oci::TagRecord::from_value(value);
      auto digest = tag.digest();
      std::string media_type;
      if (auto m = manifests.find(tag.manifest_uri); m != manifests.end())
        media_type = oci::ManifestRecord::from_value(m->second).media_type;
      std::cout << "  " << tag.repository << ":" << tag.tag << "  " << (digest ? digest->str() : "(no digest)")
                << (media_type.empty() ? "" : "  " + media_type) << "\n";
    }
    std::cout << tags.size() << " tags, " << manifests.size() << " manifests\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "list_images: " << e.what() << "\n";
    return 1;
  }
}

// inspect_image: an image through a running registry (an ATCR AppView, or
// any OCI registry), the way a puller sees it: the tag's manifest (for an
// index, its platforms and then the first image), the config blob, and its
// platform, creation time, command and layers. Anonymous by default;
// ATCR_USERNAME / ATCR_PASSWORD for private images. Every byte is checked
// against its digest (the library refuses blobs that do not match).
//
//   inspect_image atcr.io/alice.example.com/app:v1
#include <iostream>
#include <string>

#include "atcr/data/json.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/manifest.h"
#include "atcr/oci/registry_login.h"
#include "atcr/verify/verify.h"
#include "common.h"

namespace {

using namespace atcr;

void print_config(const Bytes& config) {
  Value v;
  try {
    v = json::parse(to_string(config));
  } catch (const ParseError&) {
    std::cout << "config:   (not plain JSON: floats or $-forms)\n";
    return;
  }
  auto text = [&](const Value& map, const char* key) -> std::string {
    const Value* f = map.is_map() ? map.find(key) : nullptr;
    return f && f->is_string() ? f->as_string() : "";
  };
  std::cout << "platform: " << text(v, "os") << "/" << text(v, "architecture") << "\n";
  if (!text(v, "created").empty()) std::cout << "created:  " << text(v, "created") << "\n";
  if (const Value* c = v.is_map() ? v.find("config") : nullptr; c && c->is_map()) {
    for (const char* key : {"Entrypoint", "Cmd"})
      if (const Value* cmd = c->find(key); cmd && cmd->is_array()) {
        std::cout << (std::string(key) == "Cmd" ? "cmd:     " : "entry:   ");
        for (const Value& arg : cmd->as_array()) std::cout << " " << (arg.is_string() ? arg.as_string() : "?");
        std::cout << "\n";
      }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: inspect_image REGISTRY/IDENTITY/REPOSITORY[:TAG]\n";
    return 2;
  }
  try {
    auto ref = verify::ImageRef::parse(argv[1]);
    std::string registry = oci::registry_base_url(ref.registry);
    std::string user = examples::env("ATCR_USERNAME"), password = examples::env("ATCR_PASSWORD");
    net::HttpClient http;

    oci::ServedManifest served = oci::fetch_manifest(http, registry, ref.name.str(), ref.tag, user, password);
    oci::Manifest manifest = oci::Manifest::parse(served.body, served.media_type);
    std::cout << "image:    " << ref.str() << "\n"
              << "digest:   " << manifest.digest.str() << " (" << manifest.media_type << ")\n";
    if (manifest.is_index()) {
      for (const oci::Descriptor& m : manifest.manifests)
        std::cout << "manifest: " << m.digest.str() << " "
                  << (m.platform ? m.platform->os + "/" + m.platform->architecture : "(no platform)") << "\n";
      if (manifest.manifests.empty()) return 0;
      served = oci::fetch_manifest(http, registry, ref.name.str(), manifest.manifests.front().digest.str(), user,
                                   password);
      manifest = oci::Manifest::parse(served.body, served.media_type);
      if (manifest.digest != oci::Digest::of(served.body) || manifest.is_index())
        throw VerifyError("the index's first entry is not an image manifest");
      std::cout << "first:    " << manifest.digest.str() << "\n";
    }
    if (!manifest.config) return 0;
    Bytes config = oci::fetch_blob(http, registry, ref.name.str(), manifest.config->digest, 4 * 1024 * 1024, user,
                                   password);
    std::cout << "config:   " << manifest.config->digest.str() << " (" << config.size() << " bytes)\n";
    print_config(config);
    std::int64_t total = 0;
    for (const oci::Descriptor& layer : manifest.layers) total += layer.size;
    std::cout << "layers:   " << manifest.layers.size() << " (" << total << " bytes)\n";
    for (const oci::Descriptor& layer : manifest.layers)
      std::cout << "  " << layer.digest.str() << " " << layer.size << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "inspect_image: " << e.what() << "\n";
    return 1;
  }
}

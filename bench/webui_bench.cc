// webui_bench: the AppView's web pages over a network index of many
// repositories, for bench/webui.sh. Fills <dir>/index.sqlite with
// <users> x 10 repositories (a manifest, a tag and a README page each),
// (kept: a later run with the same <dir> reuses it), then serves the AppView on 127.0.0.1:<port> and prints "ready" until
// stdin closes. Identities resolve in memory (u<N>.bench.test -> a did:plc
// whose PDS is never asked: the pages read the index).
#include <fmt/core.h>

#include <chrono>
#include <iostream>
#include <string>

#include "atcr/appview/appview.h"
#include "atcr/appview/config.h"
#include "atcr/identity/resolver.h"
#include "atcr/index/index.h"
#include "atcr/xrpc/server.h"

using namespace atcr;

namespace {

constexpr int kReposPerUser = 10;

std::string did_of(int user) {
  std::string tail = fmt::format("{:019d}", user);
  for (char& c : tail) c = static_cast<char>('a' + (c - '0'));
  return "did:plc:bench" + tail;
}

std::string handle_of(int user) { return fmt::format("u{}.bench.test", user); }

// u<N>.bench.test <-> did_of(N), with a PDS endpoint nobody listens on.
class BenchResolver : public identity::Resolver {
 public:
  identity::DidDocument resolve_did(std::string_view did, bool) override {
    if (!did.starts_with("did:plc:bench")) throw identity::ResolutionError("unknown DID " + std::string(did));
    identity::DidDocument doc;
    doc.id = std::string(did);
    doc.services.push_back({"atproto_pds", "AtprotoPersonalDataServer", "http://127.0.0.1:9"});
    return doc;
  }
  std::string resolve_handle(std::string_view handle, bool) override {
    int n = 0;
    if (std::sscanf(std::string(handle).c_str(), "u%d.bench.test", &n) != 1)
      throw identity::ResolutionError("unknown handle " + std::string(handle));
    return did_of(n);
  }
  identity::Identity resolve(std::string_view id, bool fresh) override {
    std::string did = id.starts_with("did:") ? std::string(id) : resolve_handle(id, fresh);
    return {did, id.starts_with("did:") ? std::nullopt : std::optional<std::string>(std::string(id)),
            resolve_did(did, fresh)};
  }
};

std::string hex64(int a, int b, char salt) { return fmt::format("{:c}{:031x}{:032x}", salt, a, b).substr(0, 64); }

std::vector<index::RecordChange> user_records(int user) {
  std::vector<index::RecordChange> out;
  std::string did = did_of(user);
  std::string now = "2026-12-01T12:00:00.000Z";
  for (int r = 0; r < kReposPerUser; ++r) {
    std::string repo = fmt::format("app{}", r);
    std::string digest = "sha256:" + hex64(user, r, 'a');
    std::string rkey = fmt::format("3l{:011d}", user * kReposPerUser + r);
    for (char& c : rkey) if (c >= '0' && c <= '9') c = static_cast<char>('a' + (c - '0'));
    Value::Map config{{"mediaType", Value("application/vnd.oci.image.config.v1+json")},
                      {"digest", Value("sha256:" + hex64(user, r, 'b'))}, {"size", Value(1234)}};
    Value::Map layer{{"mediaType", Value("application/vnd.oci.image.layer.v1.tar+gzip")},
                     {"digest", Value("sha256:" + hex64(user, r, 'c'))}, {"size", Value(31'000'000)}};
    Value manifest(Value::Map{{"$type", Value("io.atcr.manifest")}, {"repository", Value(repo)},
                              {"digest", Value(digest)},
                              {"mediaType", Value("application/vnd.oci.image.manifest.v1+json")},
                              {"schemaVersion", Value(2)}, {"createdAt", Value(now)},
                              {"holdDid", Value("did:web:hold.bench.test")}, {"config", Value(config)},
                              {"layers", Value(Value::Array{Value(layer)})}});
    Value tag(Value::Map{{"$type", Value("io.atcr.tag")}, {"repository", Value(repo)}, {"tag", Value("latest")},
                         {"manifest", Value(fmt::format("at://{}/io.atcr.manifest/{}", did, rkey))},
                         {"createdAt", Value(now)}, {"updatedAt", Value(now)}});
    std::string readme = fmt::format("# {}\n\nA small service, number {} of user {}. It serves **HTTP** and "
                                     "speaks `JSON`.\n\n## Usage\n\n```sh\ndocker run u{}.bench.test/{}\n```\n\n",
                                     repo, r, user, user, repo);
    for (int i = 0; i < 8; ++i) readme += "- a feature line with [a link](https://example.com/docs) and some words\n";
    Value page(Value::Map{{"$type", Value("io.atcr.repo.page")}, {"repository", Value(repo)},
                          {"description", Value(readme)}, {"createdAt", Value(now)}, {"updatedAt", Value(now)}});
    out.push_back({did, "io.atcr.manifest", rkey, index::RecordAction::kCreate, manifest, ""});
    out.push_back({did, "io.atcr.tag", repo + ":latest", index::RecordAction::kCreate, tag, ""});
    out.push_back({did, "io.atcr.repo.page", repo, index::RecordAction::kCreate, page, ""});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: webui_bench <dir> <port> <users>\n";
    return 2;
  }
  std::filesystem::path dir(argv[1]);
  int port = std::stoi(argv[2]);
  int users = std::stoi(argv[3]);
  std::filesystem::create_directories(dir);
  auto start = std::chrono::steady_clock::now();
  {
    auto idx = index::Index::open(dir / "index.sqlite");
    // A kept index of the same size is reused (filling it takes a while).
    for (int u = idx->repository_count() >= users * kReposPerUser ? users : 0; u < users; ++u) {
      idx->set_identity(did_of(u), handle_of(u), "http://127.0.0.1:9");
      idx->apply_all(user_records(u));
    }
    std::cerr << fmt::format("indexed {} repositories in {:.1f} s\n", idx->repository_count(),
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  BenchResolver resolver;
  appview::AppviewConfig c;
  c.server.data_dir = dir;
  c.server.port = port;
  c.server.public_url = fmt::format("http://127.0.0.1:{}", port);
  c.server.service = fmt::format("127.0.0.1:{}", port);
  c.server.default_hold_did = "did:web:hold.bench.test";
  appview::Appview app(c, {.resolver = &resolver, .http = nullptr});
  xrpc::ServerOptions o;
  o.port = port;
  xrpc::XrpcServer server(o);
  app.register_endpoints(server);
  server.start();
  std::cout << "ready" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.stop();
  return 0;
}

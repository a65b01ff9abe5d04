// Writes seed inputs for the fuzz targets into <dir>/<target>/: valid CBOR
// values, CIDs, JSON records, and CARs holding real MSTs, so the fuzzers
// start from deep inside the accepted language instead of from nothing.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>

#include "atcr/data/car.h"
#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/oci/digest.h"
#include "atcr/oci/records.h"
#include "atcr/pds/event_stream.h"
#include "atcr/repo/mst.h"
#include "atcr/repo/repository.h"
#include "atcr/repo/storage.h"
#include "fuzz_key.h"
#include "tar_builder.h"

using namespace atcr;

namespace {

void write(const std::filesystem::path& dir, const std::string& name, BytesView data) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus <dir>\n";
    return 2;
  }
  std::filesystem::path root(argv[1]);
  const char* records[] = {
      R"({"$type":"io.atcr.tag","repository":"app","tag":"latest","manifestDigest":"sha256:ab","createdAt":"2026-01-01T00:00:00Z"})",
      R"({"a":[1,-2,{"b":null,"c":true}],"bytes":{"$bytes":"AQID"},"l":{"$link":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}})",
      R"({"blob":{"$type":"blob","ref":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},"mimeType":"image/png","size":123}})",
      R"({"n":9223372036854775807,"m":-9223372036854775808,"s":"unicode: ✓ ü 😀"})",
  };
  int i = 0;
  for (const char* r : records) {
    std::string name = "seed" + std::to_string(i++);
    write(root / "fuzz_json", name, as_bytes(r));
    Value v = json::parse(r);
    Bytes cbor = cbor::encode(v);
    write(root / "fuzz_cbor", name, cbor);
    Cid cid = Cid::compute(Codec::kDagCbor, cbor);
    write(root / "fuzz_cid", name, cid.bytes());
    write(root / "fuzz_cid", name + "-text", as_bytes(cid.to_string()));
  }
  // OCI manifests: the first byte picks fuzz_manifest's Content-Type
  // (0 = none, 1 = OCI manifest, 2 = OCI index, 3 = Docker v2, 4 = Docker list).
  const std::string d1 = "sha256:" + std::string(64, 'a');
  const std::string d2 = "sha256:" + std::string(64, 'b');
  const std::pair<char, std::string> manifests[] = {
      {1, R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
              d1 + R"(","size":7023},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" + d2 +
              R"(","size":32654,"annotations":{"a":"b"}}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
              d1 + R"(","size":1},"artifactType":"application/vnd.example","annotations":{"k":"v"}})"},
      {2, R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
              d1 + R"(","size":7143,"platform":{"architecture":"amd64","os":"windows","os.version":"10.0","os.features":["win32k"],"variant":"v2"}}]})"},
      {3, R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":")" +
              d1 + R"("},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":1,"digest":")" + d2 +
              R"(","urls":["https://example.com/layer"]}]})"},
      {4, R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":7143,"digest":")" +
              d2 + R"(","platform":{"architecture":"arm","os":"linux","variant":"v7"}}]})"},
      {0, R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":")" + d1 + R"(","size":2}})"},
  };
  for (const auto& [type, body] : manifests) {
    std::string input = std::string(1, type) + body;
    write(root / "fuzz_manifest", "seed" + std::to_string(i++), as_bytes(input));
  }
  for (int n : {0, 1, 5, 40, 300}) {
    BlockMap store;
    std::vector<mst::Entry> entries;
    Cid leaf = Cid::compute(Codec::kDagCbor, cbor::encode(Value(Value::Map{{"x", 1}})));
    for (int k = 0; k < n; ++k) entries.push_back({"com.example.record/k" + std::to_string(100000 + k), leaf});
    mst::Tree tree = mst::Tree::build(store, entries);
    BlockMap blocks;
    tree.collect_all_blocks(blocks);
    Bytes car = car::write({tree.root()}, blocks);
    write(root / "fuzz_car", "mst" + std::to_string(n), car);
    write(root / "fuzz_mst", "mst" + std::to_string(n), car);
  }
  // READMEs: GFM with the constructs the renderer filters.
  const char* readmes[] = {
      "# App\n\nRun `app --help`. See [docs](docs/x.md) and https://example.com.\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n",
      "<div onclick=x>raw</div>\n\n<script>alert(1)</script> *x* <img src=x onerror=y>\n",
      "[a](javascript:alert(1)) ![b](data:image/png;base64,AA) [c][r] <https://a.example>\n\n[r]: vbscript:x\n",
      "> quote\n> - [x] task\n>   1. one\n\n```sh\ncode <b>\n```\n\n~~del~~ **strong** _em_\n",
  };
  for (const char* md : readmes) write(root / "fuzz_markdown", "seed" + std::to_string(i++), as_bytes(md));
  // Firehose frames: commits of a repo signed by the fuzz key (creates,
  // updates, deletes, with prevData), and a #sync.
  {
    MemoryRepoStorage storage;
    Repository repo = Repository::create(storage, fuzz::kFirehoseDid, fuzz::firehose_key());
    std::vector<std::vector<RecordWrite>> batches;
    std::vector<RecordWrite> first;
    for (int k = 0; k < 30; ++k)
      first.push_back(RecordWrite::create("io.atcr.tag", "app:t" + std::to_string(k),
                                          Value(Value::Map{{"repository", Value("app")}, {"tag", Value("t")}})));
    batches.push_back(first);
    batches.push_back({RecordWrite::update("io.atcr.tag", "app:t3", Value(Value::Map{{"tag", Value("u")}})),
                       RecordWrite::remove("io.atcr.tag", "app:t7"),
                       RecordWrite::create("io.atcr.manifest", "3kaaaaaaaaaa2", Value(Value::Map{{"digest", Value("x")}}))});
    int n = 0;
    for (const auto& batch : batches) {
      CommitResult c = repo.apply_writes(batch, fuzz::firehose_key());
      Value body = pds::commit_body(fuzz::kFirehoseDid, c, "2026-12-03T07:00:00.000Z");
      body.as_map()["seq"] = Value(n + 1);
      write(root / "fuzz_firehose", "commit" + std::to_string(n++), pds::encode_message_frame("#commit", body));
    }
    Bytes encoded = repo.commit().encode();
    Value sync = pds::sync_body(fuzz::kFirehoseDid, repo.head(), encoded, repo.rev(), "2026-12-03T07:00:00.000Z");
    write(root / "fuzz_firehose", "sync", pds::encode_message_frame("#sync", sync));
  }
  // verify (first byte 0: an image reference; 1: a repo CAR with a tag and
  // the manifest record it names, signed by the fuzz key).
  for (const char* ref : {"atcr.io/alice.example.com/team/app:v1", "127.0.0.1:5000/did:plc:abc/app",
                          "https://r.example/did:web:localhost%3A8080/app:x"})
    write(root / "fuzz_verify", "ref" + std::to_string(i++), as_bytes(std::string(1, '\0') + ref));
  {
    MemoryRepoStorage storage;
    const std::string manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
    const std::string digest = oci::Digest::of(manifest).str();
    const std::string rkey = "3kaaaaaaaaaa2";
    Repository repo = Repository::create(
        storage, fuzz::kFirehoseDid, fuzz::firehose_key(),
        {RecordWrite::create("io.atcr.manifest", rkey,
                             Value(Value::Map{{"repository", Value("app")}, {"digest", Value(digest)},
                                              {"mediaType", Value("application/vnd.oci.image.manifest.v1+json")},
                                              {"schemaVersion", Value(2)}})),
         RecordWrite::create("io.atcr.tag", "app:latest",
                             Value(Value::Map{{"repository", Value("app")}, {"tag", Value("latest")},
                                              {"manifest", Value(oci::manifest_uri(fuzz::kFirehoseDid, rkey))},
                                              {"manifestDigest", Value(digest)}}))});
    Bytes car = repo.export_car();
    car.insert(car.begin(), 1);
    write(root / "fuzz_verify", "repo", car);
  }
  // Layers for fuzz_layer (first byte 0: a layer, 1: an archive, 2: databases).
  const std::string status = "Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1\n\n";
  const std::vector<test::TarEntry> layer = {
      {test::TarEntry::kFile, "var/lib/dpkg/status", status, ""},
      {test::TarEntry::kFile, "lib/apk/db/installed", "P:musl\nV:1.2.4-r2\n\n", ""},
      {test::TarEntry::kFile, "usr/lib/python3/x-1.0.dist-info/METADATA", "Name: x\nVersion: 1.0\n", ""},
      {test::TarEntry::kFile, "app/node_modules/y/package.json", R"({"name":"y","version":"1.0.0"})", ""},
      {test::TarEntry::kFile, "usr/.wh.z", "", ""},
      {test::TarEntry::kSymlink, "etc/link", "", "../../x"},
  };
  for (bool gz : {false, true}) {
    Bytes tar = make_tar(layer, gz);
    for (std::uint8_t mode : {0, 1}) {
      Bytes input{mode};
      input.insert(input.end(), tar.begin(), tar.end());
      write(root / "fuzz_layer", "layer" + std::to_string(mode) + (gz ? "gz" : ""), input);
    }
  }
  write(root / "fuzz_layer", "status", as_bytes("\x02" + status));
  // OSV entries and version lists for fuzz_osv.
  const char* osv[] = {
      R"({"id":"DSA-1","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:3.0.13-1~deb12u1"}]}]}],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]})",
      R"({"id":"GHSA-1","database_specific":{"severity":"HIGH"},"affected":[{"package":{"ecosystem":"npm","name":"lodash"},"ranges":[{"type":"SEMVER","events":[{"introduced":"4.0.0"},{"last_affected":"4.17.20"}]}],"versions":["4.17.20"]}]})",
      "1:1.0~rc1-1\n1.0\n1.0_rc1-r2\n1.0a1.post2.dev3+local.7\n1.0.0-alpha.1+b\n2!1.0",
  };
  int o = 0;
  for (const char* s : osv) write(root / "fuzz_osv", "seed" + std::to_string(o++), as_bytes(s));
  return 0;
}

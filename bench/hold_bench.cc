// hold_bench: the hold's blob path, measured. bench/hold.sh runs it and
// compares the throughput with dd on the same disk.
//
//   hold_bench <work dir> [--quick] [--nginx PORT]
//
// A hold with the filesystem driver runs in a child process (so its peak
// RSS is its own), serving on loopback; callers' keys are resolved from
// memory (no PDS needed). The parent uploads blobs through the hold's
// initiateUpload / getPartUploadUrl / uploadPart (64 MiB parts, streamed)
// / completeUpload and downloads them with getBlob (streamed), then times
// the small calls. One JSON line per benchmark, as bench/run.sh's programs:
//   {"name", "ops", "seconds", "ops_per_sec", "bytes_per_sec"?, "p50_us"?, "p99_us"?}
// and {"name": "hold_peak_rss_kb", "value": KB} (VmHWM of the hold process).
// --quick divides the blob sizes and call counts by 8. --nginx PORT: an
// nginx on loopback serving <work dir>/blobs (the hold's store) as files;
// the 256 MiB blob is then also fetched from it with the same client
// (nginx_download_256MiB), the honest ceiling of loopback HTTP. Each
// 256 MiB download is the median of three, hold and nginx alternating.
#include <fmt/core.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/data/json.h"
#include "atcr/hold/hold.h"
#include "atcr/log.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/digest.h"
#include "atcr/s3/client.h"
#include "atcr/storage/blob_key.h"
#include "atcr/xrpc/server.h"
#include "atcr/xrpc/service_auth.h"
#include "memory_resolver.h"

using namespace atcr;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;
constexpr std::size_t kPart = 64 * kMiB;
const std::string kOwner = "did:plc:benchownerbenchownerbe";

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void print_throughput(const std::string& name, std::size_t ops, double seconds, std::uint64_t bytes) {
  std::cout << fmt::format(R"({{"name":"{}","ops":{},"seconds":{:.4f},"ops_per_sec":{:.3f},"bytes_per_sec":{:.0f}}})",
                           name, ops, seconds, ops / seconds, bytes / seconds)
            << std::endl;
}

void print_latency(const std::string& name, std::vector<double> micros) {
  std::sort(micros.begin(), micros.end());
  double total = 0;
  for (double m : micros) total += m;
  auto pct = [&](double p) { return micros[std::min(micros.size() - 1, static_cast<std::size_t>(p * micros.size()))]; };
  std::cout << fmt::format(R"({{"name":"{}","ops":{},"seconds":{:.4f},"ops_per_sec":{:.1f},"p50_us":{:.1f},"p99_us":{:.1f}}})",
                           name, micros.size(), total / 1e6, micros.size() / (total / 1e6), pct(0.5), pct(0.99))
            << std::endl;
}

// The hold, in the child: serves until the parent closes `control`.
[[noreturn]] void run_hold(const fs::path& dir, int port, const PublicKey& owner_key, int ready, int control) {
  try {
    log::set_level(log::Level::kWarn);
    test::MemoryResolver resolver;
    resolver.add(kOwner, owner_key);
    hold::HoldConfig c;
    c.server.public_url = fmt::format("http://127.0.0.1:{}", port);
    c.server.port = port;
    c.server.data_dir = dir / "data";
    c.registration.owner_did = kOwner;
    c.storage.driver = hold::HoldConfig::Driver::kFilesystem;
    c.storage.path = dir / "blobs";
    c.storage.presign = false;
    hold::Hold hold(c, hold::HoldOptions{&resolver});
    xrpc::ServerOptions so;
    so.port = port;
    so.max_body_bytes = 4 * kMiB;  // as atcr-hold serve
    so.logger = nullptr;
    xrpc::XrpcServer server(so);
    hold.register_endpoints(server);
    server.start();
    char byte = 1;
    if (::write(ready, &byte, 1) != 1) std::_Exit(3);
    while (::read(control, &byte, 1) > 0) {
    }
    server.stop();
    std::_Exit(0);
  } catch (const std::exception& e) {
    std::cerr << "hold_bench: hold failed: " << e.what() << std::endl;
    std::_Exit(2);
  }
}

// The kernel's pick of a free loopback port (no threads before the fork).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw Error("cannot bind a port");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::uint64_t vm_hwm_kb(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6));
  return 0;
}

class Client {
 public:
  Client(std::string url, std::string hold_did, const PrivateKey& key) : url_(std::move(url)) {
    net::HttpOptions o;
    o.timeout = std::chrono::minutes(10);
    http_ = std::make_unique<net::HttpClient>(o);
    for (const char* lxm : {"io.atcr.hold.initiateUpload", "io.atcr.hold.getPartUploadUrl", "io.atcr.hold.uploadPart",
                            "io.atcr.hold.completeUpload", "com.atproto.sync.getBlob"}) {
      xrpc::ServiceAuthParams p;
      p.iss = kOwner;
      p.aud = hold_did;
      p.lxm = lxm;
      p.lifetime = std::chrono::seconds(3000);  // one token per method for the whole run
      tokens_[lxm] = "Bearer " + xrpc::mint_service_auth(p, key);
    }
    blob_query_ = "did=" + net::url_encode(hold_did) + "&cid=";
  }

  Value post(const std::string& nsid, const std::string& body) {
    net::HttpRequest r;
    r.method = "POST";
    r.url = url_ + "/xrpc/" + nsid;
    r.headers = {{"Authorization", tokens_.at(nsid)}, {"Content-Type", "application/json"}};
    r.body = to_bytes(body);
    return check(http_->send(r), nsid);
  }

  // A blob of `parts` parts, each `buffer` with its first 16 bytes made
  // unique by (blob, part).
  void upload(const std::string& digest, std::vector<std::uint8_t>& buffer, std::size_t parts, std::uint64_t tag) {
    std::string id = post("io.atcr.hold.initiateUpload", R"({"digest":")" + digest + "\"}").at("uploadId").as_string();
    std::string list;
    for (std::size_t n = 1; n <= parts; ++n) {
      stamp(buffer, tag, n);
      Value target = post("io.atcr.hold.getPartUploadUrl",
                          fmt::format(R"({{"uploadId":"{}","partNumber":{}}})", id, n));
      net::HttpRequest put;
      put.method = "PUT";
      put.url = target.at("url").as_string();
      put.headers = {{"Authorization", tokens_.at("io.atcr.hold.uploadPart")},
                     {"Content-Type", "application/octet-stream"}};
      std::size_t sent = 0;
      net::BodySource source{buffer.size(), [&](std::span<std::uint8_t> out) {
                               std::size_t k = std::min(out.size(), buffer.size() - sent);
                               std::memcpy(out.data(), buffer.data() + sent, k);
                               sent += k;
                               return k;
                             }};
      Value etag = check(http_->send_streaming(put, source, {}), "uploadPart");
      list += fmt::format(R"({}{{"partNumber":{},"etag":"{}"}})", n > 1 ? "," : "", n, etag.at("etag").as_string());
    }
    post("io.atcr.hold.completeUpload",
         fmt::format(R"({{"uploadId":"{}","digest":"{}","parts":[{}]}})", id, digest, list));
  }

  std::uint64_t download(const std::string& digest) {
    return fetch(url_ + "/xrpc/com.atproto.sync.getBlob?" + blob_query_ + digest, tokens_.at("com.atproto.sync.getBlob"));
  }

  // GET `url` (with `authorization` unless ""), the body counted and dropped.
  std::uint64_t fetch(const std::string& url, const std::string& authorization = {}) {
    net::HttpRequest get;
    get.url = url;
    if (!authorization.empty()) get.headers = {{"Authorization", authorization}};
    std::uint64_t got = 0;
    auto r = http_->send_streaming(get, {}, [&](BytesView chunk) {
      got += chunk.size();
      return true;
    });
    if (r.status != 200) throw Error(fmt::format("GET {}: {} {}", url, r.status, r.text()));
    return got;
  }

  net::HttpResponse head(const std::string& digest) {
    net::HttpRequest r;
    r.method = "HEAD";
    r.url = url_ + "/xrpc/com.atproto.sync.getBlob?" + blob_query_ + digest;
    r.headers = {{"Authorization", tokens_.at("com.atproto.sync.getBlob")}};
    return http_->send(r);
  }

  static void stamp(std::vector<std::uint8_t>& buffer, std::uint64_t tag, std::uint64_t part) {
    std::memcpy(buffer.data(), &tag, 8);
    std::memcpy(buffer.data() + 8, &part, 8);
  }

 private:
  static Value check(const net::HttpResponse& r, std::string_view what) {
    if (r.status != 200) throw Error(fmt::format("{}: {} {}", what, r.status, r.text()));
    return json::parse(r.text());
  }

  std::string url_;
  std::string blob_query_;
  std::unique_ptr<net::HttpClient> http_;
  std::map<std::string, std::string, std::less<>> tokens_;
};

// The digest of a blob as Client::upload sends it.
std::string digest_of(std::vector<std::uint8_t>& buffer, std::size_t parts, std::uint64_t tag) {
  Sha256 h;
  for (std::size_t n = 1; n <= parts; ++n) {
    Client::stamp(buffer, tag, n);
    h.update(BytesView(buffer.data(), buffer.size()));
  }
  auto d = h.finish();
  return oci::Digest::from_sha256(BytesView(d.data(), d.size())).str();
}

// Seconds `download` took; it must bring `expected` bytes.
double timed_download(const std::function<std::uint64_t()>& download, std::uint64_t expected) {
  auto t0 = Clock::now();
  if (download() != expected) throw Error("a download came back short");
  return seconds_since(t0);
}

int run(const fs::path& dir, bool quick, int nginx_port) {
  const std::size_t scale = quick ? 8 : 1;
  PrivateKey owner = PrivateKey::generate(KeyType::kSecp256k1);
  fs::create_directories(dir);
  int port = free_port();

  int ready[2], control[2];
  if (::pipe(ready) != 0 || ::pipe(control) != 0) throw Error("pipe failed");
  pid_t child = ::fork();
  if (child == 0) {
    ::close(ready[0]);
    ::close(control[1]);
    run_hold(dir, port, owner.public_key(), ready[1], control[0]);
  }
  ::close(ready[1]);
  ::close(control[0]);
  char byte;
  if (::read(ready[0], &byte, 1) != 1) throw Error("the hold did not start");
  std::string url = fmt::format("http://127.0.0.1:{}", port);
  std::string hold_did = fmt::format("did:web:127.0.0.1%3A{}", port);
  Client client(url, hold_did, owner);

  // One 256 MiB blob in 64 MiB parts, then 16 blobs of 16 MiB (one part).
  std::vector<std::uint8_t> big(kPart / scale);
  Bytes random = random_bytes(big.size());
  std::copy(random.begin(), random.end(), big.begin());
  const std::size_t big_parts = 4;
  std::string big_digest = digest_of(big, big_parts, 1);
  auto t0 = Clock::now();
  client.upload(big_digest, big, big_parts, 1);
  print_throughput("hold_upload_256MiB", 1, seconds_since(t0), big.size() * big_parts);
  const std::uint64_t big_size = big.size() * big_parts;
  const std::string nginx_url =
      fmt::format("http://127.0.0.1:{}/{}", nginx_port, storage::blob_key(oci::Digest::parse(big_digest)));
  std::vector<double> hold_runs, nginx_runs;
  for (int i = 0; i < 3; ++i) {  // alternating, so both see the same machine
    hold_runs.push_back(timed_download([&] { return client.download(big_digest); }, big_size));
    if (nginx_port) nginx_runs.push_back(timed_download([&] { return client.fetch(nginx_url); }, big_size));
  }
  std::sort(hold_runs.begin(), hold_runs.end());
  std::sort(nginx_runs.begin(), nginx_runs.end());
  print_throughput("hold_download_256MiB", 1, hold_runs[1], big_size);
  if (nginx_port) print_throughput("nginx_download_256MiB", 1, nginx_runs[1], big_size);
  std::uint64_t got = 0;

  std::vector<std::uint8_t> small(16 * kMiB / scale);
  std::copy(random.begin(), random.begin() + static_cast<std::ptrdiff_t>(small.size()), small.begin());
  std::vector<std::string> digests;
  for (std::uint64_t i = 0; i < 16; ++i) digests.push_back(digest_of(small, 1, 100 + i));
  t0 = Clock::now();
  for (std::uint64_t i = 0; i < 16; ++i) client.upload(digests[i], small, 1, 100 + i);
  print_throughput("hold_upload_16x16MiB", 16, seconds_since(t0), small.size() * 16);
  t0 = Clock::now();
  got = 0;
  for (const auto& d : digests) got += client.download(d);
  print_throughput("hold_download_16x16MiB", 16, seconds_since(t0), got);

  // Small calls: service-auth check + SQLite session lookup / a stat.
  const std::size_t calls = 1000 / scale;
  std::string id = client.post("io.atcr.hold.initiateUpload", "{}").at("uploadId").as_string();
  std::vector<double> micros;
  for (std::size_t i = 0; i < calls; ++i) {
    auto t = Clock::now();
    client.post("io.atcr.hold.getPartUploadUrl", fmt::format(R"({{"uploadId":"{}","partNumber":1}})", id));
    micros.push_back(seconds_since(t) * 1e6);
  }
  print_latency("hold_getPartUploadUrl", micros);
  micros.clear();
  for (std::size_t i = 0; i < calls; ++i) {
    auto t = Clock::now();
    if (client.head(big_digest).status != 200) throw Error("HEAD getBlob failed");
    micros.push_back(seconds_since(t) * 1e6);
  }
  print_latency("hold_getBlob_HEAD", micros);

  // Presigning, in-process (what getBlob's 307 and getPartUploadUrl add
  // on S3): pure SigV4 computation, no server needed.
  s3::S3Config sc;
  sc.endpoint = "http://127.0.0.1:7480";
  sc.bucket = "atcr";
  sc.region = "us-east-1";
  sc.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  sc.path_style = true;
  s3::S3Client s3(sc);
  micros.clear();
  for (std::size_t i = 0; i < calls * 10; ++i) {
    auto t = Clock::now();
    std::string u = s3.presign_get("docker/registry/v2/blobs/sha256/ab/" + big_digest.substr(7) + "/data",
                                   std::chrono::minutes(15));
    micros.push_back(seconds_since(t) * 1e6);
    if (u.empty()) throw Error("empty presigned URL");
  }
  print_latency("s3_presign_get", micros);

  std::cout << fmt::format(R"({{"name":"hold_peak_rss_kb","value":{}}})", vm_hwm_kb(child)) << std::endl;
  ::close(control[1]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: hold_bench <work dir> [--quick] [--nginx PORT]\n";
    return 2;
  }
  bool quick = false;
  int nginx_port = 0;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;
    if (a == "--nginx" && i + 1 < argc) nginx_port = std::atoi(argv[++i]);
  }
  try {
    return run(argv[1], quick, nginx_port);
  } catch (const std::exception& e) {
    std::cerr << "hold_bench: " << e.what() << std::endl;
    return 1;
  }
}

// The atcr-hold binary under attack: every method that writes to the hold's
// signed repo (or to its storage), called anonymously, as the wrong user,
// and with hostile strings in every field; the repo's head and record
// counts must not move, and every answer is a 4xx in XRPC error format.
// Also: tokens naming a loopback issuer, log forging through the request
// path, and the lexicon's upload flow alone (no token on the part PUT) on
// both storage drivers.
//
// Callers are accounts on the reference PDS (tokens it mints); the hold is
// the real binary (hold_client.h, hold_process.h). Fixture: pds+s3.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "atcr/encoding/base64.h"
#include "atcr/xrpc/service_auth.h"
#include "hold_client.h"

using namespace atcr;
using namespace atcr::test;

namespace {

constexpr std::string_view kNotify = "io.atcr.hold.notifyManifest";

// What the repo holds: its head revision and how many records of each
// collection a write could add to.
std::string repo_state(HoldClient& c) {
  auto head = c.call("GET", "com.atproto.sync.getLatestCommit", nullptr, "did=" + net::url_encode(c.p.did()));
  REQUIRE_MESSAGE(head.status == 200, head.text());
  std::string state = HoldClient::json(head).at("rev").as_string();
  for (std::string_view collection :
       {"io.atcr.hold.captain", "io.atcr.hold.crew", "io.atcr.hold.layer", "io.atcr.hold.stats"})
    state += " " + std::string(collection) + "=" + std::to_string(c.records(collection).size());
  return state;
}

// A call refused in XRPC format: a 4xx with {"error": ...}, or the 501
// MethodNotImplemented that XRPC answers for a method the hold lacks.
void check_refused(const net::HttpResponse& r, const std::string& what) {
  INFO(what << " -> " << r.status << " " << r.text().substr(0, 300));
  CHECK(r.status >= 400);
  CHECK((r.status < 500 || (r.status == 501 && HoldClient::error(r) == "MethodNotImplemented")));
  CHECK(HoldClient::error(r).find("not an XRPC error") == std::string::npos);
}

// An unsigned-looking service token (a random signature) claiming `iss`.
std::string forged_token(const std::string& iss, const std::string& aud) {
  auto segment = [](const std::string& json) { return base64::encode_url(as_bytes(json)); };
  std::int64_t now = xrpc::unix_now();
  return segment(R"({"alg":"ES256K","typ":"JWT"})") + "." +
         segment(R"({"iss":)" + jstr(iss) + R"(,"aud":)" + jstr(aud) + R"(,"exp":)" + std::to_string(now + 60) +
                 R"(,"iat":)" + std::to_string(now) + "}") +
         "." + base64::encode_url(random_bytes(64));
}

// A listening socket that accepts nothing: a connection to it would hang
// until the client's timeout. Counts connections when asked.
struct SilentListener {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  SilentListener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd); }
  // Connections waiting in the backlog (accepting them without blocking).
  int pending() {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    int n = 0;
    for (;;) {
      int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK);
      if (c < 0) return n;
      ::close(c);
      ++n;
    }
  }
};

std::string notify_body(const std::string& user, const std::string& repository, const std::string& operation,
                        const std::string& extra = "") {
  std::string manifest = R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]})";
  return R"({"repository":)" + jstr(repository) + R"(,"userDid":)" + jstr(user) + R"(,"manifestDigest":)" +
         jstr(oci::Digest::of(std::string_view("m")).str()) + R"(,"manifest":)" + manifest + R"(,"operation":)" +
         jstr(operation) + extra + "}";
}

}  // namespace

TEST_CASE("hold abuse: anonymous, wrong-user and hostile writes change nothing in the hold's repo") {
  TestHold h(HoldProcess::Env{{"HOLD_PUBLIC", "true"}, {"HOLD_ALLOW_ALL_CREW", "false"}});
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& owner = callers().owner;
  const Account& stranger = callers().stranger;
  const std::string before = repo_state(c);

  const std::string crlf = "app\r\nforged: line";
  const std::string nul = std::string("app\0x", 5);
  const std::string huge(100'000, 'a');
  const std::vector<std::string> hostile = {crlf, nul, "<script>alert(1)</script>", huge, "../../etc/passwd",
                                            "App", "", "a//b", "\xff\xfe", "app:tag"};
  const std::vector<std::string> operations = {"push", "pull", "delete", "PULL", crlf};

  // notifyManifest: nobody, or someone naming another user, for every operation.
  for (const std::string& op : operations) {
    check_refused(c.call("POST", kNotify, nullptr, "", notify_body(owner.did, "app", op)), "anonymous " + op);
    check_refused(c.call("POST", kNotify, &stranger, "", notify_body(owner.did, "app", op)), "stranger " + op);
  }
  // ...a pull of a repository never pushed here (would create a stats record).
  check_refused(c.call("POST", kNotify, &stranger, "", notify_body(stranger.did, "app", "pull")), "unpushed pull");
  check_refused(c.call("POST", kNotify, &owner, "", notify_body(owner.did, "never-pushed", "pull")), "owner unpushed");
  // ...the owner with hostile strings in every field.
  for (const std::string& bad : hostile) {
    check_refused(c.call("POST", kNotify, &owner, "", notify_body(owner.did, bad, "pull")), "repository");
    check_refused(c.call("POST", kNotify, &owner, "", notify_body(owner.did, bad, "push")), "repository push");
    check_refused(c.call("POST", kNotify, &owner, "", notify_body(bad, "app", "pull")), "userDid");
    if (bad != "App")  // a valid tag
      check_refused(
          c.call("POST", kNotify, &owner, "", notify_body(owner.did, "app", "push", R"(,"tag":)" + jstr(bad))), "tag");
  }
  for (const std::string& bad_did : std::vector<std::string>{"did:web:localhost%3A1\r\nx", "not-a-did", "did:plc:" + huge})
    check_refused(c.call("POST", kNotify, &owner, "", notify_body(bad_did, "app", "pull")), "bad did");
  check_refused(c.call("POST", kNotify, &owner, "",
                       R"({"repository":"app","userDid":)" + jstr(owner.did) +
                           R"(,"manifestDigest":"sha256:<b>","operation":"pull"})"),
                "digest");
  check_refused(c.call("POST", kNotify, &owner, "", notify_body(owner.did, "app", "push").substr(0, 60)), "truncated");

  // requestCrew: nobody, a stranger (closed crew), hostile roles.
  check_refused(c.call("POST", kRequestCrew, nullptr, "", "{}"), "anonymous requestCrew");
  check_refused(c.call("POST", kRequestCrew, &stranger, "", R"({"role":"member"})"), "stranger requestCrew");
  for (const std::string& bad : hostile)
    check_refused(c.call("POST", kRequestCrew, &stranger, "", R"({"role":)" + jstr(bad) + "}"), "role");
  check_refused(c.call("POST", kRequestCrew, &stranger, "", R"({"permissions":[)" + jstr(crlf) + "]}"), "perms");

  // Uploads: nobody and a stranger, every method; a forged part URL.
  std::string id = c.initiate(owner, "");
  const std::string id_body = R"({"uploadId":)" + jstr(id) + "}";
  const std::string part_body = R"({"uploadId":)" + jstr(id) + R"(,"partNumber":1})";
  const std::string complete_body =
      R"({"uploadId":)" + jstr(id) + R"(,"digest":"sha256:)" + std::string(64, '0') + R"(","parts":[]})";
  for (const Account* who : {static_cast<const Account*>(nullptr), &stranger}) {
    std::string as = who ? "stranger " : "anonymous ";
    check_refused(c.call("POST", kInitiate, who, "", "{}"), as + "initiate");
    check_refused(c.call("POST", kPartUrl, who, "", part_body), as + "getPartUploadUrl");
    check_refused(c.call("PUT", kUploadPart, who, "uploadId=" + net::url_encode(id) + "&partNumber=1", "x"),
                  as + "uploadPart");
    check_refused(c.call("POST", kComplete, who, "", complete_body), as + "complete");
    check_refused(c.call("POST", kAbort, who, "", id_body), as + "abort");
  }
  check_refused(c.call("PUT", kUploadPart, nullptr,
                       "uploadId=" + net::url_encode(id) + "&partNumber=1&did=" + net::url_encode(owner.did) +
                           "&expires=9999999999&sig=AAAA",
                       "x"),
                "forged part URL");

  // deleteBlob: nobody, a stranger, the owner with hostile inputs, and the
  // owner asking for a blob nobody has (404).
  const std::string kDeleteBlob = "io.atcr.hold.deleteBlob";
  auto delete_body = [](const std::string& repository, const std::string& digest) {
    return R"({"repository":)" + jstr(repository) + R"(,"digest":)" + jstr(digest) + "}";
  };
  const std::string absent = "sha256:" + std::string(64, '0');
  check_refused(c.call("POST", kDeleteBlob, nullptr, "", delete_body("app", absent)), "anonymous deleteBlob");
  check_refused(c.call("POST", kDeleteBlob, &stranger, "", delete_body("app", absent)), "stranger deleteBlob");
  for (const std::string& bad : hostile) {
    check_refused(c.call("POST", kDeleteBlob, &owner, "", delete_body(bad, absent)), "deleteBlob repository");
    check_refused(c.call("POST", kDeleteBlob, &owner, "", delete_body("app", bad)), "deleteBlob digest");
  }
  auto unknown = c.call("POST", kDeleteBlob, &owner, "", delete_body("app", absent));
  CHECK(unknown.status == 404);
  CHECK(HoldClient::error(unknown) == "BlobNotFound");

  // The repo methods: record writes for nobody, or a non-admin.
  for (std::string_view nsid : {"com.atproto.repo.createRecord", "com.atproto.repo.putRecord",
                                "com.atproto.repo.deleteRecord", "com.atproto.repo.applyWrites",
                                "io.atcr.hold.updateCrewTier"}) {
    std::string body = R"({"repo":)" + jstr(h.process.did()) +
                       R"(,"collection":"io.atcr.hold.crew","rkey":"x","record":{"member":"did:plc:x"}})";
    check_refused(c.call("POST", nsid, nullptr, "", body), "anonymous " + std::string(nsid));
    check_refused(c.call("POST", nsid, &stranger, "", body), "stranger " + std::string(nsid));
  }

  // The upload the owner started is still the owner's, and nothing moved.
  CHECK(c.call("POST", kAbort, &owner, "", id_body).status == 200);
  CHECK(repo_state(c) == before);
}

TEST_CASE("hold abuse: a token naming a loopback issuer is a quick 401, and the hold fetches nothing") {
  TestHold h(HoldProcess::Env{{"HOLD_PUBLIC", "true"}});
  h.process.start();
  INFO(h.process.diagnostics());
  SilentListener target;
  for (const std::string& iss : std::vector<std::string>{"did:web:localhost%3A" + std::to_string(target.port),
                                 "did:web:127.0.0.1%3A" + std::to_string(target.port), "did:web:169.254.169.254",
                                 "did:web:localhost"}) {
    INFO(iss);
    net::HttpRequest req;
    req.method = "POST";
    req.url = h.process.url() + "/xrpc/" + std::string(kNotify);
    req.headers = {{"Authorization", "Bearer " + forged_token(iss, h.process.did())},
                   {"Content-Type", "application/json"}};
    req.body = to_bytes(notify_body(callers().owner.did, "app", "pull"));
    auto start = std::chrono::steady_clock::now();
    auto r = http().send(req);
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 401);
    CHECK(r.text().find(iss) != std::string::npos);  // says which issuer failed
    CHECK(took < std::chrono::seconds(2));
  }
  CHECK(target.pending() == 0);
}

TEST_CASE("hold abuse: CR, LF and NUL in a request path do not forge log lines") {
  TestHold h(HoldProcess::Env{{"HOLD_LOG_LEVEL", "info"}});
  h.process.start();
  auto r = http().get(h.process.url() + "/xrpc/x%0D%0A2026-01-01T00:00:00Z%20info%20hold:%20FORGED%00end");
  CHECK(r.status >= 400);
  CHECK(r.status < 500);
  // The request is logged after its answer: wait for the line.
  std::string log;
  for (int i = 0; i < 40 && log.find("FORGED") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = read_file(h.process.log_path());
  }
  INFO(log);
  CHECK(log.find("\nFORGED") == std::string::npos);
  CHECK(log.find("\n2026-01-01T00:00:00Z info hold: FORGED") == std::string::npos);
  CHECK(log.find('\0') == std::string::npos);
  CHECK(log.find("x\\r\\n2026-01-01T00:00:00Z info hold: FORGED\\x00end") != std::string::npos);
}

// The lexicon's flow alone: initiate, getPartUploadUrl, PUT to the URL with
// only the returned headers, complete; then the bytes read back.
TEST_CASE("hold abuse: the lexicon's upload flow works without a token on the part PUT, on both drivers") {
  for (bool s3 : {false, true}) {
    INFO((s3 ? "s3 (presigned)" : "filesystem"));
    TestHold h(s3 ? s3_settings(/*presign=*/true) : HoldProcess::Env{});
    h.process.start();
    INFO(h.process.diagnostics());
    HoldClient& c = h.client;
    const Account& owner = callers().owner;
    std::string data = random_text(5 * kMiB + 1000, s3 ? 71 : 72);
    std::string digest = oci::Digest::of(data).str();
    std::string id = c.initiate(owner, digest);
    std::vector<std::string> etags;
    for (std::size_t off = 0; off < data.size(); off += 5 * kMiB) {
      auto r = c.put_part(owner, id, static_cast<int>(etags.size() + 1), data.substr(off, 5 * kMiB), nullptr,
                          /*with_token=*/false);
      REQUIRE_MESSAGE(r.status == 200, r.status << " " << r.text());
      etags.push_back(HoldClient::etag_of(r));
    }
    auto done = c.complete(owner, id, digest, etags);
    REQUIRE_MESSAGE(done.status == 200, done.text());
    CHECK(c.download(&owner, digest) == data);
  }
}

// The atcr-hold binary end to end against the real things: callers are
// accounts on the reference PDS with service-auth tokens it mints
// (com.atproto.server.getServiceAuth, aud = the hold's did:web, lxm = the
// method), resolved by the hold through the reference PLC directory; blobs
// go to Ceph radosgw (presigned or through the hold) or to the filesystem.
//
// Run through the 'pds+s3' fixture (with-pds-s3.sh: PDS_URL, PLC_URL,
// ATCR_NODE, NODE_PATH, S3_*), with ATCR_HOLD_BIN and ATCR_SOURCE_ROOT set
// by tests/integration/meson.build. Each case runs its own hold process on
// its own port and data dir (hold_process.h); a failing check shows the
// hold's stderr.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "required_env.h"
#include "s3_env.h"
#include "atcr/data/json.h"
#include "atcr/identity/did_document.h"
#include "atcr/oci/digest.h"
#include "atcr/repo/repository.h"
#include "atcr/s3/client.h"
#include "hold_client.h"
#include "hold_process.h"
#include "pds_fixture.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::test;
namespace fs = std::filesystem;

namespace {
int run_node(const std::vector<std::string>& args, std::string* out) {
  std::string cmd = "'" + env("ATCR_NODE") + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  int status = ::pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string source_path(const std::string& relative) { return env("ATCR_SOURCE_ROOT") + "/" + relative; }

}  // namespace

// ------------------------------------------------------------ 1. access control
namespace {

enum class Who { kAnonymous, kOwner, kReader, kWriter, kStranger };

const char* name_of(Who w) {
  switch (w) {
    case Who::kAnonymous: return "anonymous";
    case Who::kOwner: return "owner";
    case Who::kReader: return "crew blob:read";
    case Who::kWriter: return "crew blob:write";
    case Who::kStranger: return "non-crew";
  }
  return "?";
}

const Account* account_of(Who w) {
  switch (w) {
    case Who::kAnonymous: return nullptr;
    case Who::kOwner: return &callers().owner;
    case Who::kReader: return &callers().reader;
    case Who::kWriter: return &callers().writer;
    case Who::kStranger: return &callers().stranger;
  }
  return nullptr;
}

// docs: hold/crew.h.
int expected_read(bool is_public, bool all_crew, Who w) {
  if (is_public) return 200;
  if (w == Who::kAnonymous) return 401;
  if (w == Who::kStranger) return all_crew ? 200 : 403;
  return 200;
}

int expected_write(bool all_crew, Who w) {
  if (w == Who::kAnonymous) return 401;
  if (w == Who::kReader || w == Who::kStranger) return all_crew ? 200 : 403;
  return 200;
}

}  // namespace

TEST_CASE("hold binary: the access-control matrix with the reference PDS's tokens") {
  TestHold h(HoldProcess::Env{{"HOLD_PUBLIC", "false"}, {"HOLD_ALLOW_ALL_CREW", "true"}});
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  Callers& who = callers();

  // Crew the real way: self-service while allowAllCrew is on.
  auto join_reader = c.call("POST", kRequestCrew, &who.reader, "", R"({"permissions":["blob:read"]})");
  REQUIRE_MESSAGE(join_reader.status == 200, join_reader.text());
  CHECK(HoldClient::json(join_reader).at("status").as_string() == "created");
  auto join_writer =
      c.call("POST", kRequestCrew, &who.writer, "", R"({"permissions":["blob:read","blob:write"]})");
  REQUIRE_MESSAGE(join_writer.status == 200, join_writer.text());
  Value reader_crew = c.record("io.atcr.hold.crew", who.reader.did);
  CHECK(json::serialize(reader_crew.at("permissions")) == R"(["blob:read"])");
  CHECK(json::serialize(c.record("io.atcr.hold.crew", who.writer.did).at("permissions")) ==
        R"(["blob:read","blob:write"])");
  CHECK(c.call("POST", kRequestCrew, nullptr, "", "{}").status == 401);

  std::string blob = random_text(3000, 1);
  std::string digest = oci::Digest::of(blob).str();
  auto uploaded = c.upload(who.owner, blob, 1024);
  REQUIRE_MESSAGE(uploaded.status == 200, uploaded.text());

  const Who everyone[] = {Who::kAnonymous, Who::kOwner, Who::kReader, Who::kWriter, Who::kStranger};
  for (bool is_public : {false, true}) {
    for (bool all_crew : {true, false}) {
      // Another config on the same data dir: the captain record follows.
      h.process.set("HOLD_PUBLIC", is_public ? "true" : "false");
      h.process.set("HOLD_ALLOW_ALL_CREW", all_crew ? "true" : "false");
      h.process.restart();
      Value captain = c.record("io.atcr.hold.captain", "self");
      CAPTURE(is_public);
      CAPTURE(all_crew);
      CHECK(captain.at("public").as_bool() == is_public);
      CHECK(captain.at("allowAllCrew").as_bool() == all_crew);
      CHECK(captain.at("owner").as_string() == who.owner.did);

      for (Who w : everyone) {
        INFO("public=" << is_public << " allowAllCrew=" << all_crew << " caller=" << name_of(w));
        const Account* as = account_of(w);
        auto get = c.call("GET", kGetBlob, as, c.blob_query(digest));
        CHECK(get.status == expected_read(is_public, all_crew, w));
        if (get.status == 200) CHECK(get.text() == blob);
        if (get.status == 401) CHECK(HoldClient::error(get) == "AuthRequired");
        if (get.status == 403) CHECK(HoldClient::error(get) == "Forbidden");
        auto head = c.call("HEAD", kGetBlob, as, c.blob_query(digest));
        CHECK(head.status == expected_read(is_public, all_crew, w));
        if (head.status == 200) CHECK(head.header("content-length") == std::to_string(blob.size()));
        auto init = c.call("POST", kInitiate, as, "", R"({"digest":)" + jstr(digest) + "}");
        CHECK(init.status == expected_write(all_crew, w));
        if (init.status == 200) CHECK(!HoldClient::json(init).at("uploadId").as_string().empty());
      }
    }
  }

  // Now private, crew only. requestCrew is closed to newcomers.
  auto refused = c.call("POST", kRequestCrew, &who.stranger, "", "{}");
  CHECK(refused.status == 403);
  CHECK(HoldClient::error(refused) == "RegistrationDisabled");
  h.process.set("HOLD_PUBLIC", "false");
  h.process.restart();

  // deleteRecord is the admins': owner 200, crew 403, anonymous 401.
  std::string del = R"({"repo":)" + jstr(h.process.did()) +
                    R"(,"collection":"io.atcr.hold.crew","rkey":)" + jstr(who.reader.did) + "}";
  auto anonymous_delete = c.call("POST", kDeleteRecord, nullptr, "", del);
  CHECK(anonymous_delete.status == 401);
  auto crew_delete = c.call("POST", kDeleteRecord, &who.writer, "", del);
  CHECK(crew_delete.status == 403);
  CHECK(c.call("GET", kGetBlob, &who.reader, c.blob_query(digest)).status == 200);
  auto owner_delete = c.call("POST", kDeleteRecord, &who.owner, "", del);
  CHECK_MESSAGE(owner_delete.status == 200, owner_delete.text());
  // Not even the owner deletes the captain record (the config governs it).
  auto captain_delete = c.call("POST", kDeleteRecord, &who.owner, "",
                               R"({"repo":)" + jstr(h.process.did()) +
                                   R"(,"collection":"io.atcr.hold.captain","rkey":"self"})");
  CHECK(captain_delete.status == 400);
  CHECK(c.record("io.atcr.hold.captain", "self").at("owner").as_string() == who.owner.did);
  // The reader is no longer crew: refused at once, and after a restart.
  auto after = c.call("GET", kGetBlob, &who.reader, c.blob_query(digest));
  CHECK(after.status == 403);
  CHECK(c.call("HEAD", kGetBlob, &who.reader, c.blob_query(digest)).status == 403);
  h.process.restart();
  CHECK(c.call("GET", kGetBlob, &who.reader, c.blob_query(digest)).status == 403);
  CHECK(c.call("GET", kGetBlob, &who.writer, c.blob_query(digest)).status == 200);
  // Tokens for another audience or another method are refused.
  net::HttpRequest wrong;
  wrong.url = h.process.url() + "/xrpc/com.atproto.sync.getBlob?" + c.blob_query(digest);
  wrong.headers.emplace_back("Authorization",
                             "Bearer " + who.token(who.writer, h.process.did(), "io.atcr.hold.getQuota"));
  CHECK(http().send(wrong).status == 401);
  wrong.headers.back().second = "Bearer " + who.token(who.writer, "did:web:elsewhere.test", kGetBlob);
  CHECK(http().send(wrong).status == 401);
}

// ------------------------------------------------------------ 2. presigned S3
TEST_CASE("hold binary on radosgw: presigned part uploads and downloads") {
  TestHold h(s3_settings(/*presign=*/true));
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& owner = callers().owner;

  // Three 5 MiB parts and a small last one, PUT by plain HTTP.
  std::string data = random_text(15 * kMiB + 1234, 2);
  std::string digest = oci::Digest::of(data).str();
  std::string id = c.initiate(owner, digest);
  std::vector<std::string> etags;
  for (int part = 1; part <= 4; ++part) {
    std::string url;
    std::size_t off = static_cast<std::size_t>(part - 1) * 5 * kMiB;
    auto r = c.put_part(owner, id, part, data.substr(off, 5 * kMiB), &url);
    CHECK_MESSAGE(url.starts_with(env("S3_ENDPOINT")), "not a presigned S3 URL: " << url);
    CHECK(url.find("X-Amz-Signature=") != std::string::npos);
    REQUIRE_MESSAGE(r.status == 200, "part " << part << ": " << r.status << " " << r.text());
    etags.push_back(HoldClient::etag_of(r));
    CHECK(!etags.back().empty());
  }
  auto done = c.complete(owner, id, digest, etags);
  REQUIRE_MESSAGE(done.status == 200, done.text());
  CHECK(HoldClient::json(done).at("digest").as_string() == digest);
  CHECK(HoldClient::json(done).at("size").as_integer() == static_cast<std::int64_t>(data.size()));

  // GET: 307 to a presigned URL that plain HTTP downloads byte-identical.
  auto get = c.call("GET", kGetBlob, &owner, c.blob_query(digest));
  REQUIRE_MESSAGE(get.status == 307, get.status << " " << get.text());
  std::string location = get.header("location");
  CHECK(location.starts_with(env("S3_ENDPOINT")));
  auto fetched = http().get(location);
  REQUIRE(fetched.status == 200);
  CHECK(fetched.body.size() == data.size());
  CHECK(fetched.text() == data);
  auto head = c.call("HEAD", kGetBlob, &owner, c.blob_query(digest));
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(data.size()));
  CHECK(head.header("docker-content-digest") == digest);

  // Tampered presigned URLs: radosgw checks the signature.
  std::string bad_sig = location;
  auto sig = bad_sig.find("X-Amz-Signature=");
  REQUIRE(sig != std::string::npos);
  char& ch = bad_sig[sig + std::strlen("X-Amz-Signature=")];
  ch = ch == '0' ? '1' : '0';
  CHECK(http().get(bad_sig).status == 403);
  std::string other = oci::Digest::of(std::string_view("something else")).str();
  std::string bad_key = location;
  auto hex = bad_key.find(digest.substr(7, 64));
  REQUIRE(hex != std::string::npos);
  bad_key.replace(hex, 64, other.substr(7, 64));
  CHECK(http().get(bad_key).status == 403);
}

// ------------------------------------------------------------ 3. failures
TEST_CASE("hold binary on radosgw: failed, aborted, concurrent and foreign uploads") {
  TestHold h(s3_settings(/*presign=*/true));
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& owner = callers().owner;

  SUBCASE("a wrong digest at completeUpload leaves nothing behind") {
    std::string data = random_text(5 * kMiB + 10, 3);
    std::string real = oci::Digest::of(data).str();
    std::string claimed = oci::Digest::of(data + "x").str();
    std::string id = c.initiate(owner, claimed);
    auto p1 = c.put_part(owner, id, 1, data.substr(0, 5 * kMiB));
    auto p2 = c.put_part(owner, id, 2, data.substr(5 * kMiB));
    REQUIRE(p1.status == 200);
    REQUIRE(p2.status == 200);
    auto done = c.complete(owner, id, claimed, {HoldClient::etag_of(p1), HoldClient::etag_of(p2)});
    CHECK(done.status == 400);
    CHECK(HoldClient::error(done) == "InvalidDigest");
    CHECK(c.call("HEAD", kGetBlob, &owner, c.blob_query(claimed)).status == 404);
    CHECK(c.call("HEAD", kGetBlob, &owner, c.blob_query(real)).status == 404);
    auto left = bucket_keys(storage_prefix(h.process) + "_uploads/" + id);
    CHECK_MESSAGE(left.empty(), "left in the bucket: " << left.front());
    // The upload is over: completing it again is an unknown upload.
    CHECK(HoldClient::error(c.complete(owner, id, real, {HoldClient::etag_of(p1)})) == "InvalidUploadId");
  }

  SUBCASE("a truncated part makes the content differ: InvalidDigest") {
    std::string data = random_text(5 * kMiB + 4096, 4);
    std::string digest = oci::Digest::of(data).str();
    std::string id = c.initiate(owner, digest);
    auto p1 = c.put_part(owner, id, 1, data.substr(0, 5 * kMiB));
    auto p2 = c.put_part(owner, id, 2, data.substr(5 * kMiB, 1000));  // 3096 bytes short
    REQUIRE(p1.status == 200);
    REQUIRE(p2.status == 200);
    auto done = c.complete(owner, id, digest, {HoldClient::etag_of(p1), HoldClient::etag_of(p2)});
    CHECK(done.status == 400);
    CHECK(HoldClient::error(done) == "InvalidDigest");
    CHECK(c.call("HEAD", kGetBlob, &owner, c.blob_query(digest)).status == 404);
    CHECK(bucket_keys(storage_prefix(h.process) + "_uploads/" + id).empty());
  }

  SUBCASE("abortUpload, then completeUpload: InvalidUploadId") {
    std::string data = random_text(1000, 5);
    std::string digest = oci::Digest::of(data).str();
    std::string id = c.initiate(owner, digest);
    auto p1 = c.put_part(owner, id, 1, data);
    REQUIRE(p1.status == 200);
    auto aborted = c.call("POST", kAbort, &owner, "", R"({"uploadId":)" + jstr(id) + "}");
    CHECK_MESSAGE(aborted.status == 200, aborted.text());
    auto done = c.complete(owner, id, digest, {HoldClient::etag_of(p1)});
    CHECK(done.status == 400);
    CHECK(HoldClient::error(done) == "InvalidUploadId");
    CHECK(c.call("HEAD", kGetBlob, &owner, c.blob_query(digest)).status == 404);
  }

  SUBCASE("four concurrent uploads of the same blob all succeed") {
    std::string data = random_text(6 * kMiB, 6);
    std::string digest = oci::Digest::of(data).str();
    std::vector<int> statuses(4, 0);
    std::vector<std::string> bodies(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        try {
          auto r = c.upload(owner, data);
          statuses[t] = r.status;
          bodies[t] = r.text();
        } catch (const std::exception& e) {
          bodies[t] = e.what();
        } catch (...) {
          bodies[t] = "a failed REQUIRE (above)";  // doctest's exception
        }
      });
    }
    for (auto& t : threads) t.join();
    for (int t = 0; t < 4; ++t) CHECK_MESSAGE(statuses[t] == 200, "upload " << t << ": " << bodies[t]);
    CHECK(c.download(&owner, digest) == data);
  }

  SUBCASE("an upload id is only good for the DID that started it") {
    // Let anyone write, so the writer gets past access control and only
    // the id's binding to its DID can stop them.
    h.process.set("HOLD_ALLOW_ALL_CREW", "true");
    h.process.restart();
    const Account& writer = callers().writer;
    std::string data = random_text(2000, 7);
    std::string digest = oci::Digest::of(data).str();
    std::string id = c.initiate(owner, digest);
    auto p1 = c.put_part(owner, id, 1, data);
    REQUIRE(p1.status == 200);
    auto part_url = c.call("POST", kPartUrl, &writer, "", R"({"uploadId":)" + jstr(id) + R"(,"partNumber":1})");
    CHECK(part_url.status == 400);
    CHECK(HoldClient::error(part_url) == "InvalidUploadId");
    auto stolen = c.complete(writer, id, digest, {HoldClient::etag_of(p1)});
    CHECK(stolen.status == 400);
    CHECK(HoldClient::error(stolen) == "InvalidUploadId");
    auto abort = c.call("POST", kAbort, &writer, "", R"({"uploadId":)" + jstr(id) + "}");
    CHECK(HoldClient::error(abort) == "InvalidUploadId");
    // Still the owner's to finish.
    auto done = c.complete(owner, id, digest, {HoldClient::etag_of(p1)});
    CHECK_MESSAGE(done.status == 200, done.text());
  }
}

// Two holds on one bucket, as scripts/registry.sh and e2e set up: each keeps
// its tree under its own prefix by default, so one's housekeeping and
// garbage collection (here with a 1 s upload TTL and no grace period) never
// touch the other's upload in progress or its blobs.
TEST_CASE("hold binary on radosgw: two holds sharing a bucket leave each other's uploads and blobs alone") {
  HoldProcess::Env eager = s3_settings(/*presign=*/true);
  eager["HOLD_UPLOADS_SESSION_TTL"] = "1s";
  eager["HOLD_GC_GRACE_PERIOD"] = "0s";
  TestHold pushing(s3_settings(/*presign=*/true)), collecting(eager);
  pushing.process.start();
  collecting.process.start();
  INFO(pushing.process.diagnostics());
  INFO(collecting.process.diagnostics());
  const std::string mine = storage_prefix(pushing.process), theirs = storage_prefix(collecting.process);
  CHECK(mine == "did-web-localhost-3A" + std::to_string(pushing.process.port()) + "/");
  CHECK(theirs == "did-web-localhost-3A" + std::to_string(collecting.process.port()) + "/");
  const Account& owner = callers().owner;
  HoldClient& c = pushing.client;

  std::string kept = random_text(4096, 21);
  REQUIRE(c.upload(owner, kept).status == 200);
  CHECK_FALSE(bucket_keys(mine + "docker/registry/v2/blobs/").empty());

  // A long push on one hold: its multipart upload open past the other's TTL.
  std::string data = random_text(5 * kMiB + 777, 22);
  std::string digest = oci::Digest::of(data).str();
  std::string id = c.initiate(owner, digest);
  auto p1 = c.put_part(owner, id, 1, data.substr(0, 5 * kMiB));
  REQUIRE(p1.status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  for (int run = 0; run < 2; ++run)  // mark, then sweep
    CHECK(collecting.process.run({"gc"}, collecting.dir.path() / "gc.out") == 0);
  CHECK(collecting.client.call("GET", "_health", nullptr).status == 200);

  auto p2 = c.put_part(owner, id, 2, data.substr(5 * kMiB));
  REQUIRE(p2.status == 200);
  auto done = c.complete(owner, id, digest, {HoldClient::etag_of(p1), HoldClient::etag_of(p2)});
  CHECK_MESSAGE(done.status == 200, done.text());
  CHECK(c.download(&owner, digest) == data);
  CHECK(c.download(&owner, oci::Digest::of(kept).str()) == kept);
  CHECK(bucket_keys(theirs).empty());  // and the collecting hold wrote nothing outside its prefix
}

// A hold whose data dir predates per-hold prefixes keeps its keys at the
// bucket root, where its blobs are.
TEST_CASE("hold binary on radosgw: a hold that ran before per-hold prefixes keeps the bucket root") {
  TestHold h(s3_settings(/*presign=*/false));
  h.process.start();
  INFO(h.process.diagnostics());
  const Account& owner = callers().owner;
  std::string data = random_text(3000, 23);
  std::string digest = oci::Digest::of(data).str();
  // Its blob at the old place, the root layout an earlier hold wrote.
  h.process.stop();
  fs::remove(h.process.data_dir() / "storage-prefix");
  std::string hex = digest.substr(7);
  bucket().put_object("docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data", to_bytes(data));
  h.process.start();
  CHECK(storage_prefix(h.process).empty());
  CHECK(h.client.download(&owner, digest) == data);
  CHECK(read_file(h.process.log_path()).find("bucket root") != std::string::npos);
}

// deleteBlob and images pushed before config blobs got layer records: the
// hold has no record naming such a config, only the user's manifest record
// in their PDS does. The bytes stay while a kept image of another user, or
// of the same user in another repository, uses them.
TEST_CASE("hold binary: deleteBlob keeps a config blob only a kept manifest in a PDS names") {
  TestHold h({{"HOLD_ALLOW_ALL_CREW", "true"}, {"HOLD_IDENTITY_DEVELOPMENT", "true"}});
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& owner = callers().owner;
  const Account& writer = callers().writer;
  std::string config = random_text(321, 31), layer = random_text(2000, 32), stray = random_text(99, 33);
  std::string dc = oci::Digest::of(config).str(), dl = oci::Digest::of(layer).str(), ds = oci::Digest::of(stray).str();
  REQUIRE(c.upload(owner, config).status == 200);
  REQUIRE(c.upload(owner, layer).status == 200);
  REQUIRE(c.upload(writer, stray).status == 200);
  // The owner's old image: a manifest record in their PDS, no layer records.
  const std::string repository = "old-image-" + std::to_string(h.process.port());
  Value record = json::parse(R"({"$type":"io.atcr.manifest","repository":")" + repository +
                             R"(","digest":")" + oci::Digest::of(repository).str() +
                             R"(","mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2,)"
                             R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                             dc + R"(","size":321},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" +
                             dl + R"(","size":2000}],"holdDid":")" + h.process.did() +
                             R"(","createdAt":"2025-01-01T00:00:00.000Z"})");
  callers().pds.procedure("com.atproto.repo.createRecord",
                          Value(Value::Map{{"repo", Value(owner.did)},
                                           {"collection", Value("io.atcr.manifest")},
                                           {"record", record}}),
                          {}, {.bearer = owner.access_jwt});
  auto del = [&](const Account& as, const std::string& digest, const std::string& repo) {
    return c.call("POST", "io.atcr.hold.deleteBlob", &as, "", R"({"digest":")" + digest + R"(","repository":")" + repo + "\"}");
  };
  auto present = [&](const std::string& digest) {
    return c.call("HEAD", kGetBlob, &owner, c.blob_query(digest)).status == 200;
  };
  // Another user, and the owner from another repository: 404, bytes kept.
  CHECK(del(writer, dc, "mine").status == 404);
  CHECK(del(owner, dc, "elsewhere").status == 404);
  CHECK(present(dc));
  CHECK(c.download(&owner, dc) == config);
  // A blob no image uses still goes at once.
  auto gone = del(writer, ds, "mine");
  CHECK_MESSAGE(gone.status == 200, gone.text());
  CHECK_FALSE(present(ds));
  // From the image's own repository (the spec's blob DELETE): it goes.
  auto own = del(owner, dl, repository);
  CHECK_MESSAGE(own.status == 200, own.text());
  CHECK(HoldClient::json(own).at("blobDeleted").as_bool());
  CHECK_FALSE(present(dl));
}

// ------------------------------------------------------------ 3b. kill -9
TEST_CASE("hold binary: SIGKILL during a proxied part upload loses nothing it should keep") {
  // Presigned URLs off: the part's bytes go through the hold to radosgw.
  TestHold h(s3_settings(/*presign=*/false));
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& owner = callers().owner;

  std::string data = random_text(8 * kMiB, 8);
  std::string digest = oci::Digest::of(data).str();
  std::string id = c.initiate(owner, digest);
  auto target = c.call("POST", kPartUrl, &owner, "", R"({"uploadId":)" + jstr(id) + R"(,"partNumber":1})");
  REQUIRE(target.status == 200);
  std::string url = HoldClient::json(target).at("url").as_string();
  REQUIRE_MESSAGE(url.starts_with(h.process.public_url()), "not proxied: " << url);

  // A slow PUT: 64 KiB every 20 ms after the first MiB.
  std::atomic<std::size_t> sent{0};
  std::atomic<bool> finished{false};
  std::string outcome;
  std::thread putter([&] {
    net::HttpRequest put;
    put.method = "PUT";
    put.url = url;
    put.headers.emplace_back("Authorization", "Bearer " + callers().token(owner, h.process.did(), kUploadPart));
    put.headers.emplace_back("Content-Type", "application/octet-stream");
    net::BodySource source{data.size(), [&](std::span<std::uint8_t> buf) {
                             std::size_t n = std::min<std::size_t>({buf.size(), 64 * 1024, data.size() - sent});
                             if (sent > kMiB) std::this_thread::sleep_for(std::chrono::milliseconds(20));
                             std::memcpy(buf.data(), data.data() + sent, n);
                             sent += n;
                             return n;
                           }};
    try {
      auto r = http().send_streaming(put, source, {});
      outcome = "status " + std::to_string(r.status) + " " + r.text();
    } catch (const std::exception& e) {
      outcome = std::string("error: ") + e.what();
    }
    finished = true;
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (sent < 3 * kMiB && !finished && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bool ended_early = finished;
  int status = h.process.stop(SIGKILL);
  putter.join();
  REQUIRE_MESSAGE(!ended_early, "the PUT ended before the kill: " << outcome);
  CHECK(WIFSIGNALED(status));
  CHECK_MESSAGE(!outcome.starts_with("status 200"), outcome);
  MESSAGE("SIGKILL after " << sent.load() << " of " << data.size() << " bytes; the client saw: " << outcome);

  h.process.start();
  // Nothing is visible; the session survives: send the part again, complete.
  CHECK(c.call("HEAD", kGetBlob, &owner, c.blob_query(digest)).status == 404);
  auto again = c.put_part(owner, id, 1, data);
  REQUIRE_MESSAGE(again.status == 200, again.status << " " << again.text());
  auto done = c.complete(owner, id, digest, {HoldClient::etag_of(again)});
  REQUIRE_MESSAGE(done.status == 200, done.text());
  CHECK(c.download(&owner, digest) == data);
  // The repo came through the kill intact.
  VerifiedRepo repo = c.verified_repo();
  CHECK(repo.records.size() >= 2);  // captain + the owner's crew record
}

TEST_CASE("hold binary: a full disk is a 507 without paths, keeps nothing partial, and the hold goes on") {
  // The blob root is a 2 MiB tmpfs that only the hold sees: it runs in
  // user and mount namespaces of its own (unshare -rm), which mount it.
  TestHold h({});
  fs::path root = h.dir.path() / "full-blobs";
  fs::create_directories(root);
  h.process.set("HOLD_STORAGE_PATH", root.string());
  h.process.run_under({"/usr/bin/unshare", "-rm", "/bin/sh", "-c",
                       "mount -t tmpfs -o size=2m tmpfs \"$0\" && exec \"$@\"", root.string()});
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& owner = callers().owner;
  // The hold's own view of its blob root (its mount namespace).
  fs::path seen = fs::path("/proc") / std::to_string(h.process.pid()) / "root" / root.relative_path();
  REQUIRE_MESSAGE(fs::exists(seen), "cannot see the hold's tmpfs at " << seen);

  std::string big = random_text(3 * kMiB, 3);
  std::string digest = oci::Digest::of(big).str();
  std::string id = c.initiate(owner, digest);
  auto full = c.put_part(owner, id, 1, big);
  CHECK(full.status == 507);
  CHECK(full.text().find("InsufficientStorage") != std::string::npos);
  CHECK(full.text().find("storage is full") != std::string::npos);
  CHECK_MESSAGE(full.text().find(root.string()) == std::string::npos, full.text());
  CHECK_MESSAGE(full.text().find("/tmp") == std::string::npos, full.text());
  // Nothing partial is left on the disk, and nothing is visible.
  std::uintmax_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(seen))
    if (e.is_regular_file()) ++files;
  CHECK(files == 0);
  CHECK(c.call("HEAD", kGetBlob, &owner, c.blob_query(digest)).status == 404);
  // The hold goes on: a blob that fits is stored and read back.
  std::string small = random_text(256 * 1024, 4);
  auto done = c.upload(owner, small);
  REQUIRE_MESSAGE(done.status == 200, done.text());
  CHECK(c.download(&owner, oci::Digest::of(small).str()) == small);
}

// ------------------------------------------------------------ 4. export / import
TEST_CASE("hold binary: repo export verifies with the reference and imports into a fresh hold") {
  TestHold h(HoldProcess::Env{{"HOLD_ALLOW_ALL_CREW", "true"}});
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& writer = callers().writer;

  REQUIRE(c.call("POST", kRequestCrew, &writer, "", R"({"permissions":["blob:write"]})").status == 200);
  std::string layer = random_text(4000, 9);
  std::string layer_digest = oci::Digest::of(layer).str();
  REQUIRE(c.upload(writer, layer, 1 << 20).status == 200);
  std::string manifest = R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":)"
                         R"("application/vnd.oci.image.layer.v1.tar+gzip","digest":)" +
                         jstr(layer_digest) + R"(,"size":4000}]})";
  auto notify = c.call("POST", "io.atcr.hold.notifyManifest", &writer, "",
                       R"({"repository":"app","userDid":)" + jstr(writer.did) + R"(,"manifestDigest":)" +
                           jstr(oci::Digest::of(manifest).str()) + R"(,"manifest":)" + manifest +
                           R"(,"operation":"push"})");
  REQUIRE_MESSAGE(notify.status == 200, notify.text());
  std::string did_key = c.signing_key().did_key();
  auto crew = c.records("io.atcr.hold.crew");
  auto layers = c.records("io.atcr.hold.layer");
  auto stats = c.records("io.atcr.hold.stats");
  CHECK(crew.size() == 2);  // the owner and the writer
  CHECK(layers.size() == 1);
  CHECK(stats.size() == 1);
  h.process.stop();

  fs::path car = h.dir.path() / "hold.car";
  REQUIRE_MESSAGE(h.process.run({"repo", "export"}, car) == 0, h.process.diagnostics());
  std::string out;
  int rc = run_node({source_path("tests/interop/ref-repo.mjs"), "verify", car.string(), h.process.did(), did_key},
                    &out);
  REQUIRE_MESSAGE(rc == 0, "ref-repo.mjs verify: " << out);
  Value verified = json::parse(out.substr(out.find('{')));
  std::size_t n_records = verified.at("records").as_array().size();
  CHECK(n_records == 2 /* captain, Bluesky profile */ + crew.size() + layers.size() + stats.size());

  TestHold fresh(HoldProcess::Env{});
  REQUIRE_MESSAGE(fresh.process.run({"repo", "import", car.string()}, fresh.dir.path() / "import.out") == 0,
                  fresh.process.diagnostics());
  fresh.process.start();
  INFO(fresh.process.diagnostics());
  HoldClient& f = fresh.client;
  // Crew, layer and stats records come over as they were; the captain is
  // the fresh hold's own.
  CHECK(f.records("io.atcr.hold.crew") == crew);
  CHECK(f.records("io.atcr.hold.stats") == stats);
  CHECK(f.records("io.atcr.hold.layer") == layers);
  CHECK(f.record("io.atcr.hold.captain", "self").at("allowAllCrew").as_bool() == false);
  f.verified_repo();
}

// ------------------------------------------------------------ 5. firehose
TEST_CASE("hold binary: a WebSocket client on subscribeRepos sees a requestCrew's #commit") {
  TestHold h(HoldProcess::Env{{"HOLD_ALLOW_ALL_CREW", "true"}});
  h.process.start();
  INFO(h.process.diagnostics());
  const Account& reader = callers().reader;
  auto joined = h.client.call("POST", kRequestCrew, &reader, "", R"({"permissions":["blob:read"]})");
  REQUIRE_MESSAGE(joined.status == 200, joined.text());
  std::string cid = HoldClient::json(joined).at("cid").as_string();

  std::string ws = "ws://127.0.0.1:" + std::to_string(h.process.port()) +
                   "/xrpc/com.atproto.sync.subscribeRepos?cursor=0";
  std::string out;
  int rc = run_node({source_path("tests/integration/hold-firehose.mjs"), ws, "io.atcr.hold.crew/" + reader.did},
                    &out);
  REQUIRE_MESSAGE(rc == 0, "hold-firehose.mjs: " << out);
  Value event = json::parse(out);
  CHECK(event.at("repo").as_string() == h.process.did());
  CHECK(event.at("action").as_string() == "create");
  CHECK(event.at("cid").as_string() == cid);
}

// ------------------------------------------------------------ hostile input, signals
TEST_CASE("hold binary: an ATCR .env.hold (ATCR's variable names only) runs unchanged") {
  TempDir dir("atcr-hold-atcr-env");
  HoldProcess hold(dir.path(), HoldProcess::Env{{"HOLD_OWNER", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
                                                {"STORAGE_DRIVER", "filesystem"},
                                                {"STORAGE_ROOT_DIR", (dir / "blobs").string()},
                                                {"HOLD_ALLOW_ALL_CREW", "true"}});
  hold.use_atcr_names();
  hold.start();  // answers /xrpc/_health on HOLD_SERVER_ADDR's port
  std::string log = hold.diagnostics();
  INFO(log);
  CHECK(log.find(hold.did() + " serving " + hold.public_url() + " on 127.0.0.1:" + std::to_string(hold.port())) !=
        std::string::npos);
  CHECK(log.find(" config: ") == std::string::npos);  // nothing unknown, nothing ignored
  CHECK_FALSE(std::filesystem::is_empty(hold.data_dir()));  // HOLD_DATABASE_DIR
  CHECK(hold.stop() == 0);
}

TEST_CASE("hold binary: malformed requests get XRPC errors; SIGUSR1 and SIGTERM behave") {
  TestHold h(HoldProcess::Env{
      {"HOLD_LOG_LEVEL", "info"}, {"HOLD_ALLOW_ALL_CREW", "true"}, {"HOLD_UPLOADS_MAX_PART_SIZE", "4096"}});
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& owner = callers().owner;

  struct Case {
    std::string method;
    std::string_view nsid;
    std::string query, body;
    int status;
    std::string error;
  };
  std::string id = c.initiate(owner, "");
  std::string many_parts = "[";
  for (int i = 1; i <= 10001; ++i) many_parts += (i > 1 ? "," : "") + std::string(R"({"partNumber":1,"etag":"x"})");
  many_parts += "]";
  const std::vector<Case> cases = {
      {"POST", kInitiate, "", "not json", 400, ""},
      {"POST", kInitiate, "", R"({"digest":5})", 400, "InvalidRequest"},
      {"POST", kInitiate, "", R"({"digest":"sha256:xyz"})", 400, "InvalidDigest"},
      {"POST", kInitiate, "", R"([1,2,3])", 400, ""},
      {"POST", kPartUrl, "", R"({"uploadId":)" + jstr(id) + R"(,"partNumber":0})", 400, "InvalidRequest"},
      {"POST", kPartUrl, "", R"({"uploadId":)" + jstr(id) + R"(,"partNumber":10001})", 400, "InvalidRequest"},
      {"POST", kPartUrl, "", R"({"uploadId":)" + jstr(id) + R"(,"partNumber":"1"})", 400, "InvalidRequest"},
      {"POST", kPartUrl, "", R"({"uploadId":"nope","partNumber":1})", 400, "InvalidUploadId"},
      {"POST", kPartUrl, "", R"({"uploadId":)" + jstr(std::string(5000, 'a')) + R"(,"partNumber":1})", 400,
       "InvalidRequest"},
      {"POST", kComplete, "", R"({"uploadId":)" + jstr(id) + R"(,"digest":"sha256:)" + std::string(64, '0') +
                                  R"(","parts":{}})",
       400, "InvalidRequest"},
      {"POST", kComplete, "", R"({"uploadId":)" + jstr(id) + R"(,"digest":"sha256:)" + std::string(64, '0') +
                                  R"(","parts":)" + many_parts + "}",
       400, "InvalidRequest"},
      {"POST", kComplete, "", R"({"uploadId":)" + jstr(id) + R"(,"digest":"sha256:)" + std::string(64, '0') +
                                  R"(","parts":[]})",
       400, ""},
      {"PUT", kUploadPart, "uploadId=nope&partNumber=1", "x", 400, "InvalidUploadId"},
      {"PUT", kUploadPart, "uploadId=" + id + "&partNumber=abc", "x", 400, ""},
      {"PUT", kUploadPart, "uploadId=" + id + "&partNumber=1", std::string(5000, 'x'), 413, "PartTooLarge"},
      {"GET", kGetBlob, "did=" + net::url_encode(h.process.did()) + "&cid=garbage", "", 400, "InvalidRequest"},
      {"GET", kGetBlob, "cid=sha256:" + std::string(64, '0'), "", 400, ""},
      {"GET", kGetBlob, "did=did:web:elsewhere.test&cid=sha256:" + std::string(64, '0'), "", 404, "RepoNotFound"},
      {"POST", kDeleteRecord, "", R"({"repo":)" + jstr(h.process.did()) + R"(,"collection":"not an nsid","rkey":"x"})",
       400, ""},
  };
  for (const Case& k : cases) {
    INFO(k.method << " " << k.nsid << "?" << k.query << " " << k.body.substr(0, 120));
    net::HttpRequest req;
    req.method = k.method;
    req.url = h.process.url() + "/xrpc/" + std::string(k.nsid) + (k.query.empty() ? "" : "?" + k.query);
    req.headers.emplace_back("Authorization", "Bearer " + callers().token(owner, h.process.did(), k.nsid));
    req.headers.emplace_back("Content-Type", k.method == "PUT" ? "application/octet-stream" : "application/json");
    req.body = to_bytes(k.body);
    auto r = http().send(req);
    CHECK(r.status == k.status);
    std::string error = HoldClient::error(r);
    CHECK_MESSAGE(!error.starts_with("(not an XRPC error"), error);
    if (!k.error.empty()) CHECK(error == k.error);
  }
  // (The owner is already crew, so a newcomer sends this one.)
  auto bad_crew = c.call("POST", kRequestCrew, &callers().stranger, "", R"({"permissions":[1]})");
  CHECK(bad_crew.status == 400);
  CHECK(HoldClient::error(bad_crew) == "InvalidRequest");
  // Credentials that are not a token are refused as such, on any method.
  net::HttpRequest forged;
  forged.url = h.process.url() + "/xrpc/com.atproto.sync.getBlob?" + c.blob_query("sha256:" + std::string(64, '0'));
  forged.headers.emplace_back("Authorization", "Bearer not.a.jwt");
  CHECK(http().send(forged).status == 401);
  CHECK(http().get(h.process.url() + "/xrpc/_health").status == 200);

  // SIGUSR1 turns debug logging on (and off again); SIGTERM drains and exits 0.
  ::kill(h.process.pid(), SIGUSR1);
  bool toggled = false;
  for (int i = 0; i < 100 && !toggled; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    toggled = read_file(h.process.log_path()).find("debug logging on") != std::string::npos;
  }
  CHECK(toggled);
  int status = h.process.stop(SIGTERM);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(read_file(h.process.log_path()).find("stopped") != std::string::npos);
}

// ------------------------------------------------------------ did:plc
TEST_CASE("hold binary: a did:plc hold registers with the PLC directory and keeps its DID") {
  TestHold h(HoldProcess::Env{{"HOLD_IDENTITY_DID_METHOD", "plc"}});
  h.process.start();
  INFO(h.process.diagnostics());
  const Account& owner = callers().owner;
  auto described = http().get(h.process.url() + "/xrpc/com.atproto.server.describeServer");
  REQUIRE(described.status == 200);
  std::string did = HoldClient::json(described).at("did").as_string();
  REQUIRE_MESSAGE(did.starts_with("did:plc:"), did);

  // The directory has it, pointing at the hold, with the key that signs its repo.
  auto doc_response = http().get(plc_url() + "/" + did);
  REQUIRE_MESSAGE(doc_response.status == 200, doc_response.text());
  auto doc = identity::DidDocument::parse(doc_response.text());
  bool has_service = false;
  for (const auto& s : doc.services)
    has_service |= s.type == "AtcrHoldService" && s.endpoint == h.process.public_url();
  CHECK_MESSAGE(has_service, describe(doc));
  REQUIRE(doc.signing_key());
  auto car = http().get(h.process.url() + "/xrpc/com.atproto.sync.getRepo?did=" + net::url_encode(did));
  REQUIRE(car.status == 200);
  CHECK(verify_repo_car(car.body, did, *doc.signing_key()).records.size() == 3);  // captain, crew, profile

  // The reference PDS mints tokens for it; the owner may write.
  auto call = [&](std::string_view nsid, const std::string& body) {
    net::HttpRequest req;
    req.method = "POST";
    req.url = h.process.url() + "/xrpc/" + std::string(nsid);
    req.headers = {{"Authorization", "Bearer " + callers().token(owner, did, nsid)},
                   {"Content-Type", "application/json"}};
    req.body = to_bytes(body);
    return http().send(req);
  };
  auto init = call(kInitiate, "{}");
  CHECK_MESSAGE(init.status == 200, init.text());
  CHECK(call(kInitiate, "{}").status == 200);

  // A restart adopts the same DID (its rotation key is in the data dir).
  h.process.restart();
  auto again = http().get(h.process.url() + "/xrpc/com.atproto.server.describeServer");
  CHECK(HoldClient::json(again).at("did").as_string() == did);
  CHECK(call(kInitiate, "{}").status == 200);
}

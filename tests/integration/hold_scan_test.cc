// The hold's side of the scanner protocol, on the atcr-hold binary: the
// secret is checked before the upgrade, a push queues a job that survives a
// restart, a scanner that sends garbage loses the job to the next one, a
// result for another digest is ignored, and a real result (made with
// libatcr's scanner pieces from the layer the hold serves) becomes an
// io.atcr.hold.scan record whose SBOM and report blobs getBlob serves,
// and which garbage collection keeps (no layer record names them) while it
// deletes the layer no manifest uses any more.
//
// Callers are accounts on the reference PDS (fixture: pds).
#include <doctest/doctest.h>

#include <fstream>
#include <thread>

#include "atcr/scan/protocol.h"
#include "atcr/scan/scanner.h"
#include "atcr/xrpc/websocket_client.h"
#include "hold_client.h"
#include "tar_builder.h"

using namespace atcr;
using namespace atcr::test;

namespace {

constexpr std::string_view kSecret = "correct horse battery staple";

std::unique_ptr<xrpc::WebSocketClient> connect_scanner(HoldProcess& p, std::string_view secret) {
  xrpc::WebSocketOptions o;
  if (!secret.empty()) o.headers = {{"X-Scanner-Secret", std::string(secret)}};
  o.max_message_bytes = 1 << 20;
  return xrpc::WebSocketClient::connect(p.url() + "/xrpc/io.atcr.hold.subscribeScanJobs", o);
}

// The next job on the socket, within `wait`.
std::optional<scan::ScanJob> next_job(xrpc::WebSocketClient& ws, std::chrono::seconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = ws.receive(std::chrono::milliseconds(500));
    if (!m) return std::nullopt;
    if (m->kind == xrpc::WebSocketMessage::kTimeout) continue;
    return scan::ScanJob::from_json(m->text());
  }
  return std::nullopt;
}

// A pushed image: its layer carries a dpkg status file.
struct Pushed {
  std::string layer;
  std::string layer_digest;
  std::string manifest_digest;
};

Pushed push_image(HoldClient& c, const Account& as, const std::string& repository, const std::string& version) {
  Pushed p;
  Bytes tar =
      make_tar({{TarEntry::kFile, "var/lib/dpkg/status",
                 "Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: " + version + "\n"}},
               true);
  p.layer = to_string(tar);
  p.layer_digest = oci::Digest::of(p.layer).str();
  REQUIRE(c.upload(as, p.layer, 1 << 20).status == 200);
  std::string manifest = R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":)"
                         R"("application/vnd.oci.image.layer.v1.tar+gzip","digest":)" +
                         jstr(p.layer_digest) + R"(,"size":)" + std::to_string(p.layer.size()) + "}]}";
  p.manifest_digest = oci::Digest::of(manifest).str();
  auto notify =
      c.call("POST", "io.atcr.hold.notifyManifest", &as, "",
             R"({"repository":)" + jstr(repository) + R"(,"userDid":)" + jstr(as.did) + R"(,"manifestDigest":)" +
                 jstr(p.manifest_digest) + R"(,"manifest":)" + manifest + R"(,"tag":"v1","operation":"push"})");
  REQUIRE_MESSAGE(notify.status == 200, notify.text());
  return p;
}

// The blob getBlob serves for `cid` (a digest or a raw CID), with the secret.
net::HttpResponse get_blob(HoldClient& c, const std::string& cid, std::string_view secret) {
  net::HttpRequest req;
  req.url = c.p.url() + "/xrpc/com.atproto.sync.getBlob?" + c.blob_query(cid);
  if (!secret.empty()) req.headers.emplace_back("X-Scanner-Secret", std::string(secret));
  return http().send(req);
}

// One garbage collection on the running hold (its control secret), its report.
Value run_gc(HoldProcess& p) {
  std::string secret;
  std::ifstream(p.data_dir() / "control.secret") >> secret;
  net::HttpRequest req;
  req.method = "POST";
  req.url = p.url() + "/xrpc/io.atcr.hold.runGarbageCollection";
  req.headers = {{"Content-Type", "application/json"}, {"X-Hold-Control-Secret", secret}};
  req.body = to_bytes("{}");
  auto r = http().send(req);
  REQUIRE_MESSAGE(r.status == 200, r.text());
  return json::parse(r.text());
}

}  // namespace

TEST_CASE("hold binary: scan jobs on push, results as io.atcr.hold.scan records") {
  // Garbage collection reads the users' PDS (loopback here: development).
  TestHold h(HoldProcess::Env{{"HOLD_ALLOW_ALL_CREW", "true"},
                              {"HOLD_SCANNER_SECRET", std::string(kSecret)},
                              {"HOLD_SCANNER_SCAN_ON_PUSH", "*"},
                              {"HOLD_SCANNER_JOB_TIMEOUT", "30s"},
                              {"HOLD_IDENTITY_DEVELOPMENT", "true"},
                              {"HOLD_GC_GRACE_PERIOD", "1s"}});
  h.process.start();
  INFO(h.process.diagnostics());
  HoldClient& c = h.client;
  const Account& writer = callers().writer;
  REQUIRE(c.call("POST", "io.atcr.hold.requestCrew", &writer, "", R"({"permissions":["blob:write"]})").status == 200);

  // No secret, a wrong one: refused before any WebSocket exists.
  CHECK_THROWS_WITH_AS(connect_scanner(h.process, ""), doctest::Contains("401"), net::HttpError);
  CHECK_THROWS_WITH_AS(connect_scanner(h.process, "wrong"), doctest::Contains("401"), net::HttpError);

  // A push queues a job, which survives a restart.
  Pushed image = push_image(c, writer, "scanned/app", "3.0.11-1~deb12u2");
  h.process.stop();
  h.process.start();

  // A scanner that answers garbage is dropped (1008); the job goes to the next.
  std::int64_t seq = 0;
  {
    auto ws = connect_scanner(h.process, kSecret);
    auto job = next_job(*ws, std::chrono::seconds(10));
    REQUIRE(job);
    seq = job->seq;
    CHECK(job->digest == image.manifest_digest);
    CHECK(job->repository == "scanned/app");
    CHECK(job->tag == "v1");
    CHECK(job->user_did == writer.did);
    CHECK(job->hold_did == h.process.did());
    CHECK(job->manifest_uri.starts_with("at://" + writer.did + "/io.atcr.manifest/"));
    REQUIRE(job->layers.size() == 1);
    CHECK(job->layers[0].digest == image.layer_digest);
    ws->send_text("{ not json");
    CHECK_FALSE(ws->receive(std::chrono::seconds(10)));
    CHECK(ws->close_code() == 1008);
  }

  // The hold is private: the secret reads the layer, nobody else does.
  CHECK(get_blob(c, image.layer_digest, "").status == 401);
  auto layer = get_blob(c, image.layer_digest, kSecret);
  REQUIRE(layer.status == 200);
  CHECK(layer.text() == image.layer);

  auto ws = connect_scanner(h.process, kSecret);
  auto job = next_job(*ws, std::chrono::seconds(10));
  REQUIRE(job);
  CHECK(job->seq == seq);

  // A result for another digest is ignored; the real one is recorded.
  scan::ScanResult stray;
  stray.digest = "sha256:" + std::string(64, '0');
  stray.scanner_version = "test";
  ws->send_text(stray.to_json());

  scan::OsvDatabase db;
  REQUIRE(db.add_json(
      R"({"id":"CVE-2099-0001","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]})"));
  scan::ImageScan found = scan::scan_layers(
      job->layers, [&](const scan::LayerRef&) { return to_bytes(layer.text()); }, db, scan::LayerLimits{});
  REQUIRE(found.packages.size() == 1);
  REQUIRE(found.matches.size() == 1);
  scan::ScanResult result = scan::result_for(*job, found, db.size());
  ws->send_text(result.to_json());

  std::string rkey(oci::Digest::parse(image.manifest_digest).hex());
  std::map<std::string, std::string> scans;
  for (int i = 0; i < 50 && !scans.contains(rkey); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    scans = c.records("io.atcr.hold.scan");
  }
  REQUIRE(scans.size() == 1);
  REQUIRE(scans.contains(rkey));
  Value record = c.record("io.atcr.hold.scan", rkey);
  CHECK(record.at("status").as_string() == "ok");
  CHECK(record.at("critical").as_integer() == 1);
  CHECK(record.at("total").as_integer() == 1);
  CHECK(record.at("userDid").as_string() == writer.did);
  CHECK(record.at("repository").as_string() == "scanned/app");
  CHECK(record.at("manifest").as_string() == job->manifest_uri);
  CHECK(record.at("scannerVersion").as_string() == scan::kScannerVersion);
  for (auto [field, bytes] : {std::pair{"sbomBlob", &result.sbom}, std::pair{"vulnReportBlob", &result.vuln_report}}) {
    const Value& blob = record.at(field);
    std::string cid = blob.at("ref").as_link().to_string();
    CHECK(blob.at("size").as_integer() == static_cast<std::int64_t>(bytes->size()));
    auto served = get_blob(c, cid, kSecret);
    REQUIRE_MESSAGE(served.status == 200, field << ": " << served.status << " " << served.text());
    CHECK(served.body == *bytes);
  }
  // The queue is empty now: the scanner waits, nothing arrives.
  CHECK_FALSE(next_job(*ws, std::chrono::seconds(2)));
  ws->close();
  h.process.stop();
  h.process.start();
  auto again = connect_scanner(h.process, kSecret);
  CHECK_FALSE(next_job(*again, std::chrono::seconds(2)));

  // Garbage collection: the image's manifest never reached the writer's
  // PDS, so past the grace period its layer record goes (run 1), then its
  // layer (run 2); the SBOM and the report stay: the scan record names them.
  std::uint64_t blobs_deleted = 0;
  for (int run = 1; run <= 2; ++run) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    Value report = run_gc(h.process);
    INFO(json::serialize(report));
    blobs_deleted += static_cast<std::uint64_t>(report.at("blobsDeleted").as_integer());
    if (run == 1) CHECK(report.at("layerRecordsDeleted").as_integer() == 1);
    CHECK(report.at("warnings").as_array().empty());
  }
  CHECK(blobs_deleted == 1);
  CHECK(get_blob(c, image.layer_digest, kSecret).status == 404);
  for (std::string_view field : {"sbomBlob", "vulnReportBlob"}) {
    auto kept = get_blob(c, record.at(field).at("ref").as_link().to_string(), kSecret);
    CHECK_MESSAGE(kept.status == 200, field);
  }
  CHECK(c.records("io.atcr.hold.scan").contains(rkey));
}

TEST_CASE("hold binary: scanning off, or a tier without scanOnPush, queues nothing") {
  TestHold h(HoldProcess::Env{{"HOLD_ALLOW_ALL_CREW", "true"},
                              {"HOLD_SCANNER_SECRET", std::string(kSecret)},
                              {"HOLD_SCANNER_SCAN_ON_PUSH", "quartermaster"},
                              {"HOLD_QUOTA_ENABLED", "true"}});
  h.process.start();
  INFO(h.process.diagnostics());
  const Account& writer = callers().writer;
  REQUIRE(h.client.call("POST", "io.atcr.hold.requestCrew", &writer, "", R"({"permissions":["blob:write"]})").status ==
          200);
  auto tiers = HoldClient::json(h.client.call("GET", "io.atcr.hold.listTiers", nullptr));
  for (const Value& t : tiers.at("tiers").as_array())
    CHECK(t.at("scanOnPush").as_bool() == (t.at("name").as_string() == "quartermaster"));
  push_image(h.client, writer, "unscanned/app", "1.0");  // the writer is a deckhand
  auto ws = connect_scanner(h.process, kSecret);
  CHECK_FALSE(next_job(*ws, std::chrono::seconds(2)));
}

// The hold's garbage collection (atcr/hold/gc.h): mark, then sweep.
//
// A run reads the hold's layer records and every user's manifests (from
// their PDS), lists the blobs, marks the unreferenced ones in the
// candidate set (data_dir/gc.sqlite) and deletes those that were already
// candidates a grace period ago, re-checking each under the lock that
// notifyManifest writes layer records under. A kill at any point leaves at
// worst candidates not yet deleted, which the next run deletes.
//
// ATCR_HOLD_GC_DELETE_DELAY_MS (tests only): a pause after each blob
// deletion, so a test can kill the process in the middle of a sweep.
#include <fmt/core.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "atcr/crypto/hmac.h"
#include "atcr/data/datetime.h"
#include "atcr/data/tid.h"
#include "atcr/encoding/hex.h"
#include "atcr/log.h"
#include "atcr/oci/hold_records.h"
#include "atcr/oci/records.h"
#include "atcr/scan/protocol.h"
#include "atcr/storage/blob_key.h"
#include "atcr/xrpc/client.h"
#include "hold/bluesky.h"
#include "hold/hold_impl.h"
#include "hold/input.h"
#include "hold/user_images.h"

namespace atcr::hold {

namespace {

using Clock = std::chrono::system_clock;

constexpr std::string_view kRunGc = "io.atcr.hold.runGarbageCollection";
constexpr std::string_view kGcHistory = "io.atcr.hold.getGarbageCollectionHistory";
constexpr std::size_t kMaxItems = 1000;
constexpr std::size_t kDeletesPerCommit = 100;

std::int64_t i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

std::uint64_t u64_field(const Value& v, std::string_view key) {
  return static_cast<std::uint64_t>(input::record_count(v, key));
}

using input::record_string;

// When a layer record was written: its key is a TID of ours. A key that is
// not (an imported record) counts as old.
Clock::time_point written_at(std::string_view rkey) {
  try {
    return Clock::time_point(std::chrono::microseconds(Tid::parse(rkey).timestamp_us()));
  } catch (const ParseError&) {
    return Clock::time_point{};
  }
}

std::chrono::milliseconds test_delay() {
  const char* v = std::getenv("ATCR_HOLD_GC_DELETE_DELAY_MS");
  return std::chrono::milliseconds(v ? std::strtol(v, nullptr, 10) : 0);
}

struct LayerEntry {
  std::string rkey;
  oci::LayerRecord record;
};

}  // namespace

// ---- the report ---------------------------------------------------------------

Value GcReport::to_json() const {
  Value::Array list;
  for (const GcItem& i : items) {
    list.emplace_back(Value::Map{{"kind", Value(i.kind)},
                                 {"target", Value(i.target)},
                                 {"bytes", Value(i64(i.bytes))},
                                 {"reason", Value(i.reason)}});
  }
  Value::Array warns;
  for (const auto& w : warnings) warns.emplace_back(w);
  return Value(Value::Map{
      {"dryRun", Value(dry_run)},
      {"startedAt", Value(started_at)},
      {"finishedAt", Value(finished_at)},
      {"blobsScanned", Value(i64(blobs_scanned))},
      {"blobsReferenced", Value(i64(blobs_referenced))},
      {"blobsWaiting", Value(i64(blobs_waiting))},
      {"blobsDeleted", Value(i64(blobs_deleted))},
      {"bytesFreed", Value(i64(bytes_freed))},
      {"layerRecordsDeleted", Value(i64(layer_records_deleted))},
      {"uploadsRemoved", Value(i64(uploads_removed))},
      {"repoBlocksRemoved", Value(i64(repo_blocks_removed))},
      {"items", Value(std::move(list))},
      {"warnings", Value(std::move(warns))},
  });
}

GcReport GcReport::from_json(const Value& v) {
  if (!v.is_map()) throw ParseError("gc report: not an object");
  GcReport r;
  r.dry_run = input::record_bool(v, "dryRun");
  r.started_at = record_string(v, "startedAt");
  r.finished_at = record_string(v, "finishedAt");
  r.blobs_scanned = u64_field(v, "blobsScanned");
  r.blobs_referenced = u64_field(v, "blobsReferenced");
  r.blobs_waiting = u64_field(v, "blobsWaiting");
  r.blobs_deleted = u64_field(v, "blobsDeleted");
  r.bytes_freed = u64_field(v, "bytesFreed");
  r.layer_records_deleted = u64_field(v, "layerRecordsDeleted");
  r.uploads_removed = u64_field(v, "uploadsRemoved");
  r.repo_blocks_removed = u64_field(v, "repoBlocksRemoved");
  if (const Value* items = v.find("items"); items && items->is_array()) {
    for (const Value& i : items->as_array())
      r.items.push_back({record_string(i, "kind"), record_string(i, "target"), u64_field(i, "bytes"), record_string(i, "reason")});
  }
  if (const Value* warns = v.find("warnings"); warns && warns->is_array()) {
    for (const Value& w : warns->as_array())
      if (w.is_string()) r.warnings.push_back(w.as_string());
  }
  return r;
}

std::string GcReport::summary() const {
  std::string out = fmt::format(
      "{}{} blobs scanned, {} referenced, {} waiting out the grace period\n"
      "{} {} blobs ({} bytes), {} layer records; {} abandoned uploads, {} repo blocks removed\n",
      dry_run ? "dry run: " : "", blobs_scanned, blobs_referenced, blobs_waiting, dry_run ? "would delete" : "deleted",
      blobs_deleted, bytes_freed, layer_records_deleted, uploads_removed, repo_blocks_removed);
  for (const GcItem& i : items) out += fmt::format("  {} {} {} bytes: {}\n", i.kind, i.target, i.bytes, i.reason);
  for (const auto& w : warnings) out += fmt::format("  warning: {}\n", w);
  return out;
}

// ---- the collection --------------------------------------------------------------

std::set<std::string> Hold::Impl::image_users(std::set<std::string> users) {
  access.ensure_current(*pds);
  users.insert(access.captain().owner);
  for_each_record(*pds, kCrewCollection, [&](const pds::ListedRecord& r) {
    if (const Value* m = r.value.find("member"); m && m->is_string()) users.insert(m->as_string());
  });
  return users;
}

class Hold::Impl::Collector {
 public:
  Collector(Impl& h, bool dry_run) : h_(h), dry_(dry_run) {
    report_.dry_run = dry_run;
    report_.started_at = now_datetime();
    horizon_ = Clock::now() - h.config.gc.grace_period;
  }

  GcReport run() {
    if (!dry_) expire_uploads();
    read_layer_records();
    read_record_blobs();
    read_users();
    sweep_layer_records();
    sweep_blobs();
    if (!dry_) report_.repo_blocks_removed = h_.pds->collect_garbage();
    h_.touched.prune(horizon_);
    report_.finished_at = now_datetime();
    return std::move(report_);
  }

 private:
  void item(std::string kind, std::string target, std::uint64_t bytes, std::string reason) {
    if (report_.items.size() < kMaxItems) report_.items.push_back({std::move(kind), std::move(target), bytes, std::move(reason)});
  }

  void expire_uploads() {
    try {
      report_.uploads_removed = h_.uploads->expire(h_.config.uploads.session_ttl);
    } catch (const Error& e) {
      report_.warnings.push_back(fmt::format("abandoned uploads: {}", e.what()));
    }
  }

  void read_layer_records() {
    rev_ = h_.pds->rev();
    for_each_record(*h_.pds, oci::kLayerCollection, [&](const pds::ListedRecord& r) {
      try {
        layers_.push_back({r.uri.substr(r.uri.rfind('/') + 1), oci::LayerRecord::from_value(r.value)});
      } catch (const ParseError&) {
        // Unreadable: names no digest anyone could rely on; left alone.
      }
    });
  }

  // The blobs the hold's own records name (raw sha256 CIDs, referenced by
  // no layer record): io.atcr.hold.scan records' SBOMs and reports, the
  // profile's avatar.
  void read_record_blobs() {
    for (std::string_view collection : {scan::kScanCollection, kProfileCollection})
      for_each_record(*h_.pds, collection, [&](const pds::ListedRecord& r) { add_blob_refs(r.value); });
  }

  // Every {$type: blob, ref} in `v`, at any depth.
  void add_blob_refs(const Value& v) {
    if (v.is_array()) {
      for (const Value& item : v.as_array()) add_blob_refs(item);
      return;
    }
    if (!v.is_map()) return;
    const Value* type = v.find("$type");
    const Value* ref = v.find("ref");
    if (type && type->is_string() && type->as_string() == "blob" && ref && ref->is_link() &&
        ref->as_link().hash_code() == Cid::kSha256)
      record_blobs_.insert("sha256:" + hex::encode(ref->as_link().digest()));
    for (const auto& [key, item] : v.as_map()) add_blob_refs(item);
  }

  // The owner, the crew and every user with a layer record.
  void read_users() {
    std::set<std::string> layer_users;
    for (const LayerEntry& l : layers_) layer_users.insert(l.record.user_did);
    for (const std::string& did : h_.image_users(std::move(layer_users))) {
      try {
        images_[did] = read_user_images(*h_.resolver, *h_.user_http, did);
      } catch (const std::exception& e) {
        unreachable_.insert(did);
        report_.warnings.push_back(fmt::format("kept everything of {}: its records could not be read: {}", did, e.what()));
      }
    }
  }

  // Why a layer record no longer holds its blob; nullopt while it does.
  std::optional<std::string> orphaned(const LayerEntry& l) const {
    const oci::LayerRecord& r = l.record;
    if (unreachable_.contains(r.user_did) || written_at(l.rkey) > horizon_) return std::nullopt;
    const UserImages& user = images_.at(r.user_did);
    if (auto rkey = oci::manifest_rkey_of(r.manifest_uri, r.user_did)) {
      if (auto it = user.manifest_by_rkey.find(*rkey); it != user.manifest_by_rkey.end()) {
        if (user.kept_manifests.contains(it->second)) return std::nullopt;
        return fmt::format("its manifest {} is untagged and {} has autoRemoveUntagged", it->second, r.user_did);
      }
      // A key an older writer derived (<repository>:<digest hex>).
      if (auto colon = rkey->rfind(':'); colon != std::string::npos &&
                                         user.kept_manifests.contains("sha256:" + rkey->substr(colon + 1)))
        return std::nullopt;
    }
    // Its manifest is not found by key: it still holds while the user keeps
    // any image that uses the blob.
    if (user.kept_blobs.contains(r.digest.str())) return std::nullopt;
    return r.manifest_uri.empty() ? fmt::format("no image of {} uses it any more", r.user_did)
                                  : fmt::format("its manifest {} is gone from the user's PDS", r.manifest_uri);
  }

  void sweep_layer_records() {
    std::vector<RecordWrite> removals;
    std::vector<LayerEntry> kept;
    for (LayerEntry& l : layers_) {
      if (auto why = orphaned(l)) {
        item("layer-record", fmt::format("at://{}/{}/{}", h_.pds->did(), oci::kLayerCollection, l.rkey),
             static_cast<std::uint64_t>(std::max<std::int64_t>(0, l.record.size)), *why);
        removals.push_back(RecordWrite::remove(std::string(oci::kLayerCollection), l.rkey));
      } else {
        kept.push_back(std::move(l));
      }
    }
    layers_ = std::move(kept);
    report_.layer_records_deleted = removals.size();
    if (dry_ || removals.empty()) return;
    for (std::size_t i = 0; i < removals.size(); i += kDeletesPerCommit) {
      std::vector<RecordWrite> batch(removals.begin() + static_cast<std::ptrdiff_t>(i),
                                     removals.begin() + static_cast<std::ptrdiff_t>(std::min(removals.size(), i + kDeletesPerCommit)));
      std::lock_guard lock(h_.records_mu);
      h_.pds->apply_writes(batch);
    }
    h_.access.invalidate();  // usage changed
  }

  std::set<std::string> referenced() const {
    std::set<std::string> out;
    for (const LayerEntry& l : layers_) out.insert(l.record.digest.str());
    out.insert(record_blobs_.begin(), record_blobs_.end());
    for (const auto& [did, user] : images_) out.insert(user.kept_blobs.begin(), user.kept_blobs.end());
    for (std::string& d : h_.uploads->announced_digests()) out.insert(std::move(d));
    return out;
  }

  void sweep_blobs() {
    const std::set<std::string> refs = referenced();
    std::map<std::string, std::uint64_t> unreferenced;
    std::vector<std::string> still_used;
    std::map<std::string, Clock::time_point> written;
    storage::BlobStore& store = h_.blobs->store();
    std::string token;
    do {
      storage::ListPage page = store.list(storage::kBlobsPrefix, token);
      for (const auto& k : page.keys) {
        auto digest = storage::digest_of_blob_key(k.key);
        if (!digest) continue;
        ++report_.blobs_scanned;
        std::string d = digest->str();
        if (refs.contains(d)) {
          ++report_.blobs_referenced;
          still_used.push_back(d);
        } else {
          unreferenced[d] = k.size;
          written[d] = k.modified.value_or(Clock::now());
        }
      }
      token = page.continuation;
    } while (!token.empty());

    std::map<std::string, GcState::Candidate> candidates = h_.gc_state->candidates();
    std::vector<std::pair<std::string, std::uint64_t>> due;
    for (const auto& [d, size] : unreferenced) {
      auto c = candidates.find(d);
      if (c != candidates.end() && c->second.first_seen <= horizon_ && written[d] <= horizon_ &&
          !h_.touched.touched_since(d, horizon_)) {
        due.emplace_back(d, size);
      } else {
        ++report_.blobs_waiting;
      }
    }
    if (!dry_) {
      // Candidates that are gone or used again leave the set.
      for (const auto& [d, c] : candidates)
        if (!unreferenced.contains(d)) still_used.push_back(d);
      h_.gc_state->mark(unreferenced, still_used);
    }
    // A PDS that could not be read may hold a manifest naming any of them.
    if (!unreachable_.empty() && !due.empty()) {
      report_.warnings.push_back(fmt::format("no blob deleted: {} of {} users could not be checked", unreachable_.size(),
                                             images_.size() + unreachable_.size()));
      report_.blobs_waiting += due.size();
      return;
    }
    for (const auto& [d, size] : due) delete_blob(d, size);
  }

  // Re-checked under records_mu, which notifyManifest holds from its blob
  // checks to its layer records' commit: a push that found the blob here
  // has either written its record (seen below) or will find it gone.
  void delete_blob(const std::string& digest, std::uint64_t size) {
    const std::string why = "no layer record, no manifest in any user's PDS and no upload refers to it";
    if (dry_) {
      ++report_.blobs_deleted;
      report_.bytes_freed += size;
      item("blob", digest, size, why);
      return;
    }
    {
      std::lock_guard lock(h_.records_mu);
      if (h_.pds->rev() != rev_) refresh_layer_digests();
      auto announced = h_.uploads->announced_digests();
      if (live_layer_digests_.contains(digest) || h_.touched.touched_since(digest, horizon_) ||
          std::find(announced.begin(), announced.end(), digest) != announced.end()) {
        h_.gc_state->forget(digest);
        return;
      }
      try {
        h_.blobs->remove(oci::Digest::parse(digest));
      } catch (const Error& e) {
        report_.warnings.push_back(fmt::format("deleting {} failed: {}", digest, e.what()));
        return;
      }
    }
    h_.gc_state->forget(digest);
    ++report_.blobs_deleted;
    report_.bytes_freed += size;
    item("blob", digest, size, why);
    log::info("hold", "gc: deleted blob {} ({} bytes)", digest, size);
    if (auto delay = test_delay(); delay.count() > 0) std::this_thread::sleep_for(delay);
  }

  void refresh_layer_digests() {
    live_layer_digests_.clear();
    rev_ = h_.pds->rev();
    for_each_record(*h_.pds, oci::kLayerCollection, [&](const pds::ListedRecord& r) {
      if (const Value* d = r.value.find("digest"); d && d->is_string()) live_layer_digests_.insert(d->as_string());
    });
  }

  Impl& h_;
  bool dry_;
  GcReport report_;
  Clock::time_point horizon_;
  std::string rev_;
  std::vector<LayerEntry> layers_;
  std::set<std::string> record_blobs_;
  std::map<std::string, UserImages> images_;
  std::set<std::string> unreachable_;
  std::set<std::string> live_layer_digests_;  // filled when the repo moved during the sweep
};

GcReport Hold::gc(bool dry_run) { return impl_->collect(dry_run); }

GcReport Hold::Impl::collect(bool dry_run) {
  Impl& h = *this;
  std::unique_lock run(h.gc_running, std::try_to_lock);
  if (!run.owns_lock()) throw ConflictError("hold: a garbage collection is already running");
  GcReport report = Collector(h, dry_run).run();
  h.gc_state->record_run(report);
  h.report_gc(report);
  h.last_gc = Clock::now();
  log::info("hold", "gc{}: {} blobs ({} bytes) and {} layer records {}, {} uploads, {} repo blocks removed",
            dry_run ? " (dry run)" : "", report.blobs_deleted, report.bytes_freed, report.layer_records_deleted,
            dry_run ? "would go" : "deleted", report.uploads_removed, report.repo_blocks_removed);
  return report;
}

std::vector<GcReport> Hold::gc_history() const { return impl_->gc_state->history(); }

// ---- the endpoints ------------------------------------------------------------------
//
// io.atcr.hold.runGarbageCollection (procedure) {dryRun?} -> the report
// (GcReport::to_json); 409 GcRunning while another run is on.
// io.atcr.hold.getGarbageCollectionHistory (query) -> {runs: [reports]}.
// This implementation's own, for `atcr-hold gc`: the hold's admins (a
// crew:admin service token) or a program on the hold's host that can read
// data_dir/control.secret (sent as X-Hold-Control-Secret).

void Hold::Impl::require_operator(const xrpc::ServerRequest& req, std::string_view lxm) {
  std::string secret = req.header(kControlSecretHeader);
  if (!secret.empty()) {
    if (!equal_constant_time(secret, control_secret))
      throw xrpc::XrpcError(403, "InvalidSecret", "the control secret does not match this hold's");
    return;
  }
  if (require(req, lxm, Access::kAdmin).empty())
    throw xrpc::XrpcError(401, "AuthRequired", "needs the hold's control secret or an admin's service token");
}

GcReport Hold::run_gc(const HoldConfig& config, bool dry_run) {
  std::string host = config.server.host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  std::string secret;
  if (std::ifstream in(control_secret_path(config)); in) std::getline(in, secret);
  const std::string url = fmt::format("http://{}:{}", host, config.server.port);
  bool serving = true;
  try {
    // Any answer means something serves there: the hold (or a server in
    // its place, which the call below fails against), never a second
    // process on the hold's data.
    net::HttpOptions probe;
    probe.timeout = probe.connect_timeout = std::chrono::seconds(3);
    net::HttpClient(probe).get(url + "/xrpc/_health");
  } catch (const net::HttpError& e) {  // nothing answers there
    log::info("hold", "no hold answers at {} ({}); collecting in this process", url, e.what());
    serving = false;
  }
  if (serving) {
    net::HttpOptions http;
    http.timeout = std::chrono::hours(6);  // a run reads every user's PDS
    xrpc::XrpcClient client(url, std::make_shared<net::HttpClient>(http));
    Value in(Value::Map{{"dryRun", Value(dry_run)}});
    return GcReport::from_json(
        client.procedure(kRunGc, in, {}, {.headers = {{std::string(kControlSecretHeader), secret}}}));
  }
  Hold hold(config);
  return hold.gc(dry_run);
}

void Hold::Impl::register_gc_endpoints(xrpc::XrpcServer& server, Hold& hold) {
  server.procedure(kRunGc, [this, &hold](const xrpc::ServerRequest& req) {
    require_operator(req, kRunGc);
    Value in = req.body.empty() ? Value(Value::Map{}) : req.json();
    const Value* dry = in.find("dryRun");
    if (dry && !dry->is_bool()) input::invalid("dryRun must be a boolean");
    try {
      return xrpc::ServerResponse::json(hold.gc(dry && dry->as_bool()).to_json());
    } catch (const ConflictError& e) {
      throw xrpc::XrpcError(409, "GcRunning", e.what());
    }
  });
  server.query(kGcHistory, [this, &hold](const xrpc::ServerRequest& req) {
    require_operator(req, kGcHistory);
    Value::Array runs;
    for (const GcReport& r : hold.gc_history()) runs.push_back(r.to_json());
    return xrpc::ServerResponse::json(Value(Value::Map{{"runs", Value(std::move(runs))}}));
  });
}

}  // namespace atcr::hold

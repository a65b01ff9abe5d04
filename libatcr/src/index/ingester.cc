// index::Ingester: verified firehose messages and whole-repo re-syncs into
// the index (the contract is in atcr/index/ingest.h).
#include <fmt/core.h>

#include <array>
#include <mutex>

#include "atcr/data/cbor.h"
#include "atcr/data/datetime.h"
#include "atcr/data/syntax.h"
#include "atcr/index/ingest.h"
#include "atcr/log.h"
#include "atcr/pds/event_stream.h"
#include "atcr/repo/repository.h"
#include "atcr/xrpc/client.h"
#include "index/identity_refresher.h"
#include "index/verify.h"
#include "index/source_url.h"

namespace atcr::index {

namespace {

constexpr std::size_t kDidLockStripes = 64;
constexpr std::string_view kAtcrPrefix = "io.atcr.";

std::shared_ptr<const net::HttpClient> default_http() {
  net::HttpOptions o;
  o.timeout = std::chrono::seconds(120);
  o.max_response_bytes = 256 * 1024 * 1024;
  return std::make_shared<net::HttpClient>(o);
}

bool touches_atcr(const Value& body) {
  const Value* ops = body.find("ops");
  if (!ops || !ops->is_array()) return false;
  for (const Value& op : ops->as_array()) {
    const Value* path = op.find("path");
    if (path && path->is_string() && path->as_string().starts_with(kAtcrPrefix)) return true;
  }
  return false;
}

const std::string& did_field(const Value& body, std::string_view field) {
  const std::string& did = body.at(field).as_string();
  if (!syntax::is_valid_did(did)) throw ParseError(fmt::format("firehose: {} is not a DID", field));
  return did;
}

}  // namespace

struct Ingester::Impl {
  Impl(Index& i, identity::Resolver& r, std::shared_ptr<const net::HttpClient> h)
      : index(i), resolver(r), http(std::move(h)) {}
  Index& index;
  identity::Resolver& resolver;
  std::shared_ptr<const net::HttpClient> http;
  std::array<std::mutex, kDidLockStripes> did_locks;
  mutable std::mutex stats_mu;
  IngestStats stats;

  std::mutex& lock_for(std::string_view did) { return did_locks[std::hash<std::string_view>{}(did) % kDidLockStripes]; }

  Ingester::Observer observer;

  void count(std::string_view did, Outcome outcome, std::uint64_t records = 0, bool stale = false) {
    if (observer) observer(did, outcome, stale);
    std::lock_guard lock(stats_mu);
    if (stale) ++stats.stale;
    ++stats.events;
    stats.records += records;
    switch (outcome) {
      case Outcome::kApplied: ++stats.applied; break;
      case Outcome::kIgnored: ++stats.ignored; break;
      case Outcome::kRejected: ++stats.rejected; break;
      case Outcome::kResynced: ++stats.resyncs; break;
    }
  }

  PublicKey key_of(std::string_view did, bool fresh) {
    auto key = resolver.resolve_did(did, fresh).signing_key();
    if (!key) throw VerifyError(fmt::format("index: {} has no atproto signing key", did));
    return *key;
  }

  // Runs `verify` with the cached key, and once more with a fresh one if
  // that fails (the key may have rotated).
  template <class Verify>
  auto with_key(std::string_view did, Verify&& verify) {
    try {
      return verify(key_of(did, false));
    } catch (const VerifyError&) {
      return verify(key_of(did, true));
    }
  }

  // `verify` with the DID's key (see with_key), or nullopt after logging
  // why it failed: malformed, not verified, or the DID not resolvable.
  template <class Verify>
  auto checked(std::string_view what, std::string_view did, Verify&& verify)
      -> std::optional<decltype(verify(std::declval<const PublicKey&>()))> {
    try {
      return with_key(did, verify);
    } catch (const Error& e) {
      reject(what, did, e);
      return std::nullopt;
    }
  }

  Outcome reject(std::string_view what, std::string_view did, const std::exception& e) {
    log::warn("index", "rejected {} of {}: {}", what, log::escape(did), e.what());
    count(did, Outcome::kRejected);
    return Outcome::kRejected;
  }

  Outcome commit(const Value& body, std::string_view source_origin, Ingester& self) {
    const std::string& did = did_field(body, "repo");
    std::lock_guard did_lock(lock_for(did));
    auto state = index.repo_state(did);
    // A repo's first commit on a PDS's own stream is followed from the
    // start (its later ATCR records then need no getRepo); on a relay only
    // repos with ATCR records are.
    const Value* since_field = body.find("since");
    bool genesis = since_field && since_field->is_null() && !source_origin.empty();
    if (!state && !genesis && !touches_atcr(body)) {
      count(did, Outcome::kIgnored);
      return Outcome::kIgnored;
    }
    const std::string& rev = body.at("rev").as_string();
    if (state && rev <= state->rev) {
      count(did, Outcome::kIgnored, 0, true);
      return Outcome::kIgnored;
    }
    auto verified = checked("commit", did, [&](const PublicKey& key) { return verify_commit(body, key); });
    if (!verified) return Outcome::kRejected;
    VerifiedCommit& v = *verified;
    bool chained;
    if (!state) {
      chained = !v.since;  // the repo's first commit; anything else needs the history
    } else if (v.prev_data) {
      chained = !state->data_cid.empty() && v.prev_data->to_string() == state->data_cid;
    } else {
      chained = v.since && *v.since == state->rev;
    }
    if (!chained) {
      log::info("index", "{}: commit {} does not follow what was indexed; re-syncing", did, rev);
      return resync_locked(did, {}, self);
    }
    std::vector<RecordChange> changes;
    for (VerifiedOp& op : v.ops) {
      if (!is_indexed_collection(op.collection)) continue;
      RecordAction action = op.action == "delete" ? RecordAction::kDelete
                            : op.action == "update" ? RecordAction::kUpdate
                                                    : RecordAction::kCreate;
      changes.push_back({did, op.collection, op.rkey, action, op.record ? std::move(*op.record) : Value(),
                         op.cid ? op.cid->to_string() : ""});
    }
    index.apply_commit(did, changes, {v.commit.rev, v.commit_cid.to_string(), v.commit.data.to_string()});
    if (!state) identities.enqueue(did, false);  // newly followed: its #identity may have gone by
    count(did, Outcome::kApplied, changes.size());
    return Outcome::kApplied;
  }

  Outcome sync(const Value& body, Ingester& self) {
    const std::string& did = did_field(body, "did");
    std::lock_guard did_lock(lock_for(did));
    auto state = index.repo_state(did);
    if (!state) {
      count(did, Outcome::kIgnored);
      return Outcome::kIgnored;
    }
    auto verified = checked("#sync", did, [&](const PublicKey& key) { return verify_sync(body, key); });
    if (!verified) return Outcome::kRejected;
    const VerifiedSync& v = *verified;
    if (v.commit_cid.to_string() == state->commit_cid || v.commit.rev <= state->rev) {
      count(did, Outcome::kIgnored);
      return Outcome::kIgnored;
    }
    return resync_locked(did, {}, self);
  }

  Outcome identity(const Value& body) {
    const std::string& did = did_field(body, "did");
    if (!index.known(did)) {
      count(did, Outcome::kIgnored);
      return Outcome::kIgnored;
    }
    identities.enqueue(did, true);
    count(did, Outcome::kApplied);
    return Outcome::kApplied;
  }

  // The DID's verified handle and PDS into the index; logged on failure.
  void refresh_identity(std::string_view did, bool fresh) {
    try {
      identity::Identity id = resolver.resolve(did, fresh);
      index.set_identity(did, id.handle.value_or(""), id.document.pds_endpoint().value_or(""));
    } catch (const Error& e) {
      log::warn("index", "identity of {}: cannot resolve: {}", did, e.what());
    }
  }

  Outcome account(const Value& body, std::string_view source_origin) {
    const std::string& did = did_field(body, "did");
    bool active = body.at("active").as_bool();
    std::string status;
    if (const Value* s = body.find("status"); s && !s->is_null()) status = s->as_string();
    if (!index.known(did)) {
      count(did, Outcome::kIgnored);
      return Outcome::kIgnored;
    }
    if (!source_origin.empty()) {
      // A PDS speaks only for the accounts it hosts.
      std::string hosted_at;
      try {
        hosted_at = origin_of(resolver.resolve_did(did, true).pds_endpoint().value_or(""));
      } catch (const Error&) {
      }
      if (hosted_at != source_origin) {
        log::warn("index", "rejected #account of {} from {}: not its PDS ({})", did, source_origin,
                  hosted_at.empty() ? "unknown" : hosted_at);
        count(did, Outcome::kRejected);
        return Outcome::kRejected;
      }
    }
    index.set_account_status(did, active, status.empty() && !active ? "deactivated" : status);
    count(did, Outcome::kApplied);
    return Outcome::kApplied;
  }

  Outcome resync_locked(std::string_view did, std::string_view pds_url, Ingester&) {
    try {
      std::size_t records = fetch_and_replace(did, pds_url);
      count(did, Outcome::kResynced, records);
      return Outcome::kResynced;
    } catch (const Error& e) {
      return reject("re-sync", did, e);
    }
  }

  std::size_t fetch_and_replace(std::string_view did, std::string_view pds_url) {
    identity::DidDocument doc = resolver.resolve_did(did, true);
    std::string pds = pds_url.empty() ? doc.pds_endpoint().value_or("") : std::string(pds_url);
    if (pds.empty()) throw identity::ResolutionError(fmt::format("index: {} names no PDS", did));
    auto key = doc.signing_key();
    if (!key) throw VerifyError(fmt::format("index: {} has no atproto signing key", did));
    xrpc::XrpcClient client(pds, http);
    xrpc::XrpcResponse car = client.query_raw("com.atproto.sync.getRepo", xrpc::Params{{"did", std::string(did)}});
    VerifiedRepo repo = verify_repo_car(car.body, did, *key);
    std::vector<RecordChange> changes;
    for (const RecordEntry& entry : repo.records) {
      if (!is_indexed_collection(entry.collection)) continue;
      const Bytes* block = repo.blocks.find(entry.cid);
      if (!block) throw VerifyError(fmt::format("index: {}'s record {}/{} is missing", did, entry.collection, entry.rkey));
      changes.push_back({std::string(did), entry.collection, entry.rkey, RecordAction::kCreate, cbor::decode(*block),
                         entry.cid.to_string()});
    }
    if (changes.empty() && !index.known(did)) return 0;  // nothing of ATCR's: not tracked
    index.replace_repo(did, changes, {repo.commit.rev, repo.commit_cid.to_string(), repo.commit.data.to_string()});
    identities.enqueue(did, false);
    return changes.size();
  }

  // Last, so it stops first: its worker uses everything above.
  IdentityRefresher identities{[this](const std::string& did, bool fresh) { refresh_identity(did, fresh); }};
};

Ingester::Ingester(Index& index, identity::Resolver& resolver, std::shared_ptr<const net::HttpClient> http)
    : impl_(std::make_unique<Impl>(index, resolver, http ? std::move(http) : default_http())) {}

Ingester::~Ingester() = default;

Index& Ingester::index() { return impl_->index; }

Outcome Ingester::handle_frame(BytesView frame, std::string_view source_origin, FrameInfo& info) {
  info = {};
  pds::Frame f = pds::decode_frame(frame);
  if (f.op == -1) {
    const Value* error = f.body.find("error");
    const Value* message = f.body.find("message");
    throw Error(fmt::format("firehose error: {}: {}",
                            error && error->is_string() ? log::escape(error->as_string()) : "?",
                            message && message->is_string() ? log::escape(message->as_string()) : ""));
  }
  if (const Value* s = f.body.find("seq"); s && s->is_integer()) info.seq = s->as_integer();
  if (const Value* t = f.body.find("time"); t && t->is_string()) info.time = parse_datetime(t->as_string());
  return handle_message(f.type, f.body, source_origin);
}

Outcome Ingester::handle_message(std::string_view type, const Value& body, std::string_view source_origin) {
  try {
    if (type == "#commit") return impl_->commit(body, source_origin, *this);
    if (type == "#sync") return impl_->sync(body, *this);
    if (type == "#identity") return impl_->identity(body);
    if (type == "#account") return impl_->account(body, source_origin);
    if (type == "#info") {
      const Value* name = body.find("name");
      log::info("index", "firehose #info: {}", name && name->is_string() ? log::escape(name->as_string()) : "?");
    }
  } catch (const ParseError& e) {
    return impl_->reject(type, "?", e);
  }
  impl_->count("", Outcome::kIgnored);
  return Outcome::kIgnored;
}

void Ingester::observe(Observer observer) { impl_->observer = std::move(observer); }

std::size_t Ingester::resync(std::string_view did, std::string_view pds_url) {
  std::lock_guard did_lock(impl_->lock_for(did));
  return impl_->fetch_and_replace(did, pds_url);
}

void Ingester::settle() { impl_->identities.settle(); }

IngestStats Ingester::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

}  // namespace atcr::index

#include "atcr/pds/embedded_pds.h"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "atcr/data/car.h"
#include "atcr/data/datetime.h"
#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/error.h"
#include "atcr/pds/event_stream.h"
#include "atcr/repo/sqlite_store.h"
#include "pds/plc_identity.h"
#include "pds/pds_state.h"
#include "util/text.h"

namespace atcr::pds {

namespace {

struct Origin {
  std::string scheme;
  std::string host;
  std::string port;  // "" when absent
};

// public_url must be a bare origin: the DID document's serviceEndpoint and
// the did:web are derived from it, and both forbid paths.
Origin parse_origin(std::string_view url) {
  auto bad = [&](std::string_view why) -> ConfigError {
    return ConfigError("public_url", "public_url \"" + std::string(url) + "\": " + std::string(why));
  };
  Origin o;
  std::string_view rest;
  if (url.starts_with("https://")) {
    o.scheme = "https";
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    o.scheme = "http";
    rest = url.substr(7);
  } else {
    throw bad("must start with http:// or https://");
  }
  rest = util::strip_trailing_slashes(rest);
  if (rest.empty()) throw bad("has no host");
  if (rest.find_first_of("/?#@[]") != std::string_view::npos)
    throw bad("must be scheme://host[:port] without path, query, user or IPv6 literal");
  auto colon = rest.find(':');
  o.host = std::string(rest.substr(0, colon));
  if (colon != std::string_view::npos) {
    o.port = std::string(rest.substr(colon + 1));
    if (o.port.empty() || o.port.size() > 5 ||
        !std::all_of(o.port.begin(), o.port.end(), [](unsigned char c) { return std::isdigit(c); }))
      throw bad("has an invalid port");
  }
  o.host = util::ascii_lower(o.host);
  if (o.host.empty() || o.host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string::npos)
    throw bad("has an invalid host");
  return o;
}

std::string origin_string(const Origin& o) {
  return o.scheme + "://" + o.host + (o.port.empty() ? "" : ":" + o.port);
}

std::string commit_of_event(const SequencedEvent& event) {
  Frame frame = decode_frame(event.frame);
  if (event.type == "#commit") return frame.body.at("commit").as_link().to_string();
  car::Contents contents = car::read(frame.body.at("blocks").as_bytes());
  if (contents.roots.empty()) throw ParseError("sequencer: #sync event " + std::to_string(event.seq) + " has no root");
  return contents.roots.front().to_string();
}

}  // namespace

struct EmbeddedPds::Impl {
  PdsConfig config;
  std::string public_url;
  std::string did;
  std::string handle;
  PrivateKey signing_key;
  std::unique_ptr<SqliteRepoStorage> storage;
  std::unique_ptr<Repository> repo;
  std::unique_ptr<Sequencer> sequencer;
  mutable std::mutex mu;
  std::size_t commits_since_gc = 0;

  Impl(PdsConfig c, PrivateKey key) : config(std::move(c)), signing_key(std::move(key)) {}

  identity::DidDocument document() const {
    identity::DidDocument doc;
    doc.id = did;
    doc.also_known_as.push_back("at://" + handle);
    doc.verification_methods.push_back({"atproto", signing_key.public_key()});
    doc.services.push_back({"atproto_pds", "AtprotoPersonalDataServer", public_url});
    for (const identity::Service& s : config.extra_services)
      if (s.id != "atproto_pds") doc.services.push_back(s);
    return doc;
  }

  // Sequences `commit` as #commit, or as #sync when it is over what one
  // #commit may carry (200 ops, a 2 MB CAR slice): consumers then fetch the
  // repo with getRepo. Big batches (an import) stay one atomic commit.
  void sequence_commit(const CommitResult& commit) {
    if (commit.ops.size() > kMaxCommitOps) {
      sequence_sync();
      return;
    }
    std::string time = now_datetime();
    Value body = commit_body(did, commit, time);
    if (body.at("blocks").as_bytes().size() > kMaxCommitBlocksBytes) {
      sequence_sync();
      return;
    }
    sequencer->append("#commit", std::move(body));
  }

  void sequence_sync() {
    Bytes block = repo->commit().encode();
    sequencer->append("#sync", sync_body(did, repo->head(), block, repo->rev(), now_datetime()));
  }

  // The initial commit of a new repo as a #commit with no ops: the commit
  // block and the (empty) MST root, as the reference PDS sequences it.
  void sequence_initial_commit() {
    CommitResult initial{repo->head(), repo->rev(), std::nullopt, std::nullopt, {}, {}, {}};
    initial.proof_blocks.put(repo->head(), repo->commit().encode());
    if (auto root = storage->get_block(did, repo->data_root())) initial.proof_blocks.put(repo->data_root(), *root);
    sequence_commit(initial);
  }

  // open(), step by step. The DID: did:web from the public URL (a data dir
  // that belongs to another is refused) or did:plc, created or adopted;
  // saved before anything refers to it.
  void settle_did(PdsState& state, const std::filesystem::path& dir) {
    if (config.did_method == DidMethod::kWeb) {
      did = did_web_for(public_url);
      if (!state.did.empty() && state.did != did)
        throw ConfigError("public_url", "pds: data dir " + dir.string() + " belongs to " + state.did +
                                            " but public_url gives " + did);
    } else {
      PlcIdentity plc(config, dir / "rotation.key");
      // document() needs no DID for what ensure() reads (key, handle, services).
      did = plc.ensure(state, dir / "identity.json", document());
    }
    state.did = did;
    state.save(dir / "identity.json");
  }

  // The repo and event log, the repo created when new (then true).
  bool open_repo(const std::filesystem::path& dir) {
    storage = std::make_unique<SqliteRepoStorage>((dir / "repo.sqlite").string());
    sequencer = std::make_unique<Sequencer>((dir / "events.sqlite").string(), config.sequencer);
    for (const std::string& other : storage->list_repos())
      if (other != did)
        throw ConfigError("data_dir", "pds: " + (dir / "repo.sqlite").string() + " holds the repo of " + other +
                                          ", not " + did);
    bool created = false;
    if (storage->head(did)) {
      repo = std::make_unique<Repository>(Repository::open(*storage, did));
    } else {
      repo = std::make_unique<Repository>(Repository::create(*storage, did, signing_key));
      created = true;
    }
    // A replaced signing key: the head commit no longer verifies against the
    // key the DID document announces, so re-sign it (sequenced as #sync by announce).
    if (!repo->commit().verify(signing_key.public_key())) repo->resign(signing_key);
    return created;
  }

  // Events for what changed since the last start: #identity (handle or
  // key), #account (once), and the head as #commit (a new repo) or #sync.
  void announce(PdsState& state, bool created) {
    std::string key_did = signing_key.public_key().did_key();
    if (state.announced_handle != handle || state.announced_key != key_did) {
      sequencer->append("#identity", identity_body(did, handle, now_datetime()));
      state.announced_handle = handle;
      state.announced_key = key_did;
    }
    if (!state.account_announced) {
      sequencer->append("#account", account_body(did, true, std::nullopt, now_datetime()));
      state.account_announced = true;
    }
    auto last = sequencer->last_of({"#commit", "#sync"});
    if (!last || commit_of_event(*last) != repo->head().to_string()) {
      if (created && !last)
        sequence_initial_commit();
      else
        sequence_sync();  // the head moved without an event (crash, or the re-sign in open_repo)
    }
  }

  void maybe_collect_garbage() {
    if (config.gc_every_commits == 0 || ++commits_since_gc < config.gc_every_commits) return;
    commits_since_gc = 0;
    repo->collect_garbage();
  }
};

EmbeddedPds::EmbeddedPds(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EmbeddedPds::~EmbeddedPds() {
  if (impl_ && impl_->sequencer) impl_->sequencer->close();
}

std::string EmbeddedPds::did_web_for(std::string_view public_url) {
  Origin o = parse_origin(public_url);
  std::string did = "did:web:" + o.host + (o.port.empty() ? "" : "%3A" + o.port);
  if (!syntax::is_valid_did(did)) throw ConfigError("public_url", "public_url gives an invalid did:web: " + did);
  return did;
}

std::unique_ptr<EmbeddedPds> EmbeddedPds::open(PdsConfig config) {
  if (config.data_dir.empty()) throw ConfigError("data_dir", "pds: data_dir is required");
  Origin origin = parse_origin(config.public_url);
  std::filesystem::create_directories(config.data_dir);
  const std::filesystem::path dir = config.data_dir;  // a copy: config moves into Impl below

  PdsState state = PdsState::load(dir / "identity.json");
  PrivateKey key = PrivateKey::load_or_generate((dir / "signing.key").string(), config.key_type);
  auto impl = std::make_unique<Impl>(std::move(config), std::move(key));
  Impl& p = *impl;
  p.public_url = origin_string(origin);
  // A handle has no port: "localhost:8080" would not be one.
  p.handle = p.config.handle.empty() ? origin.host : p.config.handle;
  p.handle = util::ascii_lower(p.handle);

  p.settle_did(state, dir);
  bool created = p.open_repo(dir);
  p.announce(state, created);
  state.save(dir / "identity.json");
  return std::unique_ptr<EmbeddedPds>(new EmbeddedPds(std::move(impl)));
}

const std::string& EmbeddedPds::did() const { return impl_->did; }
const std::string& EmbeddedPds::handle() const { return impl_->handle; }
const std::string& EmbeddedPds::public_url() const { return impl_->public_url; }
DidMethod EmbeddedPds::did_method() const { return impl_->config.did_method; }
PublicKey EmbeddedPds::signing_key() const { return impl_->signing_key.public_key(); }
identity::DidDocument EmbeddedPds::did_document() const { return impl_->document(); }
Value EmbeddedPds::did_document_json() const { return json::parse(impl_->document().to_json()); }

CommitResult EmbeddedPds::apply_writes(const std::vector<RecordWrite>& writes) {
  std::lock_guard lock(impl_->mu);
  CommitResult result = impl_->repo->apply_writes(writes, impl_->signing_key);
  // The commit is durable now. If sequencing fails, the error propagates
  // and the next boot sequences a #sync for the head (see the header).
  impl_->sequence_commit(result);
  impl_->maybe_collect_garbage();
  return result;
}

std::optional<Record> EmbeddedPds::get_record(std::string_view collection, std::string_view rkey) const {
  std::lock_guard lock(impl_->mu);
  return impl_->repo->get_record(collection, rkey);
}

RecordPage EmbeddedPds::list_records(std::string_view collection, std::size_t limit, std::string_view cursor,
                                     bool reverse) const {
  std::lock_guard lock(impl_->mu);
  RecordPage page;
  std::vector<RecordEntry> entries = impl_->repo->list_records(collection, limit, cursor, reverse);
  for (RecordEntry& e : entries) {
    auto record = impl_->repo->get_record(e.collection, e.rkey);
    if (!record) throw VerifyError("pds: listed record " + e.collection + "/" + e.rkey + " has vanished");
    page.records.push_back(
        {"at://" + impl_->did + "/" + e.collection + "/" + e.rkey, e.cid, std::move(record->value)});
  }
  if (limit > 0 && entries.size() == limit) page.cursor = entries.back().rkey;
  return page;
}

std::vector<std::string> EmbeddedPds::collections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->repo->collections();
}

Bytes EmbeddedPds::export_car() const {
  std::lock_guard lock(impl_->mu);
  return impl_->repo->export_car();
}

Bytes EmbeddedPds::record_proof(std::string_view collection, std::string_view rkey) const {
  std::lock_guard lock(impl_->mu);
  return impl_->repo->record_proof(collection, rkey);
}

Cid EmbeddedPds::head() const {
  std::lock_guard lock(impl_->mu);
  return impl_->repo->head();
}

std::string EmbeddedPds::rev() const {
  std::lock_guard lock(impl_->mu);
  return impl_->repo->rev();
}

RepoDescription EmbeddedPds::describe_repo() const {
  return {impl_->did, impl_->handle, collections(), did_document_json()};
}

Sequencer& EmbeddedPds::sequencer() { return *impl_->sequencer; }

std::size_t EmbeddedPds::collect_garbage() {
  std::lock_guard lock(impl_->mu);
  impl_->commits_since_gc = 0;
  return impl_->repo->collect_garbage();
}

std::size_t EmbeddedPds::trim_events() { return impl_->sequencer->trim(); }

}  // namespace atcr::pds

#include "atcr/pds/endpoints.h"

#include <cctype>
#include <string>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/error.h"
#include "atcr/pds/event_stream.h"
#include "atcr/xrpc/error.h"
#include "util/text.h"

namespace atcr::pds {

namespace {

using xrpc::ServerRequest;
using xrpc::ServerResponse;

constexpr std::string_view kCarType = "application/vnd.ipld.car";
constexpr std::int64_t kMaxSeq = (std::int64_t{1} << 53) - 1;

// Whether `given` names our DID. A did:web with a port carries "%3A"
// ("did:web:localhost%3A8080"), which a query string unescapes when the
// caller did not escape it again ("repo=<the DID from did.json>" arrives as
// "did:web:localhost:8080"): that is the same DID, since a did:web path is
// never ours (we have none).
bool is_our_did(const EmbeddedPds& pds, std::string_view given) {
  const std::string& ours = pds.did();
  if (given == ours) return true;
  if (!ours.starts_with("did:web:")) return false;
  std::string unescaped = ours;
  for (std::size_t at; (at = unescaped.find("%3A")) != std::string::npos;) unescaped.replace(at, 3, ":");
  return given == unescaped;
}

// `repo` may be our DID or our handle (repo.* methods take an at-identifier).
void require_repo(const EmbeddedPds& pds, const std::string& repo) {
  if (is_our_did(pds, repo) || util::ascii_lower(repo) == pds.handle()) return;
  throw xrpc::invalid_request("Could not find repo: " + repo, "RepoNotFound");
}

// sync.* methods take a DID only.
void require_did(const EmbeddedPds& pds, const std::string& did) {
  if (!syntax::is_valid_did(did)) throw xrpc::invalid_request("did must be a valid DID: " + did);
  if (!is_our_did(pds, did)) throw xrpc::invalid_request("Could not find repo for DID: " + did, "RepoNotFound");
}

std::string required_nsid(const ServerRequest& req, std::string_view name) {
  std::string v = req.required_param(name);
  if (!syntax::is_valid_nsid(v)) throw xrpc::invalid_request(std::string(name) + " must be a valid NSID: " + v);
  return v;
}

std::string required_rkey(const ServerRequest& req) {
  std::string v = req.required_param("rkey");
  if (!syntax::is_valid_record_key(v)) throw xrpc::invalid_request("rkey must be a valid record key: " + v);
  return v;
}

std::string body_string(const Value& body, std::string_view key, bool required) {
  const Value* v = body.find(key);
  if (!v || v->is_null()) {
    if (required) throw xrpc::invalid_request("Input must have the property \"" + std::string(key) + "\"");
    return {};
  }
  if (!v->is_string()) throw xrpc::invalid_request("Input/" + std::string(key) + " must be a string");
  return v->as_string();
}

Value commit_meta(const Cid& cid, const std::string& rev) {
  return Value(Value::Map{{"cid", Value(cid.to_string())}, {"rev", Value(rev)}});
}

void register_sync(xrpc::XrpcServer& server, EmbeddedPds& pds) {
  server.query("com.atproto.sync.getRepo", [&pds](const ServerRequest& req) {
    require_did(pds, req.required_param("did"));
    if (auto since = req.param("since"); since && !syntax::is_valid_tid(*since))
      throw xrpc::invalid_request("since must be a TID: " + *since);
    // `since` is accepted and a full repo returned (a superset; see endpoints.h).
    return ServerResponse::bytes(pds.export_car(), std::string(kCarType));
  });
  server.query("com.atproto.sync.getRecord", [&pds](const ServerRequest& req) {
    require_did(pds, req.required_param("did"));
    std::string collection = required_nsid(req, "collection");
    std::string rkey = required_rkey(req);
    if (!pds.get_record(collection, rkey))
      throw xrpc::invalid_request("Could not find record: at://" + pds.did() + "/" + collection + "/" + rkey,
                                  "RecordNotFound");
    return ServerResponse::bytes(pds.record_proof(collection, rkey), std::string(kCarType));
  });
  server.query("com.atproto.sync.getLatestCommit", [&pds](const ServerRequest& req) {
    require_did(pds, req.required_param("did"));
    return ServerResponse::json(commit_meta(pds.head(), pds.rev()));
  });
  server.query("com.atproto.sync.listRepos", [&pds](const ServerRequest& req) {
    req.int_param("limit", 1, 1000);
    Value::Array repos;
    // One repo: a cursor (the last DID of a previous page) means we are done.
    if (!req.param("cursor")) {
      repos.push_back(Value(Value::Map{{"did", Value(pds.did())},
                                       {"head", Value(pds.head().to_string())},
                                       {"rev", Value(pds.rev())},
                                       {"active", Value(true)}}));
    }
    return ServerResponse::json(Value(Value::Map{{"repos", Value(std::move(repos))}}));
  });
  server.query("com.atproto.sync.getRepoStatus", [&pds](const ServerRequest& req) {
    require_did(pds, req.required_param("did"));
    return ServerResponse::json(
        Value(Value::Map{{"did", Value(pds.did())}, {"active", Value(true)}, {"rev", Value(pds.rev())}}));
  });
}

ServerResponse describe_repo(EmbeddedPds& pds, const ServerRequest& req) {
  require_repo(pds, req.required_param("repo"));
  RepoDescription d = pds.describe_repo();
  Value::Array collections;
  for (std::string& c : d.collections) collections.push_back(Value(std::move(c)));
  return ServerResponse::json(Value(Value::Map{{"handle", Value(d.handle)},
                                               {"did", Value(d.did)},
                                               {"didDoc", std::move(d.did_document)},
                                               {"collections", Value(std::move(collections))},
                                               {"handleIsCorrect", Value(true)}}));
}

ServerResponse get_record(EmbeddedPds& pds, const ServerRequest& req) {
  require_repo(pds, req.required_param("repo"));
  std::string collection = required_nsid(req, "collection");
  std::string rkey = required_rkey(req);
  std::string uri = "at://" + pds.did() + "/" + collection + "/" + rkey;
  auto record = pds.get_record(collection, rkey);
  auto want = req.param("cid");
  if (!record || (want && *want != record->cid.to_string()))
    throw xrpc::invalid_request("Could not locate record: " + uri, "RecordNotFound");
  return ServerResponse::json(Value(Value::Map{
      {"uri", Value(uri)}, {"cid", Value(record->cid.to_string())}, {"value", std::move(record->value)}}));
}

ServerResponse list_records(EmbeddedPds& pds, const ServerRequest& req) {
  require_repo(pds, req.required_param("repo"));
  std::string collection = required_nsid(req, "collection");
  auto limit = req.int_param("limit", 1, 100).value_or(50);
  std::string cursor = req.param("cursor").value_or("");
  if (!cursor.empty() && !syntax::is_valid_record_key(cursor))
    throw xrpc::invalid_request("cursor must be a record key: " + cursor);
  bool reverse = req.bool_param("reverse", false);
  RecordPage page = pds.list_records(collection, static_cast<std::size_t>(limit), cursor, reverse);
  Value::Array records;
  for (ListedRecord& r : page.records)
    records.push_back(Value(Value::Map{
        {"uri", Value(r.uri)}, {"cid", Value(r.cid.to_string())}, {"value", std::move(r.value)}}));
  Value::Map out{{"records", Value(std::move(records))}};
  if (page.cursor) out.emplace("cursor", Value(*page.cursor));
  return ServerResponse::json(Value(std::move(out)));
}

// deleteRecord, once authorize_write let the caller through.
ServerResponse delete_record(EmbeddedPds& pds, const ServerRequest& req) {
  Value body = req.json();
  require_repo(pds, body_string(body, "repo", true));
  std::string collection = body_string(body, "collection", true);
  std::string rkey = body_string(body, "rkey", true);
  if (!syntax::is_valid_nsid(collection)) throw xrpc::invalid_request("collection must be a valid NSID");
  if (!syntax::is_valid_record_key(rkey)) throw xrpc::invalid_request("rkey must be a valid record key");
  std::string swap_commit = body_string(body, "swapCommit", false);
  std::string swap_record = body_string(body, "swapRecord", false);
  if (!swap_commit.empty() && swap_commit != pds.head().to_string())
    throw xrpc::invalid_request("Commit was at " + pds.head().to_string(), "InvalidSwap");
  auto current = pds.get_record(collection, rkey);
  if (!swap_record.empty() && (!current || current->cid.to_string() != swap_record))
    throw xrpc::invalid_request("Record was at " + (current ? current->cid.to_string() : "null"), "InvalidSwap");
  // Deleting a missing record is a successful no-op, as in the reference.
  if (!current) return ServerResponse::json(Value(Value::Map{}));
  std::optional<CommitResult> result;
  try {
    result = pds.apply_writes({RecordWrite::remove(collection, rkey)});
  } catch (const ParseError& e) {
    // A concurrent delete won the race; report it as the client's problem.
    throw xrpc::invalid_request(e.what());
  }
  return ServerResponse::json(Value(Value::Map{{"commit", commit_meta(result->commit, result->rev)}}));
}

void register_repo(xrpc::XrpcServer& server, EmbeddedPds& pds, const EndpointOptions& options) {
  server.query("com.atproto.repo.describeRepo", [&pds](const ServerRequest& req) { return describe_repo(pds, req); });
  server.query("com.atproto.repo.getRecord", [&pds](const ServerRequest& req) { return get_record(pds, req); });
  server.query("com.atproto.repo.listRecords", [&pds](const ServerRequest& req) { return list_records(pds, req); });
  auto authorize = options.authorize_write;
  server.procedure("com.atproto.repo.deleteRecord", [&pds, authorize](const ServerRequest& req) {
    if (!authorize) throw xrpc::auth_required("This PDS accepts no writes over XRPC");
    authorize(req);
    return delete_record(pds, req);
  });
}

void register_identity(xrpc::XrpcServer& server, EmbeddedPds& pds) {
  server.query("com.atproto.server.describeServer", [&pds](const ServerRequest&) {
    return ServerResponse::json(Value(Value::Map{{"did", Value(pds.did())},
                                                 {"availableUserDomains", Value(Value::Array{})},
                                                 {"inviteCodeRequired", Value(true)}}));
  });
  server.query("com.atproto.identity.resolveHandle", [&pds](const ServerRequest& req) {
    std::string handle = util::ascii_lower(req.required_param("handle"));
    if (handle != pds.handle()) throw xrpc::invalid_request("Unable to resolve handle", "HandleNotFound");
    return ServerResponse::json(Value(Value::Map{{"did", Value(pds.did())}}));
  });
  server.route("GET", "/\\.well-known/did\\.json", [&pds](const ServerRequest&) {
    if (pds.did_method() != DidMethod::kWeb)
      throw xrpc::not_found("This PDS's DID is " + pds.did() + ", not a did:web");
    return ServerResponse::json_text(pds.did_document().to_json());
  });
  server.route("GET", "/\\.well-known/atproto-did", [&pds](const ServerRequest&) {
    return ServerResponse::text(pds.did(), "text/plain; charset=utf-8");
  });
}

}  // namespace

FirehoseSessions::Snapshot FirehoseSessions::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot s;
  s.sessions = at_.size();
  for (const auto& [id, seq] : at_)
    if (!s.oldest_sent || seq < *s.oldest_sent) s.oldest_sent = seq;
  return s;
}

std::uint64_t FirehoseSessions::open(std::int64_t position) {
  std::lock_guard lock(mu_);
  at_[++next_] = position;
  return next_;
}

void FirehoseSessions::sent(std::uint64_t id, std::int64_t seq) {
  std::lock_guard lock(mu_);
  if (auto it = at_.find(id); it != at_.end()) it->second = seq;
}

void FirehoseSessions::close(std::uint64_t id) {
  std::lock_guard lock(mu_);
  at_.erase(id);
}

namespace {

// A session's place in FirehoseSessions, for as long as it lives.
class SessionPosition {
 public:
  SessionPosition(FirehoseSessions* sessions, std::int64_t position)
      : sessions_(sessions), id_(sessions ? sessions->open(position) : 0) {}
  ~SessionPosition() {
    if (sessions_) sessions_->close(id_);
  }
  SessionPosition(const SessionPosition&) = delete;
  SessionPosition& operator=(const SessionPosition&) = delete;
  void sent(std::int64_t seq) {
    if (sessions_) sessions_->sent(id_, seq);
  }

 private:
  FirehoseSessions* sessions_;
  std::uint64_t id_;
};

}  // namespace

void serve_firehose(Sequencer& sequencer, xrpc::WebSocket& socket, std::optional<std::int64_t> cursor,
                    const EndpointOptions& options) {
  std::int64_t last = sequencer.current_seq();
  if (cursor) {
    if (*cursor > last) {
      socket.send_binary(encode_error_frame("FutureCursor", "Cursor in the future."));
      return;
    }
    auto oldest = sequencer.oldest_seq();
    if (oldest && *cursor + 1 < *oldest)
      socket.send_binary(encode_message_frame(
          "#info", info_body("OutdatedCursor", "Requested cursor exceeded limit. Possibly missing events")));
    last = *cursor;
  }
  SessionPosition position(options.sessions.get(), last);
  std::size_t batch = options.firehose_batch == 0 ? 1 : options.firehose_batch;
  while (!socket.closed() && !sequencer.closed()) {
    std::vector<SequencedEvent> events = sequencer.read_after(last, batch);
    if (events.empty()) {
      sequencer.wait_for_new(last, options.firehose_poll);
      continue;
    }
    for (const SequencedEvent& e : events) {
      if (!socket.send_binary(e.frame)) return;
      last = e.seq;
    }
    position.sent(last);
  }
}

void register_endpoints(xrpc::XrpcServer& server, EmbeddedPds& pds, EndpointOptions options) {
  register_sync(server, pds);
  register_repo(server, pds, options);
  register_identity(server, pds);
  if (!options.subscribe_repos) return;
  server.subscription("com.atproto.sync.subscribeRepos",
                      [&pds, options](const ServerRequest& req, xrpc::WebSocket& socket) {
                        std::optional<std::int64_t> cursor;
                        try {
                          cursor = req.int_param("cursor", 0, kMaxSeq);
                        } catch (const xrpc::XrpcError& e) {
                          // Event streams report errors as frames, not HTTP.
                          socket.send_binary(encode_error_frame(e.error(), e.message()));
                          return;
                        }
                        serve_firehose(pds.sequencer(), socket, cursor, options);
                      });
}

}  // namespace atcr::pds

#include "atcr/pds/event_stream.h"

#include <string>

#include "atcr/data/car.h"
#include "atcr/data/cbor.h"
#include "atcr/error.h"

namespace atcr::pds {

namespace {

std::string_view action_name(RecordWrite::Action action) {
  switch (action) {
    case RecordWrite::Action::kCreate:
      return "create";
    case RecordWrite::Action::kUpdate:
      return "update";
    case RecordWrite::Action::kDelete:
      return "delete";
  }
  return "create";  // unreachable: the enum is closed
}

Value op_value(const RecordOp& op) {
  Value::Map m;
  m.emplace("action", std::string(action_name(op.action)));
  m.emplace("path", op.path);
  m.emplace("cid", op.cid ? Value(*op.cid) : Value());
  // sync v1.1: `prev` lets a consumer invert updates and deletes against
  // prevData without holding the repo. Creates have no previous record.
  if (op.prev) m.emplace("prev", Value(*op.prev));
  return Value(std::move(m));
}

Bytes commit_car(const CommitResult& commit) { return car::write({commit.commit}, commit.proof_blocks); }

}  // namespace

Bytes encode_message_frame(std::string_view type, const Value& body) {
  Bytes out;
  cbor::encode_to(out, Value(Value::Map{{"op", Value(1)}, {"t", Value(type)}}));
  cbor::encode_to(out, body);
  return out;
}

Bytes encode_error_frame(std::string_view error, std::string_view message) {
  Value::Map body{{"error", Value(error)}};
  if (!message.empty()) body.emplace("message", Value(message));
  Bytes out;
  cbor::encode_to(out, Value(Value::Map{{"op", Value(-1)}}));
  cbor::encode_to(out, Value(std::move(body)));
  return out;
}

Frame decode_frame(BytesView frame) {
  if (frame.size() > kMaxFrameBytes)
    throw ParseError("event stream: frame of " + std::to_string(frame.size()) + " bytes exceeds the " +
                     std::to_string(kMaxFrameBytes) + "-byte limit");
  cbor::Prefix header = cbor::decode_prefix(frame);
  if (!header.value.is_map()) throw ParseError("event stream: frame header is not a map");
  Frame out;
  const Value* op = header.value.find("op");
  if (!op || !op->is_integer()) throw ParseError("event stream: frame header has no integer op");
  if (op->as_integer() == 1) {
    const Value* t = header.value.find("t");
    if (!t || !t->is_string()) throw ParseError("event stream: message frame header has no string t");
    out.type = t->as_string();
  } else if (op->as_integer() != -1) {
    throw ParseError("event stream: unknown frame op " + std::to_string(op->as_integer()));
  }
  out.op = static_cast<int>(op->as_integer());
  if (header.length == frame.size()) throw ParseError("event stream: frame has a header but no body");
  out.body = cbor::decode(frame.subspan(header.length));  // rejects trailing bytes
  if (!out.body.is_map()) throw ParseError("event stream: frame body is not a map");
  if (out.op == -1) {
    const Value* error = out.body.find("error");
    if (!error || !error->is_string()) throw ParseError("event stream: error frame body has no string error");
  }
  return out;
}

std::size_t commit_blocks_size(const CommitResult& commit) { return commit_car(commit).size(); }

Value commit_body(std::string_view did, const CommitResult& commit, std::string_view time) {
  if (commit.ops.size() > kMaxCommitOps)
    throw ParseError("event stream: commit has " + std::to_string(commit.ops.size()) + " ops, over the " +
                     std::to_string(kMaxCommitOps) + " a #commit message may carry");
  Value::Array ops;
  ops.reserve(commit.ops.size());
  for (const RecordOp& op : commit.ops) ops.push_back(op_value(op));
  Value::Map m;
  m.emplace("repo", Value(did));
  m.emplace("commit", Value(commit.commit));
  m.emplace("rev", Value(commit.rev));
  m.emplace("since", commit.since ? Value(*commit.since) : Value());
  m.emplace("blocks", Value(commit_car(commit)));
  m.emplace("ops", Value(std::move(ops)));
  m.emplace("blobs", Value(Value::Array{}));  // deprecated, still required
  m.emplace("rebase", Value(false));           // deprecated, still required
  m.emplace("tooBig", Value(false));           // deprecated, still required
  m.emplace("time", Value(time));
  if (commit.prev_data) m.emplace("prevData", Value(*commit.prev_data));
  return Value(std::move(m));
}

Value sync_body(std::string_view did, const Cid& commit, BytesView commit_block, std::string_view rev,
                std::string_view time) {
  BlockMap blocks;
  blocks.put(commit, Bytes(commit_block.begin(), commit_block.end()));
  Value::Map m;
  m.emplace("did", Value(did));
  m.emplace("rev", Value(rev));
  m.emplace("blocks", Value(car::write({commit}, blocks)));
  m.emplace("time", Value(time));
  return Value(std::move(m));
}

Value identity_body(std::string_view did, const std::optional<std::string>& handle, std::string_view time) {
  Value::Map m{{"did", Value(did)}, {"time", Value(time)}};
  if (handle) m.emplace("handle", Value(*handle));
  return Value(std::move(m));
}

Value account_body(std::string_view did, bool active, const std::optional<std::string>& status,
                   std::string_view time) {
  Value::Map m{{"did", Value(did)}, {"time", Value(time)}, {"active", Value(active)}};
  if (!active && status) m.emplace("status", Value(*status));
  return Value(std::move(m));
}

Value info_body(std::string_view name, std::string_view message) {
  Value::Map m{{"name", Value(name)}};
  if (!message.empty()) m.emplace("message", Value(message));
  return Value(std::move(m));
}

}  // namespace atcr::pds

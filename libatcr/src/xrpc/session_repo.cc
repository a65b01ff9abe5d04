// PdsSession's repo calls: com.atproto.repo.*, sync.getRecord and
// server.getServiceAuth, with their inputs checked before anything is sent.
#include <fmt/core.h>

#include "atcr/data/syntax.h"
#include "atcr/xrpc/session.h"
#include "xrpc/session_impl.h"

namespace atcr::xrpc {

namespace {

const Value& field(const Value& v, std::string_view name, std::string_view what) {
  const Value* f = v.is_map() ? v.find(name) : nullptr;
  if (f == nullptr) throw ParseError(fmt::format("{}: response has no \"{}\"", what, name));
  return *f;
}

const std::string& string_field(const Value& v, std::string_view name, std::string_view what) {
  const Value& f = field(v, name, what);
  if (!f.is_string())
    throw ParseError(fmt::format("{}: \"{}\" is {}, not a string", what, name, kind_name(f.kind())));
  return f.as_string();
}

WriteResult parse_write(const Value& out, std::string_view what) {
  return WriteResult{string_field(out, "uri", what), Cid::parse(string_field(out, "cid", what))};
}

Record parse_record(const Value& v, std::string_view what) {
  Record r;
  r.uri = string_field(v, "uri", what);
  if (const Value* cid = v.find("cid"); cid && !cid->is_null()) {
    if (!cid->is_string()) throw ParseError(fmt::format("{}: \"cid\" is not a string", what));
    r.cid = Cid::parse(cid->as_string());
  }
  r.value = field(v, "value", what);
  return r;
}

void check_collection(std::string_view collection) { syntax::validate_nsid(collection); }

void check_rkey(std::string_view rkey) { syntax::validate_record_key(rkey); }

}  // namespace

WriteOp WriteOp::create(std::string collection, Value record, std::string rkey) {
  return WriteOp{Action::kCreate, std::move(collection), std::move(rkey), std::move(record)};
}

WriteOp WriteOp::update(std::string collection, std::string rkey, Value record) {
  return WriteOp{Action::kUpdate, std::move(collection), std::move(rkey), std::move(record)};
}

WriteOp WriteOp::remove(std::string collection, std::string rkey) {
  return WriteOp{Action::kDelete, std::move(collection), std::move(rkey), Value()};
}

WriteResult PdsSession::create_record(std::string_view collection, const Value& record,
                                      std::string_view rkey, std::optional<bool> validate) const {
  check_collection(collection);
  Value::Map input{{"repo", did()}, {"collection", Value(collection)}, {"record", record}};
  if (!rkey.empty()) {
    check_rkey(rkey);
    input.emplace("rkey", Value(rkey));
  }
  if (validate) input.emplace("validate", *validate);
  return parse_write(procedure("com.atproto.repo.createRecord", Value(std::move(input))),
                     "com.atproto.repo.createRecord");
}

WriteResult PdsSession::put_record(std::string_view collection, std::string_view rkey,
                                   const Value& record, const std::optional<Cid>& swap_record,
                                   std::optional<bool> validate) const {
  check_collection(collection);
  check_rkey(rkey);
  Value::Map input{{"repo", did()},
                   {"collection", Value(collection)},
                   {"rkey", Value(rkey)},
                   {"record", record}};
  if (swap_record) input.emplace("swapRecord", swap_record->to_string());
  if (validate) input.emplace("validate", *validate);
  return parse_write(procedure("com.atproto.repo.putRecord", Value(std::move(input))),
                     "com.atproto.repo.putRecord");
}

void PdsSession::delete_record(std::string_view collection, std::string_view rkey,
                               const std::optional<Cid>& swap_record) const {
  check_collection(collection);
  check_rkey(rkey);
  Value::Map input{{"repo", did()}, {"collection", Value(collection)}, {"rkey", Value(rkey)}};
  if (swap_record) input.emplace("swapRecord", swap_record->to_string());
  procedure("com.atproto.repo.deleteRecord", Value(std::move(input)));
}

Value PdsSession::apply_writes(const std::vector<WriteOp>& writes, std::optional<bool> validate,
                               const std::optional<Cid>& swap_commit) const {
  Value::Array ops;
  ops.reserve(writes.size());
  for (const WriteOp& w : writes) {
    check_collection(w.collection);
    Value::Map op{{"collection", w.collection}};
    switch (w.action) {
      case WriteOp::Action::kCreate:
        op.emplace("$type", "com.atproto.repo.applyWrites#create");
        if (!w.rkey.empty()) {
          check_rkey(w.rkey);
          op.emplace("rkey", w.rkey);
        }
        op.emplace("value", w.value);
        break;
      case WriteOp::Action::kUpdate:
        check_rkey(w.rkey);
        op.emplace("$type", "com.atproto.repo.applyWrites#update");
        op.emplace("rkey", w.rkey);
        op.emplace("value", w.value);
        break;
      case WriteOp::Action::kDelete:
        check_rkey(w.rkey);
        op.emplace("$type", "com.atproto.repo.applyWrites#delete");
        op.emplace("rkey", w.rkey);
        break;
    }
    ops.emplace_back(std::move(op));
  }
  Value::Map input{{"repo", did()}, {"writes", std::move(ops)}};
  if (validate) input.emplace("validate", *validate);
  if (swap_commit) input.emplace("swapCommit", swap_commit->to_string());
  return procedure("com.atproto.repo.applyWrites", Value(std::move(input)));
}

Value PdsSession::upload_blob(BytesView data, std::string_view mime_type) const {
  if (mime_type.empty()) throw ParseError("com.atproto.repo.uploadBlob: a MIME type is required");
  XrpcResponse response = call("POST", "com.atproto.repo.uploadBlob", {}, data, mime_type);
  Value out = response.json();
  const Value& blob = field(out, "blob", "com.atproto.repo.uploadBlob");
  if (!blob.is_map())
    throw ParseError("com.atproto.repo.uploadBlob: \"blob\" is not a blob reference");
  return blob;
}

std::optional<Record> PdsSession::get_record(std::string_view repo, std::string_view collection,
                                             std::string_view rkey) const {
  check_collection(collection);
  check_rkey(rkey);
  Params params;
  params.add("repo", repo.empty() ? did() : std::string(repo))
      .add("collection", collection)
      .add("rkey", rkey);
  Value out;
  try {
    out = query("com.atproto.repo.getRecord", params);
  } catch (const XrpcError& e) {
    // The reference PDS answers 400 RecordNotFound; some answer 404.
    if (e.error() == "RecordNotFound") return std::nullopt;
    throw;
  }
  return parse_record(out, "com.atproto.repo.getRecord");
}

RecordPage PdsSession::list_records(std::string_view repo, std::string_view collection,
                                    const ListRecordsOptions& options) const {
  check_collection(collection);
  Params params;
  params.add("repo", repo.empty() ? did() : std::string(repo)).add("collection", collection);
  if (options.limit) params.add("limit", *options.limit);
  if (!options.cursor.empty()) params.add("cursor", options.cursor);
  if (options.reverse) params.add("reverse", true);
  Value out = query("com.atproto.repo.listRecords", params);

  constexpr std::string_view what = "com.atproto.repo.listRecords";
  RecordPage page;
  const Value& records = field(out, "records", what);
  if (!records.is_array()) throw ParseError("com.atproto.repo.listRecords: \"records\" is not an array");
  for (const Value& r : records.as_array()) page.records.push_back(parse_record(r, what));
  if (const Value* cursor = out.find("cursor"); cursor && cursor->is_string() &&
                                                !cursor->as_string().empty())
    page.cursor = cursor->as_string();
  return page;
}

Value PdsSession::describe_repo(std::string_view repo) const {
  return query("com.atproto.repo.describeRepo",
               Params().add("repo", repo.empty() ? did() : std::string(repo)));
}

Bytes PdsSession::sync_get_record(std::string_view did, std::string_view collection,
                                  std::string_view rkey) const {
  check_collection(collection);
  check_rkey(rkey);
  Params params;
  params.add("did", did.empty() ? this->did() : std::string(did))
      .add("collection", collection)
      .add("rkey", rkey);
  return call("GET", "com.atproto.sync.getRecord", params, {}, {}).body;
}

std::string PdsSession::get_service_auth(std::string_view aud, std::string_view lxm,
                                         std::optional<std::int64_t> exp) const {
  syntax::validate_did(aud.substr(0, aud.find('#')));
  Params params;
  params.add("aud", aud);
  if (!lxm.empty()) {
    syntax::validate_nsid(lxm);
    params.add("lxm", lxm);
  }
  if (exp) params.add("exp", *exp);
  Value out = query("com.atproto.server.getServiceAuth", params);
  return string_field(out, "token", "com.atproto.server.getServiceAuth");
}

}  // namespace atcr::xrpc

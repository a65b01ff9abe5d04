#include "atcr/data/json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>

#include "atcr/encoding/base64.h"
#include "atcr/error.h"

namespace atcr::json {

namespace {

// Doubles can represent every integer up to 2^53 exactly; beyond that a
// "123.0"-style number may already have been rounded by the parser.
constexpr double kMaxExactDouble = 9007199254740992.0;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw ParseError("json: " + what + " at " + (path.empty() ? "top level" : path));
}

Value convert(const rapidjson::Value& j, const std::string& path, std::size_t depth,
              std::size_t max_depth);

Value convert_number(const rapidjson::Value& j, const std::string& path) {
  if (j.IsInt64()) return Value(j.GetInt64());
  if (j.IsUint64()) fail(path, "integer exceeds the signed 64-bit range");
  double d = j.GetDouble();
  if (std::trunc(d) != d || std::fabs(d) > kMaxExactDouble)
    fail(path, "floating-point numbers are not allowed in atproto data");
  return Value(static_cast<std::int64_t>(d));
}

// {"$link": "<cid>"} and {"$bytes": "<base64>"} must stand alone.
bool convert_special(const rapidjson::Value& j, const std::string& path, Value& out) {
  auto only = [&](const char* key) -> const rapidjson::Value* {
    auto it = j.FindMember(key);
    if (it == j.MemberEnd()) return nullptr;
    if (j.MemberCount() != 1) fail(path, std::string("\"") + key + "\" object has extra keys");
    if (!it->value.IsString()) fail(path, std::string("\"") + key + "\" must be a string");
    return &it->value;
  };
  if (auto* link = only("$link")) {
    try {
      out = Value(Cid::parse(std::string_view(link->GetString(), link->GetStringLength())));
    } catch (const ParseError& e) {
      fail(path, std::string("invalid $link: ") + e.what());
    }
    return true;
  }
  if (auto* bytes = only("$bytes")) {
    try {
      out = Value(base64::decode(std::string_view(bytes->GetString(), bytes->GetStringLength())));
    } catch (const ParseError& e) {
      fail(path, std::string("invalid $bytes: ") + e.what());
    }
    return true;
  }
  return false;
}

Value convert(const rapidjson::Value& j, const std::string& path, std::size_t depth,
              std::size_t max_depth) {
  if (depth > max_depth) fail(path, "nesting deeper than " + std::to_string(max_depth));
  switch (j.GetType()) {
    case rapidjson::kNullType: return Value(nullptr);
    case rapidjson::kFalseType: return Value(false);
    case rapidjson::kTrueType: return Value(true);
    case rapidjson::kNumberType: return convert_number(j, path);
    case rapidjson::kStringType: return Value(std::string(j.GetString(), j.GetStringLength()));
    case rapidjson::kArrayType: {
      Value::Array items;
      items.reserve(j.Size());
      for (rapidjson::SizeType i = 0; i < j.Size(); ++i)
        items.push_back(convert(j[i], path + "[" + std::to_string(i) + "]", depth + 1, max_depth));
      return Value(std::move(items));
    }
    case rapidjson::kObjectType: {
      Value special;
      if (convert_special(j, path, special)) return special;
      Value::Map entries;
      for (const auto& m : j.GetObject()) {
        std::string key(m.name.GetString(), m.name.GetStringLength());
        std::string child = path + "." + key;
        if (entries.count(key)) fail(child, "duplicate key");
        Value v = convert(m.value, child, depth + 1, max_depth);
        entries.emplace(std::move(key), std::move(v));
      }
      return Value(std::move(entries));
    }
  }
  fail(path, "unknown JSON type");
}

void check_blob(const Value::Map& m, const std::string& path) {
  const Value* ref = nullptr;
  const Value* mime = nullptr;
  const Value* size = nullptr;
  for (const auto& [k, v] : m) {
    if (k == "ref") ref = &v;
    else if (k == "mimeType") mime = &v;
    else if (k == "size") size = &v;
  }
  if (!ref || !ref->is_link()) fail(path, "blob needs a \"ref\" link");
  if (!mime || !mime->is_string() || mime->as_string().empty())
    fail(path, "blob needs a non-empty \"mimeType\" string");
  if (!size || !size->is_integer() || size->as_integer() < 0)
    fail(path, "blob needs a non-negative integer \"size\"");
}

// The rules of the data model that JSON syntax alone does not enforce:
// `$type`, where present, is a non-empty string; blobs are well-formed.
void check_data(const Value& v, const std::string& path) {
  if (v.is_array()) {
    std::size_t i = 0;
    for (const Value& item : v.as_array()) check_data(item, path + "[" + std::to_string(i++) + "]");
    return;
  }
  if (!v.is_map()) return;
  const Value::Map& m = v.as_map();
  if (auto it = m.find("$type"); it != m.end()) {
    if (!it->second.is_string() || it->second.as_string().empty())
      fail(path + ".$type", "$type must be a non-empty string");
    if (it->second.as_string() == "blob") check_blob(m, path);
  }
  for (const auto& [k, item] : m) check_data(item, path + "." + k);
}

void write(rapidjson::Writer<rapidjson::StringBuffer>& w, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull: w.Null(); break;
    case Value::Kind::kBool: w.Bool(v.as_bool()); break;
    case Value::Kind::kInteger: w.Int64(v.as_integer()); break;
    case Value::Kind::kString: {
      const std::string& s = v.as_string();
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      break;
    }
    case Value::Kind::kBytes: {
      w.StartObject();
      w.Key("$bytes");
      std::string b = base64::encode_unpadded(v.as_bytes());
      w.String(b.data(), static_cast<rapidjson::SizeType>(b.size()));
      w.EndObject();
      break;
    }
    case Value::Kind::kLink: {
      w.StartObject();
      w.Key("$link");
      std::string c = v.as_link().to_string();
      w.String(c.data(), static_cast<rapidjson::SizeType>(c.size()));
      w.EndObject();
      break;
    }
    case Value::Kind::kArray:
      w.StartArray();
      for (const Value& item : v.as_array()) write(w, item);
      w.EndArray();
      break;
    case Value::Kind::kMap:
      w.StartObject();
      for (const auto& [k, item] : v.as_map()) {
        w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        write(w, item);
      }
      w.EndObject();
      break;
  }
}

}  // namespace

Value parse(std::string_view text, std::size_t max_depth) {
  rapidjson::Document doc;
  // Iterative parsing keeps hostile nesting off the C++ stack; full
  // precision so 2^53-adjacent integers are not rounded.
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag |
                              rapidjson::kParseValidateEncodingFlag;
  doc.Parse<kFlags>(text.data(), text.size());
  if (doc.HasParseError()) {
    throw ParseError(std::string("json: ") + rapidjson::GetParseError_En(doc.GetParseError()) +
                     " at offset " + std::to_string(doc.GetErrorOffset()));
  }
  Value v = convert(doc, "", 0, max_depth);
  check_data(v, "");
  return v;
}

Value parse_record(std::string_view text, std::size_t max_depth) {
  Value v = parse(text, max_depth);
  if (!v.is_map()) throw ParseError("json: a record must be an object");
  return v;
}

void validate_record(const Value& value) {
  if (!value.is_map()) throw ParseError("record: must be a map");
  check_data(value, "");
}

std::string serialize(const Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  write(w, value);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace atcr::json

#include "atcr/data/value.h"

#include <utility>

#include "atcr/error.h"

namespace atcr {

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::kNull: return "null";
    case Value::Kind::kBool: return "boolean";
    case Value::Kind::kInteger: return "integer";
    case Value::Kind::kString: return "string";
    case Value::Kind::kBytes: return "bytes";
    case Value::Kind::kArray: return "array";
    case Value::Kind::kMap: return "map";
    case Value::Kind::kLink: return "link";
  }
  return "unknown";
}

namespace {
[[noreturn]] void wrong_kind(Value::Kind want, Value::Kind got) {
  throw ParseError(std::string("expected ") + kind_name(want) + ", found " + kind_name(got));
}
}  // namespace

template <class T>
const T& Value::get(Kind want) const {
  if (auto* p = std::get_if<T>(&v_)) return *p;
  wrong_kind(want, kind());
}

bool Value::as_bool() const { return get<bool>(Kind::kBool); }
std::int64_t Value::as_integer() const { return get<std::int64_t>(Kind::kInteger); }
const std::string& Value::as_string() const { return get<std::string>(Kind::kString); }
const Bytes& Value::as_bytes() const { return get<Bytes>(Kind::kBytes); }
const Value::Array& Value::as_array() const { return get<Array>(Kind::kArray); }
const Value::Map& Value::as_map() const { return get<Map>(Kind::kMap); }
const Cid& Value::as_link() const { return get<LinkBox>(Kind::kLink).get(); }

// The mutable accessors reuse the checked const ones.
Value::Array& Value::as_array() { return const_cast<Array&>(std::as_const(*this).as_array()); }
Value::Map& Value::as_map() { return const_cast<Map&>(std::as_const(*this).as_map()); }

const Value* Value::find(std::string_view key) const {
  auto* m = std::get_if<Map>(&v_);
  if (!m) return nullptr;
  auto it = m->find(key);
  return it == m->end() ? nullptr : &it->second;
}

const Value& Value::at(std::string_view key) const {
  const Map& m = as_map();
  auto it = m.find(key);
  if (it == m.end()) throw ParseError("missing key \"" + std::string(key) + "\"");
  return it->second;
}

}  // namespace atcr

#include "record_fields.h"

#include <fmt/core.h>

#include "atcr/error.h"

namespace atcr::oci::detail {

void bad_field(std::string_view where, std::string_view key, std::string_view why) {
  throw ParseError(fmt::format("record: {}{}{}: {}", where, where.empty() ? "" : ".", key, why));
}

const Value::Map& record_map(const Value& v, std::string_view where) {
  if (!v.is_map()) throw ParseError(fmt::format("record: {} must be a map, not {}", where, kind_name(v.kind())));
  return v.as_map();
}

std::string string_field(const Value& m, std::string_view key, std::string_view where) {
  const Value* v = m.find(key);
  if (!v) return {};
  if (!v->is_string()) bad_field(where, key, fmt::format("must be a string, not {}", kind_name(v->kind())));
  return v->as_string();
}

std::string required_string(const Value& m, std::string_view key, std::string_view where) {
  if (!m.find(key)) bad_field(where, key, "is required");
  return string_field(m, key, where);
}

std::optional<std::int64_t> integer_field(const Value& m, std::string_view key, std::string_view where) {
  const Value* v = m.find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer()) bad_field(where, key, fmt::format("must be an integer, not {}", kind_name(v->kind())));
  return v->as_integer();
}

Digest digest_field(const Value& m, std::string_view key, std::string_view where) {
  std::string text = required_string(m, key, where);
  try {
    return Digest::parse(text);
  } catch (const ParseError& e) {
    bad_field(where, key, e.what());
  }
}

}  // namespace atcr::oci::detail

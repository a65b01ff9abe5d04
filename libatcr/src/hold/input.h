// Internal: reading XRPC JSON inputs, with errors that name the field.
#pragma once

#include <fmt/core.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/data/value.h"
#include "atcr/xrpc/error.h"

namespace atcr::hold::input {

[[noreturn]] inline void invalid(std::string_view message) {
  throw xrpc::XrpcError(400, "InvalidRequest", std::string(message));
}

inline const Value* field(const Value& in, std::string_view key) {
  return in.is_map() ? in.find(key) : nullptr;
}

inline std::optional<std::string> optional_string(const Value& in, std::string_view key, std::size_t max_len) {
  const Value* v = field(in, key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) invalid(fmt::format("{} must be a string", key));
  if (v->as_string().size() > max_len) invalid(fmt::format("{} is longer than {} bytes", key, max_len));
  return v->as_string();
}

inline std::string required_string(const Value& in, std::string_view key, std::size_t max_len) {
  auto s = optional_string(in, key, max_len);
  if (!s || s->empty()) invalid(fmt::format("{} is required", key));
  return *s;
}

inline std::int64_t required_integer(const Value& in, std::string_view key, std::int64_t min, std::int64_t max) {
  const Value* v = field(in, key);
  if (!v) invalid(fmt::format("{} is required", key));
  if (!v->is_integer()) invalid(fmt::format("{} must be an integer", key));
  std::int64_t n = v->as_integer();
  if (n < min || n > max) invalid(fmt::format("{} must be between {} and {}", key, min, max));
  return n;
}

// Lenient readers of records and reports the hold wrote itself: a
// missing field, or one of another type, reads as "" / false / 0.
inline std::string record_string(const Value& record, std::string_view key) {
  const Value* v = record.find(key);
  return v && v->is_string() ? v->as_string() : std::string();
}
inline bool record_bool(const Value& record, std::string_view key) {
  const Value* v = record.find(key);
  return v && v->is_bool() && v->as_bool();
}
// A count: a non-negative integer, else 0.
inline std::int64_t record_count(const Value& record, std::string_view key) {
  const Value* v = record.find(key);
  return v && v->is_integer() && v->as_integer() > 0 ? v->as_integer() : 0;
}

}  // namespace atcr::hold::input

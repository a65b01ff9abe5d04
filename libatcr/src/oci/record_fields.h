// Internal: typed, lenient field access for reading ATCR records, shared by
// records.cc and hold_records.cc. Absent fields are fine; present fields of
// the wrong type are ParseErrors naming "<where>.<key>".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/data/value.h"
#include "atcr/oci/digest.h"

namespace atcr::oci::detail {

[[noreturn]] void bad_field(std::string_view where, std::string_view key, std::string_view why);

// The map or a ParseError.
const Value::Map& record_map(const Value& v, std::string_view where);

// "" when absent.
std::string string_field(const Value& m, std::string_view key, std::string_view where);
// Throws when absent too.
std::string required_string(const Value& m, std::string_view key, std::string_view where);
std::optional<std::int64_t> integer_field(const Value& m, std::string_view key, std::string_view where);
Digest digest_field(const Value& m, std::string_view key, std::string_view where);

}  // namespace atcr::oci::detail

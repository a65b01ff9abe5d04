// atproto's JSON representation of the data model.
//
// Links are {"$link": "<cid>"}, byte strings {"$bytes": "<base64>"}, blobs
// {"$type": "blob", "ref": {"$link": ...}, "mimeType": ..., "size": N}.
// Numbers must be integers (123.0 is accepted as 123; 1.5 is rejected), and
// the reserved `$` forms are validated strictly: extra keys beside $link or
// $bytes, a non-string $type, or a malformed blob are ParseErrors.
#pragma once

#include <string>
#include <string_view>

#include "atcr/data/value.h"

namespace atcr::json {

constexpr std::size_t kDefaultMaxDepth = 64;

// Parses atproto JSON into a Value. Throws ParseError.
Value parse(std::string_view text, std::size_t max_depth = kDefaultMaxDepth);

// parse() for a record or data-model document: the top level must be an
// object.
Value parse_record(std::string_view text, std::size_t max_depth = kDefaultMaxDepth);

// Serialises a Value as atproto JSON (compact).
std::string serialize(const Value& value);

// Checks the atproto rules for a record: a map whose `$type`, when present,
// is a non-empty string, and whose nested blobs are well-formed. Throws
// ParseError.
void validate_record(const Value& value);

}  // namespace atcr::json

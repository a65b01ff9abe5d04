// Strict DAG-CBOR, the canonical binary encoding of atproto data.
//
// encode() always writes the canonical form: shortest integer and length
// arguments, definite lengths, map keys in canonical order, CIDs as tag 42
// with the 0x00 multibase prefix.
//
// decode() accepts exactly that form and nothing else: non-minimal
// arguments, indefinite lengths, floats, tags other than 42, simple values
// other than false/true/null, unsorted or duplicate map keys, invalid UTF-8
// and trailing bytes are all ParseErrors naming the byte offset. Nesting is
// bounded so hostile input cannot exhaust the stack, and no allocation is
// ever larger than the input.
#pragma once

#include <cstdint>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/data/cid.h"
#include "atcr/data/value.h"

namespace atcr::cbor {

constexpr std::size_t kDefaultMaxDepth = 64;

Bytes encode(const Value& value);
void encode_to(Bytes& out, const Value& value);

Value decode(BytesView data, std::size_t max_depth = kDefaultMaxDepth);

// Decodes one item from the start of `data` and reports how many bytes it
// used; the rest is left to the caller (firehose frames are two items).
struct Prefix {
  Value value;
  std::size_t length;
};
Prefix decode_prefix(BytesView data, std::size_t max_depth = kDefaultMaxDepth);

// Low-level canonical writer for hot paths (MST nodes, commits) that would
// rather not build a Value. The caller is responsible for writing map keys
// in canonical order.
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void null();
  void boolean(bool b);
  void integer(std::int64_t i);
  void text(std::string_view s);
  void bytes(BytesView b);
  void link(const Cid& cid);
  void array_header(std::uint64_t count);
  void map_header(std::uint64_t count);

 private:
  void head(std::uint8_t major, std::uint64_t arg);
  Bytes& out_;
};

}  // namespace atcr::cbor

#include "atcr/data/cbor.h"

#include <cstring>
#include <limits>
#include <string>

#include "atcr/error.h"
#include "util/text.h"

namespace atcr::cbor {

namespace {

enum Major : std::uint8_t {
  kUnsigned = 0,
  kNegative = 1,
  kByteString = 2,
  kTextString = 3,
  kArray = 4,
  kMap = 5,
  kTag = 6,
  kSimple = 7,
};

constexpr std::uint64_t kCidTag = 42;

std::string_view chars_of(BytesView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }


class Reader {
 public:
  Reader(BytesView in, std::size_t max_depth) : in_(in), max_depth_(max_depth) {}

  Value item(std::size_t depth) {
    if (depth > max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
    std::size_t start = pos_;
    auto [major, arg] = head();
    switch (major) {
      case kUnsigned:
        if (arg > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          fail_at(start, "integer exceeds the signed 64-bit range");
        return Value(static_cast<std::int64_t>(arg));
      case kNegative:
        if (arg > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          fail_at(start, "integer exceeds the signed 64-bit range");
        return Value(-1 - static_cast<std::int64_t>(arg));
      case kByteString: {
        BytesView b = take(arg, "byte string");
        return Value(Bytes(b.begin(), b.end()));
      }
      case kTextString: {
        BytesView b = take(arg, "text string");
        if (!util::is_valid_utf8(chars_of(b))) fail_at(start, "text string is not valid UTF-8");
        return Value(to_string(b));
      }
      case kArray: return array(arg, depth);
      case kMap: return map(arg, depth);
      case kTag: return link(start, arg);
      default: return simple(start, arg);
    }
  }

  std::size_t position() const { return pos_; }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
    throw ParseError("cbor: " + what + " at offset " + std::to_string(at));
  }

  std::uint8_t byte() {
    if (pos_ >= in_.size()) fail("unexpected end of input");
    return in_[pos_++];
  }

  // Reads an initial byte and its argument, insisting on the shortest form.
  std::pair<std::uint8_t, std::uint64_t> head() {
    std::size_t start = pos_;
    std::uint8_t ib = byte();
    std::uint8_t major = ib >> 5;
    std::uint8_t info = ib & 0x1f;
    if (major == kSimple) return {major, info};  // simple values and floats: see simple()
    if (info < 24) return {major, info};
    if (info > 27) {
      fail_at(start, info == 31 ? "indefinite-length items are not allowed"
                                : "reserved additional information " + std::to_string(info));
    }
    std::size_t n = std::size_t{1} << (info - 24);  // 1, 2, 4 or 8 bytes
    std::uint64_t arg = 0;
    for (std::size_t i = 0; i < n; ++i) arg = arg << 8 | byte();
    static constexpr std::uint64_t kMinimum[] = {24, 0x100, 0x10000, 0x100000000};
    if (arg < kMinimum[info - 24]) fail_at(start, "non-canonical (not shortest) argument");
    return {major, arg};
  }

  BytesView take(std::uint64_t n, const char* what) {
    if (n > in_.size() - pos_)
      fail(std::string(what) + " of " + std::to_string(n) + " bytes runs past the end");
    BytesView b = in_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return b;
  }

  // Every item takes at least one byte, so a count larger than what is left
  // is a lie; checking it first keeps allocation bounded by the input.
  void check_count(std::uint64_t count, std::uint64_t min_item_bytes, const char* what) {
    if (count > (in_.size() - pos_) / min_item_bytes)
      fail(std::string(what) + " claims " + std::to_string(count) + " items, more than the input holds");
  }

  Value array(std::uint64_t count, std::size_t depth) {
    check_count(count, 1, "array");
    Value::Array items;
    items.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) items.push_back(item(depth + 1));
    return Value(std::move(items));
  }

  Value map(std::uint64_t count, std::size_t depth) {
    check_count(count, 2, "map");
    Value::Map entries;
    entries.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
      std::size_t key_at = pos_;
      auto [major, len] = head();
      if (major != kTextString) fail_at(key_at, "map key is not a text string");
      BytesView kb = take(len, "map key");
      if (!util::is_valid_utf8(chars_of(kb))) fail_at(key_at, "map key is not valid UTF-8");
      std::string key = to_string(kb);
      if (!entries.empty() && !CanonicalKeyLess{}(std::prev(entries.end())->first, key)) {
        const std::string& previous = std::prev(entries.end())->first;
        fail_at(key_at, previous == key ? "duplicate map key \"" + key + "\""
                                        : "map keys are not in canonical order at \"" + key + "\"");
      }
      // Keys arrive sorted, so each insert appends.
      entries.emplace_hint(entries.end(), std::move(key), item(depth + 1));
    }
    return Value(std::move(entries));
  }

  Value link(std::size_t start, std::uint64_t tag) {
    if (tag != kCidTag) fail_at(start, "tag " + std::to_string(tag) + " is not allowed (only 42)");
    std::size_t content_at = pos_;
    auto [major, len] = head();
    if (major != kByteString) fail_at(content_at, "tag 42 must wrap a byte string");
    BytesView b = take(len, "CID");
    if (b.empty() || b[0] != 0x00) fail_at(content_at, "tag 42 CID lacks the 0x00 multibase prefix");
    try {
      return Value(Cid::from_bytes(b.subspan(1)));
    } catch (const ParseError& e) {
      fail_at(content_at, e.what());
    }
  }

  Value simple(std::size_t start, std::uint8_t info) {
    switch (info) {
      case 20: return Value(false);
      case 21: return Value(true);
      case 22: return Value(nullptr);
      case 25:
      case 26:
      case 27: fail_at(start, "floating-point numbers are not allowed in atproto data");
      case 31: fail_at(start, "unexpected break code");
      default: fail_at(start, "simple value " + std::to_string(info) + " is not allowed");
    }
  }

  BytesView in_;
  std::size_t pos_ = 0;
  std::size_t max_depth_;
};

void encode_value(Writer& w, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kNull: w.null(); break;
    case Value::Kind::kBool: w.boolean(v.as_bool()); break;
    case Value::Kind::kInteger: w.integer(v.as_integer()); break;
    case Value::Kind::kString: w.text(v.as_string()); break;
    case Value::Kind::kBytes: w.bytes(v.as_bytes()); break;
    case Value::Kind::kLink: w.link(v.as_link()); break;
    case Value::Kind::kArray:
      w.array_header(v.as_array().size());
      for (const Value& item : v.as_array()) encode_value(w, item);
      break;
    case Value::Kind::kMap:
      w.map_header(v.as_map().size());
      for (const auto& [key, item] : v.as_map()) {  // already in canonical order
        w.text(key);
        encode_value(w, item);
      }
      break;
  }
}

}  // namespace

void Writer::head(std::uint8_t major, std::uint64_t arg) {
  // Assemble the whole head (1 to 9 bytes) and append it at once.
  std::uint8_t buf[9];
  std::size_t n = 0;
  std::uint8_t m = static_cast<std::uint8_t>(major << 5);
  if (arg < 24) {
    buf[n++] = static_cast<std::uint8_t>(m | arg);
  } else {
    int width = arg <= 0xff ? 1 : arg <= 0xffff ? 2 : arg <= 0xffffffff ? 4 : 8;
    buf[n++] = static_cast<std::uint8_t>(m | (width == 1 ? 24 : width == 2 ? 25 : width == 4 ? 26 : 27));
    for (int i = width - 1; i >= 0; --i) buf[n++] = static_cast<std::uint8_t>(arg >> (8 * i));
  }
  out_.insert(out_.end(), buf, buf + n);
}

void Writer::null() { out_.push_back(0xf6); }
void Writer::boolean(bool b) { out_.push_back(b ? 0xf5 : 0xf4); }

void Writer::integer(std::int64_t i) {
  if (i >= 0)
    head(kUnsigned, static_cast<std::uint64_t>(i));
  else
    head(kNegative, static_cast<std::uint64_t>(-(i + 1)));
}

void Writer::text(std::string_view s) {
  head(kTextString, s.size());
  out_.insert(out_.end(), s.begin(), s.end());
}

void Writer::bytes(BytesView b) {
  head(kByteString, b.size());
  out_.insert(out_.end(), b.begin(), b.end());
}

void Writer::link(const Cid& cid) {
  head(kTag, kCidTag);
  BytesView b = cid.bytes();
  head(kByteString, b.size() + 1);
  out_.push_back(0x00);
  out_.insert(out_.end(), b.begin(), b.end());
}

void Writer::array_header(std::uint64_t count) { head(kArray, count); }
void Writer::map_header(std::uint64_t count) { head(kMap, count); }

void encode_to(Bytes& out, const Value& value) {
  Writer w(out);
  encode_value(w, value);
}

Bytes encode(const Value& value) {
  Bytes out;
  encode_to(out, value);
  return out;
}

Prefix decode_prefix(BytesView data, std::size_t max_depth) {
  Reader r(data, max_depth);
  Value v = r.item(0);
  return {std::move(v), r.position()};
}

Value decode(BytesView data, std::size_t max_depth) {
  auto [value, length] = decode_prefix(data, max_depth);
  if (length != data.size())
    throw ParseError("cbor: " + std::to_string(data.size() - length) + " trailing bytes at offset " +
                     std::to_string(length));
  return std::move(value);
}

}  // namespace atcr::cbor

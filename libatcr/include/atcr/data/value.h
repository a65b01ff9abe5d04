// The atproto data model as a C++ value: null, booleans, 64-bit integers,
// UTF-8 strings, byte strings, arrays, maps with string keys, and CID links.
// (Floats are not part of atproto's data model.)
//
// Maps keep their keys in DAG-CBOR canonical order (shorter first, then
// bytewise; see canonical_map.h), so iteration order is the order in which
// they are encoded and a map cannot hold a key twice.
#pragma once

#include <concepts>
#include <memory>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/data/canonical_map.h"
#include "atcr/data/cid.h"

namespace atcr {

class Value {
 public:
  using Array = std::vector<Value>;
  using Map = CanonicalMap<Value>;

  enum class Kind { kNull, kBool, kInteger, kString, kBytes, kArray, kMap, kLink };

  Value() : v_(nullptr) {}
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Value(T i) : v_(static_cast<std::int64_t>(i)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(Bytes b) : v_(std::move(b)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Map m) : v_(std::move(m)) {}
  Value(Cid c) : v_(LinkBox(c)) {}

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_null() const { return kind() == Kind::kNull; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_integer() const { return kind() == Kind::kInteger; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_bytes() const { return kind() == Kind::kBytes; }
  bool is_array() const { return kind() == Kind::kArray; }
  bool is_map() const { return kind() == Kind::kMap; }
  bool is_link() const { return kind() == Kind::kLink; }

  // Typed access. Each throws ParseError naming the expected and the actual
  // kind, so decoding a record of the wrong shape reports what was wrong.
  bool as_bool() const;
  std::int64_t as_integer() const;
  const std::string& as_string() const;
  const Bytes& as_bytes() const;
  const Array& as_array() const;
  const Map& as_map() const;
  const Cid& as_link() const;
  Array& as_array();
  Map& as_map();

  // Map lookups. find() returns nullptr when absent (or not a map);
  // at() throws ParseError naming the missing key.
  const Value* find(std::string_view key) const;
  const Value& at(std::string_view key) const;

  friend bool operator==(const Value&, const Value&) = default;

 private:
  // A CID is up to 84 bytes inline; holding it directly would make every
  // Value that large and every move of one (array growth, map inserts) copy
  // it. Links are few in real records, so they live on the heap instead and
  // a Value stays 40 bytes.
  class LinkBox {
   public:
    explicit LinkBox(const Cid& c) : p_(std::make_unique<Cid>(c)) {}
    LinkBox(const LinkBox& o) : p_(std::make_unique<Cid>(*o.p_)) {}
    LinkBox(LinkBox&&) noexcept = default;
    LinkBox& operator=(const LinkBox& o) {
      p_ = std::make_unique<Cid>(*o.p_);
      return *this;
    }
    LinkBox& operator=(LinkBox&&) noexcept = default;
    const Cid& get() const { return *p_; }
    friend bool operator==(const LinkBox& a, const LinkBox& b) { return *a.p_ == *b.p_; }

   private:
    std::unique_ptr<Cid> p_;
  };

  template <class T>
  const T& get(Kind want) const;

  std::variant<std::nullptr_t, bool, std::int64_t, std::string, Bytes, Array, Map, LinkBox> v_;
};

const char* kind_name(Value::Kind kind);

}  // namespace atcr

// A map from strings to values kept in DAG-CBOR canonical key order
// (shorter keys first, then bytewise), stored as one sorted vector.
//
// Records are small maps built once and read often; a sorted vector costs
// one allocation where a node-based map costs one per key, and decoding
// (whose keys already arrive in order) appends without searching. Lookups
// are binary searches.
//
// Mutable iteration exposes keys as non-const for the sake of the vector's
// element type: changing a key through an iterator breaks the order. Use
// operator[], emplace and erase to change a map's keys.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atcr {

// DAG-CBOR map key order: length first, then bytewise.
struct CanonicalKeyLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  }
};

template <class V>
class CanonicalMap {
 public:
  using value_type = std::pair<std::string, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  CanonicalMap() = default;
  // Like std::map: when a key repeats, the first value is kept.
  CanonicalMap(std::initializer_list<value_type> init) {
    entries_.reserve(init.size());
    for (const auto& [k, v] : init) emplace(k, v);
  }

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void reserve(std::size_t n) { entries_.reserve(n); }

  iterator find(std::string_view key) {
    auto it = lower_bound(key);
    return it != end() && it->first == key ? it : end();
  }
  const_iterator find(std::string_view key) const {
    auto it = const_cast<CanonicalMap*>(this)->lower_bound(key);
    return it != entries_.end() && it->first == key ? const_iterator(it) : end();
  }
  std::size_t count(std::string_view key) const { return find(key) != end() ? 1 : 0; }

  // Inserts unless present; returns the element and whether it was added.
  std::pair<iterator, bool> emplace(std::string key, V value) {
    auto it = lower_bound(key);
    if (it != end() && it->first == key) return {it, false};
    return {entries_.emplace(it, std::move(key), std::move(value)), true};
  }
  // Appends in O(1) when the key sorts after every present key (decoding
  // canonical input); otherwise the same as emplace().
  iterator emplace_hint(const_iterator, std::string key, V value) {
    if (entries_.empty() || CanonicalKeyLess{}(entries_.back().first, key)) {
      entries_.emplace_back(std::move(key), std::move(value));
      return std::prev(entries_.end());
    }
    return emplace(std::move(key), std::move(value)).first;
  }
  V& operator[](std::string_view key) {
    auto it = lower_bound(key);
    if (it == end() || it->first != key) it = entries_.emplace(it, std::string(key), V());
    return it->second;
  }

  std::size_t erase(std::string_view key) {
    auto it = find(key);
    if (it == end()) return 0;
    entries_.erase(it);
    return 1;
  }
  iterator erase(const_iterator it) { return entries_.erase(it); }

  friend bool operator==(const CanonicalMap& a, const CanonicalMap& b) { return a.entries_ == b.entries_; }

 private:
  iterator lower_bound(std::string_view key) {
    return std::lower_bound(entries_.begin(), entries_.end(), key,
                            [](const value_type& e, std::string_view k) { return CanonicalKeyLess{}(e.first, k); });
  }

  std::vector<value_type> entries_;
};

}  // namespace atcr

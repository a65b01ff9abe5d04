// Version ordering per ecosystem. Each grammar is parsed by hand into
// string_views over the input (no allocation proportional to anything but
// the input), and numbers are compared as digit strings.
#include "atcr/scan/version.h"

#include <algorithm>
#include <cstdint>

#include "util/text.h"
#include <optional>
#include <string>
#include <vector>

namespace atcr::scan {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

int sign(int v) { return (v > 0) - (v < 0); }

// Two runs of digits as numbers of any size.
int compare_digits(std::string_view a, std::string_view b) {
  while (!a.empty() && a.front() == '0') a.remove_prefix(1);
  while (!b.empty() && b.front() == '0') b.remove_prefix(1);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return sign(a.compare(b));
}

std::size_t digits_at(std::string_view s, std::size_t i) {
  std::size_t j = i;
  while (j < s.size() && is_digit(s[j])) ++j;
  return j - i;
}

// --- Debian (deb-version(7)) ---

// dpkg's character weight: '~' before everything (even the end), letters
// before the other symbols, digits (and the end) as 0.
int debian_order(char c) {
  if (is_digit(c)) return 0;
  if (is_alpha(c)) return static_cast<unsigned char>(c);
  if (c == '~') return -1;
  return static_cast<unsigned char>(c) + 256;
}

int verrevcmp(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    while ((i < a.size() && !is_digit(a[i])) || (j < b.size() && !is_digit(b[j]))) {
      int ac = i < a.size() ? debian_order(a[i]) : 0;
      int bc = j < b.size() ? debian_order(b[j]) : 0;
      if (ac != bc) return sign(ac - bc);
      ++i;
      ++j;
    }
    std::size_t da = digits_at(a, i), db = digits_at(b, j);
    if (int c = compare_digits(a.substr(i, da), b.substr(j, db))) return c;
    i += da;
    j += db;
  }
  return 0;
}

struct DebianVersion {
  std::string_view epoch, upstream, revision;
};

DebianVersion split_debian(std::string_view v) {
  DebianVersion d;
  if (auto colon = v.find(':'); colon != std::string_view::npos && digits_at(v, 0) == colon) {
    d.epoch = v.substr(0, colon);
    v.remove_prefix(colon + 1);
  }
  if (auto dash = v.rfind('-'); dash != std::string_view::npos) {
    d.revision = v.substr(dash + 1);
    v = v.substr(0, dash);
  }
  d.upstream = v;
  return d;
}

// --- Alpine (apk-tools' version grammar) ---

// Suffix ranks; "no suffix" sits between _rc and _cvs.
constexpr int kNoSuffix = 4;
int apk_suffix_rank(std::string_view name) {
  static constexpr std::string_view kNames[] = {"alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"};
  for (int r = 0; r < 10; ++r) {
    if (r != kNoSuffix && name == kNames[r]) return r;
  }
  return -1;
}

struct ApkVersion {
  std::vector<std::string_view> numbers;
  char letter = 0;
  std::vector<std::pair<int, std::string_view>> suffixes;
  std::string_view revision;
};

std::optional<ApkVersion> parse_apk(std::string_view s) {
  ApkVersion v;
  std::size_t i = 0;
  for (;;) {
    std::size_t n = digits_at(s, i);
    if (n == 0) return std::nullopt;
    v.numbers.push_back(s.substr(i, n));
    i += n;
    if (i < s.size() && s[i] == '.' && i + 1 < s.size() && is_digit(s[i + 1])) {
      ++i;
      continue;
    }
    break;
  }
  if (i < s.size() && s[i] >= 'a' && s[i] <= 'z') v.letter = s[i++];
  while (i < s.size() && s[i] == '_') {
    std::size_t start = ++i;
    while (i < s.size() && s[i] >= 'a' && s[i] <= 'z') ++i;
    int rank = apk_suffix_rank(s.substr(start, i - start));
    if (rank < 0) return std::nullopt;
    std::size_t n = digits_at(s, i);
    v.suffixes.emplace_back(rank, s.substr(i, n));
    i += n;
  }
  if (s.substr(i).starts_with("-r")) {
    std::size_t n = digits_at(s, i + 2);
    if (n == 0) return std::nullopt;
    v.revision = s.substr(i + 2, n);
    i += 2 + n;
  }
  if (i != s.size()) return std::nullopt;
  return v;
}

int compare_apk_parsed(const ApkVersion& a, const ApkVersion& b) {
  std::size_t common = std::min(a.numbers.size(), b.numbers.size());
  for (std::size_t k = 0; k < common; ++k) {
    if (int c = compare_digits(a.numbers[k], b.numbers[k])) return c;
  }
  if (a.numbers.size() != b.numbers.size()) return a.numbers.size() < b.numbers.size() ? -1 : 1;
  if (a.letter != b.letter) return a.letter < b.letter ? -1 : 1;
  std::size_t n = std::max(a.suffixes.size(), b.suffixes.size());
  for (std::size_t k = 0; k < n; ++k) {
    auto sa = k < a.suffixes.size() ? a.suffixes[k] : std::pair<int, std::string_view>{kNoSuffix, {}};
    auto sb = k < b.suffixes.size() ? b.suffixes[k] : std::pair<int, std::string_view>{kNoSuffix, {}};
    if (sa.first != sb.first) return sa.first < sb.first ? -1 : 1;
    if (int c = compare_digits(sa.second, sb.second)) return c;
  }
  return compare_digits(a.revision, b.revision);
}

// --- PEP 440 ---

struct Pep440 {
  std::string_view epoch;
  std::vector<std::string_view> release;
  int pre_kind = 2;    // 0: before any pre-release (a dev release of the final), 1: a pre-release, 2: none
  int pre_letter = 0;  // a < b < rc
  std::string_view pre_number;
  bool post = false;
  std::string_view post_number;
  bool dev = false;
  std::string_view dev_number;
  std::vector<std::string_view> local;
};

class Pep440Parser {
 public:
  explicit Pep440Parser(std::string_view s) : s_(s) {}

  std::optional<Pep440> parse() {
    Pep440 v;
    if (peek() == 'v') ++i_;
    if (std::size_t n = digits_at(s_, i_); n && i_ + n < s_.size() && s_[i_ + n] == '!') {
      v.epoch = s_.substr(i_, n);
      i_ += n + 1;
    }
    for (;;) {
      std::size_t n = digits_at(s_, i_);
      if (n == 0) return std::nullopt;
      v.release.push_back(s_.substr(i_, n));
      i_ += n;
      if (peek() == '.' && is_digit(peek(1))) {
        ++i_;
        continue;
      }
      break;
    }
    parse_pre(v);
    parse_post(v);
    parse_dev(v);
    if (peek() == '+') {
      ++i_;
      for (;;) {
        std::size_t start = i_;
        while (i_ < s_.size() && (is_digit(s_[i_]) || is_alpha(s_[i_]))) ++i_;
        if (i_ == start) return std::nullopt;
        v.local.push_back(s_.substr(start, i_ - start));
        if (is_sep(peek())) {
          ++i_;
          continue;
        }
        break;
      }
    }
    if (i_ != s_.size()) return std::nullopt;
    if (v.pre_kind == 2 && !v.post && v.dev) v.pre_kind = 0;
    return v;
  }

 private:
  static bool is_sep(char c) { return c == '.' || c == '-' || c == '_'; }
  char peek(std::size_t ahead = 0) const { return i_ + ahead < s_.size() ? util::ascii_lower(s_[i_ + ahead]) : '\0'; }

  // Matches one of `words` (case-insensitively) after an optional
  // separator; returns its index, leaving i_ after it, or -1.
  int word(std::initializer_list<std::string_view> words) {
    std::size_t start = i_;
    if (is_sep(peek())) ++i_;
    int index = 0;
    for (std::string_view w : words) {
      bool ok = i_ + w.size() <= s_.size();
      for (std::size_t k = 0; ok && k < w.size(); ++k) ok = util::ascii_lower(s_[i_ + k]) == w[k];
      // The longest spelling first in `words`, so "alpha" is not read as "a".
      if (ok && !(i_ + w.size() < s_.size() && is_alpha(s_[i_ + w.size()]))) {
        i_ += w.size();
        return index;
      }
      ++index;
    }
    i_ = start;
    return -1;
  }

  std::string_view number() {
    std::size_t start = i_;
    if (is_sep(peek()) && is_digit(peek(1))) ++i_;
    std::size_t n = digits_at(s_, i_);
    if (n == 0) {
      i_ = start;
      return {};
    }
    i_ += n;
    return s_.substr(i_ - n, n);
  }

  void parse_pre(Pep440& v) {
    static constexpr int kLetter[] = {0, 0, 1, 1, 2, 2, 2, 2};
    int w = word({"alpha", "a", "beta", "b", "preview", "pre", "rc", "c"});
    if (w < 0) return;
    v.pre_kind = 1;
    v.pre_letter = kLetter[w];
    v.pre_number = number();
  }

  void parse_post(Pep440& v) {
    if (peek() == '-' && is_digit(peek(1))) {
      ++i_;
      v.post = true;
      v.post_number = number();
      return;
    }
    if (word({"post", "rev", "r"}) < 0) return;
    v.post = true;
    v.post_number = number();
  }

  void parse_dev(Pep440& v) {
    if (word({"dev"}) < 0) return;
    v.dev = true;
    v.dev_number = number();
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

int compare_local(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
  std::size_t n = std::min(a.size(), b.size());
  for (std::size_t k = 0; k < n; ++k) {
    bool na = digits_at(a[k], 0) == a[k].size(), nb = digits_at(b[k], 0) == b[k].size();
    if (na != nb) return na ? 1 : -1;  // numbers sort after words
    if (na) {
      if (int c = compare_digits(a[k], b[k])) return c;
      continue;
    }
    if (int c = sign(util::ascii_lower(a[k]).compare(util::ascii_lower(b[k])))) return c;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

int compare_pep440_parsed(const Pep440& a, const Pep440& b) {
  if (int c = compare_digits(a.epoch, b.epoch)) return c;
  std::size_t n = std::max(a.release.size(), b.release.size());
  for (std::size_t k = 0; k < n; ++k) {  // missing components are 0: 1.0 == 1.0.0
    if (int c = compare_digits(k < a.release.size() ? a.release[k] : "", k < b.release.size() ? b.release[k] : ""))
      return c;
  }
  if (a.pre_kind != b.pre_kind) return a.pre_kind < b.pre_kind ? -1 : 1;
  if (a.pre_kind == 1) {
    if (a.pre_letter != b.pre_letter) return a.pre_letter < b.pre_letter ? -1 : 1;
    if (int c = compare_digits(a.pre_number, b.pre_number)) return c;
  }
  if (a.post != b.post) return a.post ? 1 : -1;
  if (int c = compare_digits(a.post_number, b.post_number)) return c;
  if (a.dev != b.dev) return a.dev ? -1 : 1;  // a dev release comes before its release
  if (int c = compare_digits(a.dev_number, b.dev_number)) return c;
  return compare_local(a.local, b.local);
}

// --- semver 2.0.0 ---

struct Semver {
  std::string_view major, minor, patch;
  std::vector<std::string_view> pre;
};

std::optional<Semver> parse_semver(std::string_view s) {
  if (!s.empty() && (s.front() == 'v' || s.front() == 'V' || s.front() == '=')) s.remove_prefix(1);
  if (auto plus = s.find('+'); plus != std::string_view::npos) s = s.substr(0, plus);  // build: ignored
  std::string_view core = s, pre;
  if (auto dash = s.find('-'); dash != std::string_view::npos) {
    core = s.substr(0, dash);
    pre = s.substr(dash + 1);
    if (pre.empty()) return std::nullopt;
  }
  Semver v;
  std::string_view* parts[] = {&v.major, &v.minor, &v.patch};
  std::size_t i = 0;
  for (int k = 0; k < 3; ++k) {
    std::size_t n = digits_at(core, i);
    if (n == 0) return std::nullopt;
    *parts[k] = core.substr(i, n);
    i += n;
    if (k < 2) {
      if (i >= core.size() || core[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != core.size()) return std::nullopt;
  while (!pre.empty()) {
    std::size_t dot = pre.find('.');
    std::string_view id = pre.substr(0, dot);
    if (id.empty()) return std::nullopt;
    for (char c : id) {
      if (!is_digit(c) && !is_alpha(c) && c != '-') return std::nullopt;
    }
    v.pre.push_back(id);
    if (dot == std::string_view::npos) break;
    pre.remove_prefix(dot + 1);
    if (pre.empty()) return std::nullopt;
  }
  return v;
}

int compare_semver_parsed(const Semver& a, const Semver& b) {
  if (int c = compare_digits(a.major, b.major)) return c;
  if (int c = compare_digits(a.minor, b.minor)) return c;
  if (int c = compare_digits(a.patch, b.patch)) return c;
  if (a.pre.empty() != b.pre.empty()) return a.pre.empty() ? 1 : -1;  // a release after its pre-releases
  std::size_t n = std::min(a.pre.size(), b.pre.size());
  for (std::size_t k = 0; k < n; ++k) {
    bool na = digits_at(a.pre[k], 0) == a.pre[k].size(), nb = digits_at(b.pre[k], 0) == b.pre[k].size();
    if (na != nb) return na ? -1 : 1;  // numeric identifiers first
    if (int c = na ? compare_digits(a.pre[k], b.pre[k]) : sign(a.pre[k].compare(b.pre[k]))) return c;
  }
  return a.pre.size() == b.pre.size() ? 0 : (a.pre.size() < b.pre.size() ? -1 : 1);
}

}  // namespace

std::string_view ecosystem_name(Ecosystem ecosystem) {
  switch (ecosystem) {
    case Ecosystem::kDebian:
      return "Debian";
    case Ecosystem::kAlpine:
      return "Alpine";
    case Ecosystem::kPyPI:
      return "PyPI";
    case Ecosystem::kNpm:
      return "npm";
    case Ecosystem::kOther:
      break;
  }
  return "";
}

Ecosystem ecosystem_from_osv(std::string_view name) {
  std::string_view base = name.substr(0, name.find(':'));
  if (base == "Debian") return Ecosystem::kDebian;
  if (base == "Alpine") return Ecosystem::kAlpine;
  if (base == "PyPI") return Ecosystem::kPyPI;
  if (base == "npm") return Ecosystem::kNpm;
  return Ecosystem::kOther;
}

int compare_debian(std::string_view a, std::string_view b) {
  DebianVersion x = split_debian(a), y = split_debian(b);
  if (int c = compare_digits(x.epoch, y.epoch)) return c;
  if (int c = verrevcmp(x.upstream, y.upstream)) return c;
  return verrevcmp(x.revision, y.revision);
}

int compare_apk(std::string_view a, std::string_view b) {
  auto x = parse_apk(a), y = parse_apk(b);
  if (!x || !y) return compare_debian(a, b);
  return compare_apk_parsed(*x, *y);
}

int compare_pep440(std::string_view a, std::string_view b) {
  auto x = Pep440Parser(a).parse(), y = Pep440Parser(b).parse();
  if (!x || !y) return compare_debian(a, b);
  return compare_pep440_parsed(*x, *y);
}

int compare_semver(std::string_view a, std::string_view b) {
  auto x = parse_semver(a), y = parse_semver(b);
  if (!x || !y) return compare_debian(a, b);
  return compare_semver_parsed(*x, *y);
}

int compare_versions(Ecosystem ecosystem, std::string_view a, std::string_view b) {
  switch (ecosystem) {
    case Ecosystem::kAlpine:
      return compare_apk(a, b);
    case Ecosystem::kPyPI:
      return compare_pep440(a, b);
    case Ecosystem::kNpm:
      return compare_semver(a, b);
    case Ecosystem::kDebian:
    case Ecosystem::kOther:
      break;
  }
  return compare_debian(a, b);
}

}  // namespace atcr::scan

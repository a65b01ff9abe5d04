#include "atcr/data/syntax.h"

#include <array>
#include <cstdint>
#include <optional>

#include "atcr/error.h"
#include "util/text.h"

namespace atcr::syntax {

namespace {

// ---------------------------------------------------------------------------
// Reporting. Checkers return a Problem (or nothing) instead of throwing, so
// is_valid_X() can be noexcept and allocation-free; validate_X() turns the
// Problem into a message only when there is one.

struct Problem {
  const char* reason;
  std::size_t offset = 0;
  bool has_offset = false;
  bool show_byte = false;     // quote input[offset] after the reason
  const char* part = nullptr; // component of a composite format ("authority")
};

using Outcome = std::optional<Problem>;

constexpr Outcome kOk = std::nullopt;

Outcome fail(const char* reason) { return Problem{reason}; }

Outcome fail_at(const char* reason, std::size_t offset) {
  return Problem{reason, offset, true};
}

Outcome bad_byte_at(std::size_t offset) {
  return Problem{"invalid character", offset, true, true};
}

// Re-bases a component's problem onto the whole input and labels it.
Outcome within(const char* part, std::size_t base, Outcome inner) {
  if (inner) {
    inner->offset += base;
    if (!inner->part) inner->part = part;
  }
  return inner;
}

constexpr std::size_t kShownInputBytes = 80;

void append_escaped(std::string& out, char c) {
  auto b = static_cast<unsigned char>(c);
  if (b == '"' || b == '\\') {
    out += '\\';
    out += c;
  } else if (b >= 0x20 && b < 0x7f) {
    out += c;
  } else {
    constexpr char kHex[] = "0123456789abcdef";
    out += "\\x";
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
}

// The input as a quoted, escaped, bounded string: error messages end up in
// logs and HTTP responses, so they must not carry raw control bytes or
// megabytes of attacker text.
std::string quote_input(std::string_view input) {
  std::string out = "\"";
  std::size_t shown = input.size() < kShownInputBytes ? input.size() : kShownInputBytes;
  for (std::size_t i = 0; i < shown; ++i) append_escaped(out, input[i]);
  out += '"';
  if (shown < input.size()) out += "... (" + std::to_string(input.size()) + " bytes)";
  return out;
}

[[noreturn]] void throw_problem(const char* kind, std::string_view input, const Problem& p) {
  std::string msg = kind;
  msg += ' ';
  msg += quote_input(input);
  msg += ": ";
  if (p.part) {
    msg += p.part;
    msg += ": ";
  }
  msg += p.reason;
  if (p.show_byte && p.offset < input.size()) {
    msg += " '";
    append_escaped(msg, input[p.offset]);
    msg += '\'';
  }
  if (p.has_offset) msg += " at offset " + std::to_string(p.offset);
  throw ParseError(msg);
}

void raise_if(const char* kind, std::string_view input, const Outcome& outcome) {
  if (outcome) throw_problem(kind, input, *outcome);
}

// ---------------------------------------------------------------------------
// Character classes. Locale-independent on purpose: <cctype> depends on the
// C locale and is undefined for negative chars.

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool is_alpha(char c) { return is_lower(c) || is_upper(c); }
constexpr bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

bool all_of(std::string_view s, bool (*pred)(char)) {
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

bool starts_with_did_prefix(std::string_view s) { return s.substr(0, 4) == "did:"; }

// ---------------------------------------------------------------------------
// DNS-style names, shared by handles and NSID authorities.

constexpr std::size_t kMaxLabelLength = 63;

// One label of [A-Za-z0-9-], 1-63 long, no '-' at either end. Characters
// have already been checked by the caller's scan.
Outcome check_dns_label(std::string_view label, std::size_t offset) {
  if (label.empty()) return fail_at("empty label", offset);
  if (label.size() > kMaxLabelLength) return fail_at("label longer than 63 characters", offset);
  if (label.front() == '-') return fail_at("label starts with '-'", offset);
  if (label.back() == '-') return fail_at("label ends with '-'", offset + label.size() - 1);
  return kOk;
}

// Scans dot-separated labels left to right; reports the first problem.
Outcome check_dns_labels(std::string_view name, std::size_t& label_count) {
  label_count = 0;
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (auto p = check_dns_label(name.substr(label_start, i - label_start), label_start)) return p;
      ++label_count;
      label_start = i + 1;
    } else if (!is_alnum(name[i]) && name[i] != '-') {
      return bad_byte_at(i);
    }
  }
  return kOk;
}

// ---------------------------------------------------------------------------
// Handle

Outcome check_handle(std::string_view s) {
  if (s.empty()) return fail("empty");
  if (s.size() > kMaxHandleLength) return fail("longer than 253 characters");
  std::size_t labels = 0;
  if (auto p = check_dns_labels(s, labels)) return p;
  if (labels < 2) return fail("needs at least two labels (a bare TLD is not a handle)");
  // Also what keeps IPv4 addresses out.
  std::size_t tld = s.rfind('.') + 1;
  if (is_digit(s[tld])) return fail_at("top-level domain starts with a digit", tld);
  return kOk;
}

// ---------------------------------------------------------------------------
// DID

constexpr bool is_did_identifier_char(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '%' || c == '-';
}

Outcome check_did(std::string_view s) {
  if (s.empty()) return fail("empty");
  if (s.size() > kMaxDidLength) return fail("longer than 2048 characters");
  if (!starts_with_did_prefix(s)) return fail("must start with \"did:\" (lowercase)");
  std::size_t i = 4;
  while (i < s.size() && is_lower(s[i])) ++i;
  if (i == s.size()) return fail("missing ':' after the method");
  if (s[i] != ':') {
    return Problem{"method must be lowercase letters; found", i, true, true};
  }
  if (i == 4) return fail_at("empty method", i);
  std::size_t id_start = ++i;
  if (id_start == s.size()) return fail_at("empty method-specific identifier", id_start);
  for (; i < s.size(); ++i)
    if (!is_did_identifier_char(s[i])) return bad_byte_at(i);
  if (s.back() == ':') return fail_at("must not end with ':'", s.size() - 1);
  if (s.back() == '%') return fail_at("must not end with '%'", s.size() - 1);
  return kOk;
}

// ---------------------------------------------------------------------------
// NSID

Outcome check_nsid_name(std::string_view name, std::size_t offset) {
  if (name.empty()) return fail_at("empty name segment", offset);
  if (name.size() > kMaxLabelLength) return fail_at("name segment longer than 63 characters", offset);
  if (!is_alpha(name[0])) {
    if (is_digit(name[0])) return fail_at("name segment starts with a digit", offset);
    return bad_byte_at(offset);
  }
  for (std::size_t i = 1; i < name.size(); ++i)
    if (!is_alnum(name[i])) return bad_byte_at(offset + i);
  return kOk;
}

Outcome check_nsid(std::string_view s) {
  if (s.empty()) return fail("empty");
  if (s.size() > kMaxNsidLength) return fail("longer than 317 characters");
  std::size_t name_start = s.rfind('.');
  if (name_start == std::string_view::npos) return fail("needs at least three segments");
  ++name_start;
  std::string_view authority = s.substr(0, name_start - 1);
  std::size_t labels = 0;
  if (auto p = check_dns_labels(authority, labels)) return p;
  // No separate 253-character limit on the authority: the interop fixtures
  // accept a 283-character one, so only the 317 total applies.
  if (labels < 2) return fail("needs at least three segments");
  // The authority is a reversed domain name, so its first label is the TLD.
  if (is_digit(authority[0])) return fail_at("first segment starts with a digit", 0);
  return check_nsid_name(s.substr(name_start), name_start);
}

// ---------------------------------------------------------------------------
// Record key

constexpr bool is_record_key_char(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '~' || c == '-';
}

Outcome check_record_key(std::string_view s) {
  if (s.empty()) return fail("empty");
  if (s.size() > kMaxRecordKeyLength) return fail("longer than 512 characters");
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!is_record_key_char(s[i])) return bad_byte_at(i);
  // They would collide with path navigation in the MST key "collection/rkey".
  if (s == "." || s == "..") return fail("\".\" and \"..\" are not allowed");
  return kOk;
}

// ---------------------------------------------------------------------------
// At-identifier

Outcome check_at_identifier(std::string_view s) {
  if (s.size() > kMaxDidLength) return fail("longer than 2048 characters");
  return starts_with_did_prefix(s) ? check_did(s) : check_handle(s);
}

// ---------------------------------------------------------------------------
// AT-URI

Outcome check_at_uri(std::string_view s) {
  if (s.empty()) return fail("empty");
  if (s.size() > kMaxAtUriLength) return fail("longer than 8192 characters");
  constexpr std::string_view kScheme = "at://";
  if (s.substr(0, kScheme.size()) != kScheme) return fail("must start with \"at://\"");
  if (std::size_t q = s.find_first_of("?#"); q != std::string_view::npos)
    return fail_at("query and fragment are not allowed", q);

  std::size_t start = kScheme.size();
  std::size_t slash = s.find('/', start);
  std::string_view authority = s.substr(start, slash - start);
  if (authority.empty()) return fail_at("empty authority", start);
  if (auto p = within("authority", start, check_at_identifier(authority))) return p;
  if (slash == std::string_view::npos) return kOk;

  start = slash + 1;
  slash = s.find('/', start);
  std::string_view collection = s.substr(start, slash - start);
  if (collection.empty()) return fail_at("empty collection segment (trailing or doubled '/')", start);
  if (auto p = within("collection", start, check_nsid(collection))) return p;
  if (slash == std::string_view::npos) return kOk;

  start = slash + 1;
  slash = s.find('/', start);
  std::string_view rkey = s.substr(start, slash - start);
  if (rkey.empty()) return fail_at("empty record key segment (trailing or doubled '/')", start);
  if (auto p = within("record key", start, check_record_key(rkey))) return p;
  if (slash != std::string_view::npos)
    return fail_at("too many path segments (only /collection/rkey)", slash);
  return kOk;
}

// ---------------------------------------------------------------------------
// TID

constexpr std::string_view kSortableAlphabet = "234567abcdefghijklmnopqrstuvwxyz";

Outcome check_tid(std::string_view s) {
  if (s.size() != 13) return fail("must be exactly 13 characters");
  for (std::size_t i = 0; i < s.size(); ++i)
    if (kSortableAlphabet.find(s[i]) == std::string_view::npos) return bad_byte_at(i);
  // 13 characters carry 65 bits, so the first may use only its low four to
  // stay within 64. This is the spec's regex; it still admits c-j, which set
  // the TID's top bit (Tid::parse refuses those values).
  if (s[0] > 'j') return fail_at("first character must be 2-7 or a-j (value exceeds 64 bits)", 0);
  return kOk;
}

// ---------------------------------------------------------------------------
// Datetime

struct DatetimeFields {
  int year = 0, month = 0, day = 0;
  int hour = 0, minute = 0, second = 0;
  int offset_sign = 0;  // 0 for 'Z'
  int offset_hour = 0, offset_minute = 0;
  std::size_t offset_at = 0;  // where "+hh:mm" starts
};

// Reads exactly `n` digits at `pos` into `out`.
Outcome read_fixed_digits(std::string_view s, std::size_t pos, int n, int& out,
                          const char* what) {
  out = 0;
  for (int k = 0; k < n; ++k) {
    std::size_t at = pos + static_cast<std::size_t>(k);
    if (at >= s.size() || !is_digit(s[at])) return fail_at(what, at);
    out = out * 10 + (s[at] - '0');
  }
  return kOk;
}

Outcome expect_char(std::string_view s, std::size_t pos, char c, const char* what) {
  if (pos >= s.size()) return fail_at(what, pos);
  if (s[pos] != c) return Problem{what, pos, true, true};
  return kOk;
}

constexpr int kMaxFractionDigits = 20;

// The layout "YYYY-MM-DDTHH:MM:SS[.f](Z|±hh:mm)"; ranges are checked later.
Outcome scan_datetime(std::string_view s, DatetimeFields& f) {
  Outcome p;
  if ((p = read_fixed_digits(s, 0, 4, f.year, "expected a 4-digit year")) ||
      (p = expect_char(s, 4, '-', "expected '-' after the year; found")) ||
      (p = read_fixed_digits(s, 5, 2, f.month, "expected a 2-digit month")) ||
      (p = expect_char(s, 7, '-', "expected '-' after the month; found")) ||
      (p = read_fixed_digits(s, 8, 2, f.day, "expected a 2-digit day")) ||
      (p = expect_char(s, 10, 'T', "expected uppercase 'T' between date and time; found")) ||
      (p = read_fixed_digits(s, 11, 2, f.hour, "expected a 2-digit hour")) ||
      (p = expect_char(s, 13, ':', "expected ':' after the hour; found")) ||
      (p = read_fixed_digits(s, 14, 2, f.minute, "expected a 2-digit minute")) ||
      (p = expect_char(s, 16, ':', "expected ':' after the minute; found")) ||
      (p = read_fixed_digits(s, 17, 2, f.second, "expected 2-digit seconds")))
    return p;

  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t first = ++pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    if (pos == first) return fail_at("expected digits after '.'", pos);
    if (pos - first > kMaxFractionDigits)
      return fail_at("fractional seconds longer than 20 digits", first);
  }

  if (pos >= s.size()) return fail_at("missing timezone ('Z' or +hh:mm/-hh:mm)", pos);
  if (s[pos] == 'Z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    f.offset_sign = s[pos] == '+' ? 1 : -1;
    f.offset_at = pos;
    if ((p = read_fixed_digits(s, pos + 1, 2, f.offset_hour, "expected a 2-digit offset hour")) ||
        (p = expect_char(s, pos + 3, ':', "expected ':' in the offset; found")) ||
        (p = read_fixed_digits(s, pos + 4, 2, f.offset_minute, "expected 2-digit offset minutes")))
      return p;
    pos += 6;
    // RFC 3339 uses "-00:00" for "offset unknown"; ISO 8601 forbids it.
    if (f.offset_sign < 0 && f.offset_hour == 0 && f.offset_minute == 0)
      return fail_at("offset \"-00:00\" is not allowed", f.offset_at);
  } else {
    return Problem{"expected timezone 'Z' or +hh:mm/-hh:mm; found", pos, true, true};
  }
  if (pos != s.size()) return bad_byte_at(pos);
  return kOk;
}

constexpr bool is_leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int year, int month) {
  constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

// Range checks, and the year-0 floor: "0000-01-01T00:00:00+01:00" is
// 0001 BCE in UTC, which neither ISO 8601's basic range nor most datetime
// libraries (the reference implementations included) can represent.
Outcome check_datetime_fields(const DatetimeFields& f) {
  if (f.month < 1 || f.month > 12) return fail_at("month out of range", 5);
  if (f.day < 1 || f.day > days_in_month(f.year, f.month))
    return fail_at("day out of range for the month", 8);
  if (f.hour > 23) return fail_at("hour out of range", 11);
  if (f.minute > 59) return fail_at("minute out of range", 14);
  // Leap seconds (":60") are refused, as the Go and TypeScript references do.
  if (f.second > 59) return fail_at("second out of range", 17);
  if (f.offset_sign != 0) {
    if (f.offset_hour > 23) return fail_at("offset hour out of range", f.offset_at + 1);
    if (f.offset_minute > 59) return fail_at("offset minute out of range", f.offset_at + 4);
  }
  if (f.year == 0 && f.month == 1 && f.day == 1) {
    int local_minutes = f.hour * 60 + f.minute;
    int offset_minutes = f.offset_sign * (f.offset_hour * 60 + f.offset_minute);
    if (local_minutes - offset_minutes < 0) return fail("is before year 0000 in UTC");
  }
  return kOk;
}

Outcome check_datetime(std::string_view s) {
  if (s.empty()) return fail("empty");
  if (s.size() > kMaxDatetimeLength) return fail("longer than 64 characters");
  DatetimeFields f;
  if (auto p = scan_datetime(s, f)) return p;
  return check_datetime_fields(f);
}

// ---------------------------------------------------------------------------
// CID (lenient string syntax)

constexpr std::size_t kMinCidLength = 8;

Outcome check_cid(std::string_view s) {
  if (s.size() < kMinCidLength) return fail("shorter than 8 characters");
  if (s.size() > kMaxCidLength) return fail("longer than 256 characters");
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!is_alnum(s[i]) && s[i] != '+' && s[i] != '=') return bad_byte_at(i);
  // A CIDv0 is a bare base58 sha2-256 multihash, which always reads "Qm...".
  if (s.substr(0, 2) == "Qm") return fail("CIDv0 (\"Qm...\") is not supported");
  return kOk;
}

// ---------------------------------------------------------------------------
// Language tag (RFC 5646 section 2.1)

// Irregular grandfathered tags: the ones that do not fit the langtag grammar.
// (The "regular" ones such as "zh-hakka" or "art-lojban" do fit it.)
constexpr std::array<std::string_view, 17> kIrregularGrandfathered = {
    "en-GB-oed", "i-ami",   "i-bnn",     "i-default", "i-enochian", "i-hak",
    "i-klingon", "i-lux",   "i-mingo",   "i-navajo",  "i-pwn",      "i-tao",
    "i-tay",     "i-tsu",   "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE",
};

constexpr std::size_t kMaxSubtagLength = 8;

bool is_alpha_subtag(std::string_view t) { return all_of(t, [](char c) { return is_alpha(c); }); }
bool is_digit_subtag(std::string_view t) { return all_of(t, [](char c) { return is_digit(c); }); }

bool is_private_use_singleton(std::string_view t) { return t == "x" || t == "X"; }

// Every subtag is 1-8 ASCII letters or digits, separated by single '-'.
Outcome check_subtag_shapes(std::string_view s) {
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '-') {
      if (i == start) return fail_at("empty subtag", start);
      if (i - start > kMaxSubtagLength) return fail_at("subtag longer than 8 characters", start);
      start = i + 1;
    } else if (!is_alnum(s[i])) {
      return bad_byte_at(i);
    }
  }
  return kOk;
}

// Walks subtags of an already shape-checked tag.
class SubtagCursor {
 public:
  explicit SubtagCursor(std::string_view s) : s_(s) {}
  bool done() const { return pos_ > s_.size(); }
  std::size_t offset() const { return pos_; }
  std::string_view peek() const {
    std::size_t end = s_.find('-', pos_);
    return s_.substr(pos_, end == std::string_view::npos ? std::string_view::npos : end - pos_);
  }
  void advance() { pos_ += peek().size() + 1; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

// "x-" followed by one or more subtags (any shape already ensured).
Outcome check_private_use(SubtagCursor& cur) {
  std::size_t x_at = cur.offset();
  cur.advance();
  if (cur.done()) return fail_at("private-use 'x' needs at least one subtag", x_at);
  while (!cur.done()) cur.advance();
  return kOk;
}

int singleton_index(char c) { return is_digit(c) ? c - '0' : 10 + (util::ascii_lower(c) - 'a'); }

// Extensions: singleton 1*("-" 2*8alphanum), each singleton at most once.
Outcome check_extensions(SubtagCursor& cur) {
  std::uint64_t seen_singletons = 0;
  while (!cur.done()) {
    std::string_view t = cur.peek();
    if (is_private_use_singleton(t)) return check_private_use(cur);
    if (t.size() != 1)
      return fail_at("subtag out of place (expected an extension singleton)", cur.offset());
    std::uint64_t bit = std::uint64_t{1} << singleton_index(t[0]);
    if (seen_singletons & bit) return fail_at("repeated extension singleton", cur.offset());
    seen_singletons |= bit;
    std::size_t singleton_at = cur.offset();
    cur.advance();
    int subtags = 0;
    while (!cur.done() && cur.peek().size() >= 2) {
      cur.advance();
      ++subtags;
    }
    if (subtags == 0) return fail_at("extension needs at least one subtag of 2-8 characters", singleton_at);
  }
  return kOk;
}

// variant = 5*8alphanum / (DIGIT 3alphanum); length and characters were
// checked by check_subtag_shapes().
bool is_variant(std::string_view t) {
  return (t.size() >= 5) || (t.size() == 4 && is_digit(t[0]));
}

// langtag = language ["-" script] ["-" region] *("-" variant)
//           *("-" extension) ["-" privateuse]
// with language = 2*3ALPHA *3("-" extlang) after the primary-subtag rule.
Outcome check_langtag(std::string_view s) {
  SubtagCursor cur(s);
  std::string_view primary = cur.peek();
  if (primary.size() < 2 || primary.size() > 3 || !all_of(primary, is_lower))
    return fail_at("primary language subtag must be 2-3 lowercase letters", 0);
  cur.advance();

  enum Stage { kExtlang, kScript, kRegion, kVariant };
  Stage stage = kExtlang;
  int extlangs = 0;
  // A tag of at most 128 characters holds at most 21 five-character variants.
  std::array<std::string_view, kMaxLanguageLength / 5> variants{};
  std::size_t variant_count = 0;

  for (; !cur.done(); cur.advance()) {
    std::string_view t = cur.peek();
    if (t.size() == 1) return check_extensions(cur);
    if (stage == kExtlang && t.size() == 3 && is_alpha_subtag(t) && extlangs < 3) {
      ++extlangs;
    } else if (stage <= kScript && t.size() == 4 && is_alpha_subtag(t)) {
      stage = kRegion;
    } else if (stage <= kRegion &&
               ((t.size() == 2 && is_alpha_subtag(t)) || (t.size() == 3 && is_digit_subtag(t)))) {
      stage = kVariant;
    } else if (is_variant(t)) {
      for (std::size_t i = 0; i < variant_count; ++i)
        if (util::iequals_ascii(variants[i], t))
          return fail_at("repeated variant subtag", cur.offset());
      if (variant_count == variants.size()) return fail_at("too many variant subtags", cur.offset());
      variants[variant_count++] = t;
      stage = kVariant;
    } else {
      return fail_at("subtag out of place or malformed", cur.offset());
    }
  }
  return kOk;
}

Outcome check_language(std::string_view s) {
  if (s.empty()) return fail("empty");
  if (s.size() > kMaxLanguageLength) return fail("longer than 128 characters");
  if (auto p = check_subtag_shapes(s)) return p;
  SubtagCursor cur(s);
  if (is_private_use_singleton(cur.peek())) return check_private_use(cur);
  if (is_upper(s[0])) return fail_at("primary language subtag must be lowercase", 0);
  for (std::string_view g : kIrregularGrandfathered)
    if (util::iequals_ascii(s, g)) return kOk;
  return check_langtag(s);
}

// ---------------------------------------------------------------------------
// Generic URI

constexpr bool is_scheme_char(char c) { return is_alnum(c) || c == '+' || c == '-' || c == '.'; }
constexpr bool is_visible_ascii(char c) { return c > 0x20 && c < 0x7f; }

Outcome check_uri(std::string_view s) {
  if (s.empty()) return fail("empty");
  if (s.size() > kMaxUriLength) return fail("longer than 8192 characters");
  if (!is_alpha(s[0])) return fail_at("scheme must start with a letter", 0);
  std::size_t i = 1;
  while (i < s.size() && is_scheme_char(s[i])) ++i;
  if (i == s.size() || s[i] != ':') return fail("missing ':' after the scheme");
  std::size_t rest = ++i;
  if (rest == s.size()) return fail_at("nothing after the scheme", rest);
  for (; i < s.size(); ++i)
    if (!is_visible_ascii(s[i])) return bad_byte_at(i);
  // "http://" or "http:///path" carry no authority and no usable path.
  if (s.substr(rest, 2) == "//" && (rest + 2 == s.size() || s[rest + 2] == '/'))
    return fail_at("empty authority after \"//\"", rest + 2);
  return kOk;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public wrappers.

void validate_handle(std::string_view s) { raise_if("handle", s, check_handle(s)); }
bool is_valid_handle(std::string_view s) noexcept { return !check_handle(s); }

std::string normalize_handle(std::string_view s) {
  validate_handle(s);
  return util::ascii_lower(s);
}

bool is_disallowed_tld_handle(std::string_view handle) noexcept {
  static constexpr std::array<std::string_view, 8> kDisallowed = {
      "alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"};
  std::size_t dot = handle.rfind('.');
  std::string_view tld = dot == std::string_view::npos ? handle : handle.substr(dot + 1);
  for (std::string_view d : kDisallowed)
    if (util::iequals_ascii(tld, d)) return true;
  return false;
}

void validate_did(std::string_view s) { raise_if("DID", s, check_did(s)); }
bool is_valid_did(std::string_view s) noexcept { return !check_did(s); }

void validate_nsid(std::string_view s) { raise_if("NSID", s, check_nsid(s)); }
bool is_valid_nsid(std::string_view s) noexcept { return !check_nsid(s); }

void validate_at_uri(std::string_view s) { raise_if("AT-URI", s, check_at_uri(s)); }
bool is_valid_at_uri(std::string_view s) noexcept { return !check_at_uri(s); }

void validate_record_key(std::string_view s) { raise_if("record key", s, check_record_key(s)); }
bool is_valid_record_key(std::string_view s) noexcept { return !check_record_key(s); }

void validate_tid(std::string_view s) { raise_if("TID", s, check_tid(s)); }
bool is_valid_tid(std::string_view s) noexcept { return !check_tid(s); }

void validate_datetime(std::string_view s) { raise_if("datetime", s, check_datetime(s)); }
bool is_valid_datetime(std::string_view s) noexcept { return !check_datetime(s); }

void validate_at_identifier(std::string_view s) {
  raise_if("at-identifier", s, check_at_identifier(s));
}
bool is_valid_at_identifier(std::string_view s) noexcept { return !check_at_identifier(s); }

void validate_cid(std::string_view s) { raise_if("CID", s, check_cid(s)); }
bool is_valid_cid(std::string_view s) noexcept { return !check_cid(s); }

void validate_language(std::string_view s) { raise_if("language tag", s, check_language(s)); }
bool is_valid_language(std::string_view s) noexcept { return !check_language(s); }

void validate_uri(std::string_view s) { raise_if("URI", s, check_uri(s)); }
bool is_valid_uri(std::string_view s) noexcept { return !check_uri(s); }

}  // namespace atcr::syntax

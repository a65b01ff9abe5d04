// Syntax checks for the string formats atproto names: handles, DIDs, NSIDs,
// AT-URIs, record keys, TIDs, datetimes, CIDs, language tags and URIs.
//
// Each format X has a pair:
//
//   void validate_X(std::string_view)         throws atcr::ParseError whose
//                                              message names the format, the
//                                              (truncated) input and the
//                                              reason, e.g.
//                                              handle "foo..bar": empty label at offset 4
//   bool is_valid_X(std::string_view) noexcept never throws or allocates.
//
// The checks follow the atproto specs and the atproto-interop-tests
// fixtures. They are syntax only: a valid handle may still be unresolvable,
// a valid DID may use an unsupported method. Every check enforces its
// format's maximum length before scanning and runs in linear time, so they
// are safe on hostile input of any size or content.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace atcr::syntax {

inline constexpr std::size_t kMaxHandleLength = 253;
inline constexpr std::size_t kMaxDidLength = 2048;
inline constexpr std::size_t kMaxNsidLength = 317;
inline constexpr std::size_t kMaxAtUriLength = 8192;
inline constexpr std::size_t kMaxRecordKeyLength = 512;
inline constexpr std::size_t kMaxDatetimeLength = 64;
inline constexpr std::size_t kMaxCidLength = 256;
inline constexpr std::size_t kMaxLanguageLength = 128;
inline constexpr std::size_t kMaxUriLength = 8192;

// Handle: a DNS name of at least two labels, ASCII letters, digits and '-',
// at most 253 characters; the last label must not start with a digit.
// Case-insensitive; see normalize_handle().
void validate_handle(std::string_view handle);
bool is_valid_handle(std::string_view handle) noexcept;

// Validates, then lowercases: the form to store and compare.
std::string normalize_handle(std::string_view handle);

// True when the handle's last label is a TLD that atproto refuses to
// register or resolve (.alt .arpa .example .internal .invalid .local
// .localhost .onion), compared case-insensitively. This is policy, not
// syntax: such handles pass validate_handle(). Note "handle.invalid" is the
// marker for "this account has no valid handle".
bool is_disallowed_tld_handle(std::string_view handle) noexcept;

// DID: "did:" method ":" identifier, at most 2048 characters. Case-sensitive;
// percent-escapes are allowed but not decoded or checked.
void validate_did(std::string_view did);
bool is_valid_did(std::string_view did) noexcept;

// NSID: a reversed domain authority plus a name segment ("com.example.fooBar"),
// at least three segments, at most 317 characters. No "*" globs.
void validate_nsid(std::string_view nsid);
bool is_valid_nsid(std::string_view nsid) noexcept;

// AT-URI, restricted form used by Lexicon:
// "at://" (handle | DID) [ "/" NSID [ "/" record-key ] ], at most 8 KiB,
// no trailing slash, no query, no fragment.
void validate_at_uri(std::string_view uri);
bool is_valid_at_uri(std::string_view uri) noexcept;

// Record key: 1-512 characters of [A-Za-z0-9._:~-], but not "." or "..".
void validate_record_key(std::string_view rkey);
bool is_valid_record_key(std::string_view rkey) noexcept;

// TID: 13 base32-sortable characters whose value fits in 64 bits (the first
// character is 2-7 or a-j), per the spec's regex. First characters c-j set
// the top bit, which no generator produces; atcr::Tid::parse refuses them.
void validate_tid(std::string_view tid);
bool is_valid_tid(std::string_view tid) noexcept;

// Datetime: the intersection of RFC 3339 and ISO 8601 that Lexicon allows:
// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)", uppercase T and Z,
// 1-20 fraction digits, "-00:00" refused. Also checked as a date: fields in
// range (no leap second 60, no February 30), and not before year 0000 once
// moved to UTC.
void validate_datetime(std::string_view datetime);
bool is_valid_datetime(std::string_view datetime) noexcept;

// At-identifier: a handle or a DID.
void validate_at_identifier(std::string_view ident);
bool is_valid_at_identifier(std::string_view ident) noexcept;

// CID string, leniently: 8-256 characters of [A-Za-z0-9+=] in any multibase,
// not a CIDv0 ("Qm..."). It does not decode anything; use atcr::Cid::parse
// for a real CID.
void validate_cid(std::string_view cid);
bool is_valid_cid(std::string_view cid) noexcept;

// Language: a well-formed BCP-47 tag (RFC 5646 section 2.1), including
// private-use ("x-...") and irregular grandfathered tags ("i-navajo"), with
// the primary language subtag in lowercase, 2-3 letters (every ISO 639 code;
// 4-8 letter primaries are reserved or unassigned). Also refuses repeated
// variant or extension singleton subtags, which RFC 5646 section 2.2.9 makes
// invalid. At most 128 characters. Does not consult the IANA registry.
void validate_language(std::string_view tag);
bool is_valid_language(std::string_view tag) noexcept;

// Generic URI: scheme ":" rest, scheme per RFC 3986, rest non-empty printable
// ASCII without whitespace, at most 8 KiB.
void validate_uri(std::string_view uri);
bool is_valid_uri(std::string_view uri) noexcept;

}  // namespace atcr::syntax

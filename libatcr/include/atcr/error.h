// Error types thrown by libatcr.
//
// Every failure is an exception derived from atcr::Error whose message says
// what was wrong and where ("cbor: non-canonical integer at offset 12").
// The subclasses let callers tell hostile or broken input (ParseError) from
// well-formed input that fails a check (VerifyError) and from trouble in the
// environment (StorageError), because each maps to a different protocol
// answer: 400, 401/422-style rejection, or 500.
#pragma once

#include <stdexcept>
#include <string>

namespace atcr {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The input is malformed: bad syntax, bad encoding, truncated, too large.
class ParseError : public Error {
 public:
  using Error::Error;
};

// The input is well-formed but does not check out: a hash, CID or signature
// does not match, a structure violates an invariant of the protocol.
class VerifyError : public Error {
 public:
  using Error::Error;
};

// Something asked for is not there (a record, a block, a repo).
class NotFoundError : public Error {
 public:
  using Error::Error;
};

// The storage layer (SQLite, filesystem) failed.
class StorageError : public Error {
 public:
  using Error::Error;
};

// A configuration setting is missing or invalid. key() names it ("" for a
// file that cannot be read or parsed); the message says what and where.
class ConfigError : public Error {
 public:
  ConfigError(std::string key, const std::string& message) : Error(message), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

}  // namespace atcr

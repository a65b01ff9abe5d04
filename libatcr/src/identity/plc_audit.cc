// Audit-log parsing and verification for did:plc.
#include <fmt/format.h>

#include <chrono>
#include <unordered_map>

#include "atcr/data/json.h"
#include "atcr/data/syntax.h"
#include "atcr/identity/plc.h"

namespace atcr::identity {

namespace {

using Millis = std::chrono::sys_time<std::chrono::milliseconds>;

// A recovery op may replace operations for this long after their parent.
constexpr auto kRecoveryWindow = std::chrono::hours(72);

int digits(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// An RFC 3339 timestamp as milliseconds since the epoch (sub-millisecond
// digits are dropped; the directory writes milliseconds).
Millis parse_timestamp(std::string_view s) {
  syntax::validate_datetime(s);  // fixes the layout read below
  using namespace std::chrono;
  year_month_day date{year{digits(s, 0, 4)}, month{static_cast<unsigned>(digits(s, 5, 2))},
                      day{static_cast<unsigned>(digits(s, 8, 2))}};
  Millis t = sys_days(date) + hours(digits(s, 11, 2)) + minutes(digits(s, 14, 2)) + seconds(digits(s, 17, 2));
  std::size_t pos = 19;
  if (s[pos] == '.') {
    int ms = 0;
    std::size_t n = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n)
      if (n < 3) ms = ms * 10 + (s[pos] - '0');
    for (; n < 3; ++n) ms *= 10;
    t += milliseconds(ms);
  }
  if (s[pos] != 'Z') {
    minutes offset = hours(digits(s, pos + 1, 2)) + minutes(digits(s, pos + 4, 2));
    t -= s[pos] == '+' ? offset : -offset;
  }
  return t;
}

// What verification tracks for each accepted op.
struct Node {
  Millis created;
  bool nullified = false;
  std::optional<std::size_t> child;  // the op that names this one as prev
  // Keys that may still sign a successor: all rotation keys at first; once
  // a successor signed with key i, only keys before i (a recovery).
  std::vector<std::string> allowed;
};

[[noreturn]] void reject(std::string_view did, std::size_t index, std::string_view what) {
  throw VerifyError(fmt::format("PLC audit log of {}: entry {}: {}", did, index, what));
}

}  // namespace

std::vector<PlcLogEntry> parse_plc_audit_log(std::string_view text) {
  Value log = json::parse(text);
  if (!log.is_array()) throw ParseError("PLC audit log: not a JSON array");
  std::vector<PlcLogEntry> entries;
  entries.reserve(log.as_array().size());
  std::size_t i = 0;
  for (const Value& e : log.as_array()) {
    try {
      entries.push_back(PlcLogEntry{e.at("did").as_string(), PlcOperation::from_value(e.at("operation")),
                                    e.at("cid").as_string(), e.at("nullified").as_bool(),
                                    e.at("createdAt").as_string()});
    } catch (const ParseError& err) {
      throw ParseError(fmt::format("PLC audit log: entry {}: {}", i, err.what()));
    }
    ++i;
  }
  return entries;
}

PlcOperation verify_plc_audit_log(std::string_view did, std::span<const PlcLogEntry> entries) {
  if (entries.empty()) throw VerifyError(fmt::format("PLC audit log of {}: empty", did));
  std::vector<Node> nodes;
  nodes.reserve(entries.size());
  std::unordered_map<Cid, std::size_t> by_cid;
  std::size_t head = 0;

  for (std::size_t i = 0; i < entries.size(); ++i) {
    const PlcLogEntry& entry = entries[i];
    const PlcOperation& op = entry.operation;
    if (entry.did != did) reject(did, i, fmt::format("is for {}", entry.did));
    if (!op.is_signed()) reject(did, i, "operation is not signed");
    Cid cid = op.cid();
    if (cid.to_string() != entry.cid)
      reject(did, i, fmt::format("cid {} does not match the operation's {}", entry.cid, cid.to_string()));
    if (by_cid.count(cid)) reject(did, i, "repeats an earlier operation");
    Millis created = parse_timestamp(entry.created_at);

    if (op.is_genesis()) {
      if (i != 0) reject(did, i, "a second genesis operation");
      if (op.did() != did) reject(did, i, fmt::format("genesis operation creates {}", op.did()));
      if (!op.verify(op.rotation_keys())) reject(did, i, "genesis signature does not verify with its own keys");
    } else {
      if (i == 0) reject(did, i, "the log does not start with a genesis operation");
      auto found = by_cid.find(*op.prev());
      if (found == by_cid.end()) reject(did, i, fmt::format("prev {} is not an earlier operation", op.prev()->to_string()));
      std::size_t p = found->second;
      Node& parent = nodes[p];
      if (parent.nullified) reject(did, i, fmt::format("prev {} is nullified", op.prev()->to_string()));
      std::optional<std::size_t> key = op.verify(parent.allowed);
      if (!key)
        reject(did, i, parent.child ? "recovery is not signed by a higher-authority rotation key of prev"
                                    : "signature does not verify with the rotation keys of prev");
      if (!parent.child) {
        // A plain update: a live op without a successor is the head.
        if (p != head) reject(did, i, "prev is not the latest operation");
        if (created <= parent.created) reject(did, i, "not newer than prev");
      } else {
        if (created <= nodes[head].created) reject(did, i, "recovery not newer than the latest operation");
        if (created - parent.created > kRecoveryWindow) reject(did, i, "recovery more than 72 hours after prev");
        for (std::optional<std::size_t> n = parent.child; n; n = nodes[*n].child) nodes[*n].nullified = true;
      }
      parent.allowed.resize(*key);
      parent.child = i;
    }
    nodes.push_back(Node{created, false, std::nullopt, op.rotation_keys()});
    by_cid.emplace(cid, i);
    head = i;
  }

  for (std::size_t i = 0; i < entries.size(); ++i)
    if (entries[i].nullified != nodes[i].nullified)
      reject(did, i, entries[i].nullified ? "marked nullified but is not" : "nullified but not marked so");
  return entries[head].operation;
}

}  // namespace atcr::identity

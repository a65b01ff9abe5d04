#include "appview/device_store.h"

#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"

namespace atcr::appview {

namespace {

constexpr const char* kSchema = R"(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA busy_timeout = 5000;
CREATE TABLE IF NOT EXISTS device_codes (
  device_code_hash TEXT PRIMARY KEY,
  user_code TEXT NOT NULL UNIQUE,
  device_name TEXT NOT NULL,
  host TEXT NOT NULL,
  ip TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  interval INTEGER NOT NULL,
  last_poll INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'pending',  -- pending | approved | denied
  did TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS devices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  did TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  host TEXT NOT NULL,
  ip TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS devices_did ON devices (did);
)";

constexpr std::size_t kUserCodeLetters = 8;
constexpr std::size_t kMaxLabel = 100;
constexpr std::int64_t kSlowDownStep = 5;  // RFC 8628 3.5
constexpr std::int64_t kForgetAfter = 3600;

std::string token(std::string_view prefix) {
  return std::string(prefix) + base64::encode_url(random_bytes(32));
}

std::string hash(std::string_view text) { return hex::encode(sha256(as_bytes(text))); }

// A label from a client: printable ASCII, bounded (the page escapes it too).
std::string label(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxLabel) break;
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

Device device_from(const sqlite::Statement& st) {
  Device d;
  d.id = st.column_int(0);
  d.did = st.column_text(1);
  d.name = st.column_text(2);
  d.host = st.column_text(3);
  d.ip = st.column_text(4);
  d.created_at = st.column_int(5);
  d.last_used = st.column_int(6);
  return d;
}

constexpr const char* kDeviceColumns = "id, did, name, host, ip, created_at, last_used";

}  // namespace

std::string make_user_code() {
  std::string code;
  while (code.size() < kUserCodeLetters) {
    for (std::uint8_t b : random_bytes(16)) {
      // Rejection sampling keeps every letter equally likely.
      if (b >= 240 || code.size() == kUserCodeLetters) continue;
      code += kUserCodeAlphabet[b % kUserCodeAlphabet.size()];
    }
  }
  return code.substr(0, 4) + "-" + code.substr(4);
}

std::optional<std::string> normalize_user_code(std::string_view typed) {
  std::string letters;
  for (char c : typed) {
    if (c == '-' || c == ' ' || c == '\t') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    if (kUserCodeAlphabet.find(c) == std::string_view::npos || letters.size() == kUserCodeLetters)
      return std::nullopt;
    letters += c;
  }
  if (letters.size() != kUserCodeLetters) return std::nullopt;
  return letters.substr(0, 4) + "-" + letters.substr(4);
}

std::string hash_device_secret(std::string_view secret) { return hash(secret); }

DeviceStore::DeviceStore(const std::string& db_path, Options options) : options_(std::move(options)), db_(db_path) {
  db_.exec(kSchema);
}

std::int64_t DeviceStore::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

DeviceCode DeviceStore::start(std::string_view device_name, std::string_view host, std::string_view ip) {
  DeviceCode code;
  code.device_code = token("");
  code.expires_in = options_.code_ttl.count();
  code.interval = options_.interval.count();
  std::int64_t t = now();
  std::lock_guard lock(mu_);
  {
    sqlite::Statement count(db_,
                            "SELECT COUNT(*), COALESCE(SUM(ip = ?), 0) FROM device_codes "
                            "WHERE state = 'pending' AND expires_at > ?");
    count.bind(1, label(ip)).bind(2, t);
    count.step();
    if (count.column_int(1) >= kMaxPendingPerIp || count.column_int(0) >= kMaxPending)
      throw TooManyCodes("too many login codes are waiting for approval; approve or let them expire first");
  }
  for (int attempt = 0;; ++attempt) {
    code.user_code = make_user_code();
    sqlite::Statement taken(db_, "SELECT 1 FROM device_codes WHERE user_code = ?");
    taken.bind(1, code.user_code);
    if (!taken.step() || attempt > 20) break;
  }
  sqlite::Statement st(db_,
                       "INSERT INTO device_codes (device_code_hash, user_code, device_name, host, ip, created_at, "
                       "expires_at, interval) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, hash(code.device_code)).bind(2, code.user_code).bind(3, label(device_name)).bind(4, label(host));
  st.bind(5, label(ip)).bind(6, t).bind(7, t + code.expires_in).bind(8, code.interval);
  st.run();
  return code;
}

PollResult DeviceStore::poll(std::string_view device_code) {
  const std::string code_hash = hash(device_code);
  const std::int64_t t = now();
  std::lock_guard lock(mu_);
  sqlite::Transaction tx(db_);
  sqlite::Statement st(db_,
                       "SELECT expires_at, interval, last_poll, state, did, device_name, host, ip FROM device_codes "
                       "WHERE device_code_hash = ?");
  st.bind(1, code_hash);
  PollResult r;
  if (!st.step()) return r;  // kUnknown
  std::int64_t expires_at = st.column_int(0);
  r.interval = st.column_int(1);
  std::int64_t last_poll = st.column_int(2);
  std::string state = st.column_text(3);
  r.did = st.column_text(4);
  std::string name = st.column_text(5), host = st.column_text(6), ip = st.column_text(7);

  auto forget = [&] {
    sqlite::Statement del(db_, "DELETE FROM device_codes WHERE device_code_hash = ?");
    del.bind(1, code_hash);
    del.run();
  };
  if (t >= expires_at) {
    r.status = PollStatus::kExpired;
  } else if (state == "denied") {
    r.status = PollStatus::kDenied;
    forget();
  } else if (state == "approved") {
    r.status = PollStatus::kApproved;
    r.secret = token(kDeviceSecretPrefix);
    sqlite::Statement add(db_,
                          "INSERT INTO devices (did, secret_hash, name, host, ip, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    add.bind(1, r.did).bind(2, hash(r.secret)).bind(3, name).bind(4, host).bind(5, ip).bind(6, t);
    add.run();
    forget();  // the secret is handed out once
  } else {
    r.status = PollStatus::kPending;
    if (last_poll != 0 && t - last_poll < r.interval) {
      r.status = PollStatus::kSlowDown;
      r.interval += kSlowDownStep;
    }
    sqlite::Statement upd(db_, "UPDATE device_codes SET last_poll = ?, interval = ? WHERE device_code_hash = ?");
    upd.bind(1, t).bind(2, r.interval).bind(3, code_hash);
    upd.run();
  }
  tx.commit();
  return r;
}

std::optional<PendingDevice> DeviceStore::pending(std::string_view user_code) {
  auto code = normalize_user_code(user_code);
  if (!code) return std::nullopt;
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_,
                       "SELECT device_name, host, ip, created_at, expires_at FROM device_codes "
                       "WHERE user_code = ? AND state = 'pending' AND expires_at > ?");
  st.bind(1, *code).bind(2, now());
  if (!st.step()) return std::nullopt;
  PendingDevice p;
  p.user_code = *code;
  p.device_name = st.column_text(0);
  p.host = st.column_text(1);
  p.ip = st.column_text(2);
  p.created_at = st.column_int(3);
  p.expires_at = st.column_int(4);
  return p;
}

bool DeviceStore::decide(std::string_view user_code, const std::string& did, bool approve) {
  auto code = normalize_user_code(user_code);
  if (!code) return false;
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_,
                       "UPDATE device_codes SET state = ?, did = ? "
                       "WHERE user_code = ? AND state = 'pending' AND expires_at > ?");
  st.bind(1, approve ? "approved" : "denied").bind(2, did).bind(3, *code).bind(4, now());
  st.run();
  return sqlite3_changes(db_.handle()) == 1;
}

std::optional<Device> DeviceStore::check_secret(const std::string& did, std::string_view secret) {
  if (!secret.starts_with(kDeviceSecretPrefix)) return std::nullopt;
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_, (std::string("SELECT ") + kDeviceColumns +
                             " FROM devices WHERE secret_hash = ? AND did = ?").c_str());
  st.bind(1, hash(secret)).bind(2, did);
  if (!st.step()) return std::nullopt;
  Device d = device_from(st);
  d.last_used = now();
  sqlite::Statement used(db_, "UPDATE devices SET last_used = ? WHERE id = ?");
  used.bind(1, d.last_used).bind(2, d.id);
  used.run();
  return d;
}

std::vector<Device> DeviceStore::devices(const std::string& did) {
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_, (std::string("SELECT ") + kDeviceColumns +
                             " FROM devices WHERE did = ? ORDER BY created_at DESC, id DESC").c_str());
  st.bind(1, did);
  std::vector<Device> out;
  while (st.step()) out.push_back(device_from(st));
  return out;
}

bool DeviceStore::revoke(const std::string& did, std::int64_t id) {
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_, "DELETE FROM devices WHERE id = ? AND did = ?");
  st.bind(1, id).bind(2, did);
  st.run();
  return sqlite3_changes(db_.handle()) == 1;
}

void DeviceStore::expire() {
  std::lock_guard lock(mu_);
  sqlite::Statement st(db_, "DELETE FROM device_codes WHERE expires_at < ?");
  st.bind(1, now() - kForgetAfter);
  st.run();
}

}  // namespace atcr::appview

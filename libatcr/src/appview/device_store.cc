#include "appview/device_store.h"

#include <fmt/core.h>

#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"

namespace atcr::appview {

namespace {

// Version 1 is the schema of the releases before migrations were numbered
// (IF NOT EXISTS: their databases have it already). The dialects differ in
// the devices' auto-increment id only.
#define ATCR_DEVICE_SCHEMA(ID_COLUMN) \
  "CREATE TABLE IF NOT EXISTS device_codes (device_code_hash TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, " \
  "device_name TEXT NOT NULL, host TEXT NOT NULL, ip TEXT NOT NULL, created_at BIGINT NOT NULL, " \
  "expires_at BIGINT NOT NULL, \"interval\" BIGINT NOT NULL, last_poll BIGINT NOT NULL DEFAULT 0, " \
  "state TEXT NOT NULL DEFAULT 'pending', /* pending | approved | denied */ did TEXT NOT NULL DEFAULT ''); " \
  "CREATE TABLE IF NOT EXISTS devices (" ID_COLUMN ", did TEXT NOT NULL, secret_hash TEXT NOT NULL UNIQUE, " \
  "name TEXT NOT NULL, host TEXT NOT NULL, ip TEXT NOT NULL, created_at BIGINT NOT NULL, " \
  "last_used BIGINT NOT NULL DEFAULT 0); " \
  "CREATE INDEX IF NOT EXISTS devices_did ON devices (did);"
constexpr const char* kSchemaV1 = ATCR_DEVICE_SCHEMA("id INTEGER PRIMARY KEY AUTOINCREMENT");
constexpr const char* kSchemaV1Postgres = ATCR_DEVICE_SCHEMA("id BIGSERIAL PRIMARY KEY");
#undef ATCR_DEVICE_SCHEMA
constexpr db::Migration kMigrations[] = {{1, kSchemaV1, kSchemaV1Postgres}};

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

Device device_from(const db::Row& r) {
  Device d;
  d.id = r.integer(0);
  d.did = r.text(1);
  d.name = r.text(2);
  d.host = r.text(3);
  d.ip = r.text(4);
  d.created_at = r.integer(5);
  d.last_used = r.integer(6);
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

DeviceStore::DeviceStore(const std::string& db_path, Options options)
    : DeviceStore(db::open(db_path), std::move(options)) {}

DeviceStore::DeviceStore(std::shared_ptr<db::Database> database, Options options)
    : options_(std::move(options)), db_(std::move(database)) {
  db_->migrate("appview.devices", kMigrations);
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
  db_->transaction([&](db::Executor& tx) {
    const db::Row waiting = tx.exec("SELECT COUNT(*), COALESCE(SUM(CASE WHEN ip = ? THEN 1 ELSE 0 END), 0) "
                                    "FROM device_codes WHERE state = 'pending' AND expires_at > ?",
                                    {label(ip), t})
                                .front();
    if (waiting.integer(1) >= kMaxPendingPerIp || waiting.integer(0) >= kMaxPending)
      throw TooManyCodes("too many login codes are waiting for approval; approve or let them expire first");
    for (int attempt = 0;; ++attempt) {
      code.user_code = make_user_code();
      if (tx.exec("SELECT 1 FROM device_codes WHERE user_code = ?", {code.user_code}).empty() || attempt > 20) break;
    }
    tx.exec("INSERT INTO device_codes (device_code_hash, user_code, device_name, host, ip, created_at, "
            "expires_at, \"interval\") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            {hash(code.device_code), code.user_code, label(device_name), label(host), label(ip), t,
             t + code.expires_in, code.interval});
  });
  return code;
}

PollResult DeviceStore::poll(std::string_view device_code) {
  const std::string code_hash = hash(device_code);
  const std::int64_t t = now();
  PollResult r;
  db_->transaction([&](db::Executor& tx) {
    auto found = tx.exec("SELECT expires_at, \"interval\", last_poll, state, did, device_name, host, ip "
                         "FROM device_codes WHERE device_code_hash = ?",
                         {code_hash});
    if (found.empty()) return;  // kUnknown
    const db::Row& row = found.front();
    std::int64_t expires_at = row.integer(0);
    r.interval = row.integer(1);
    std::int64_t last_poll = row.integer(2);
    const std::string& state = row.text(3);
    r.did = row.text(4);
    auto forget = [&] { tx.exec("DELETE FROM device_codes WHERE device_code_hash = ?", {code_hash}); };
    if (t >= expires_at) {
      r.status = PollStatus::kExpired;
    } else if (state == "denied") {
      r.status = PollStatus::kDenied;
      forget();
    } else if (state == "approved") {
      r.status = PollStatus::kApproved;
      r.secret = token(kDeviceSecretPrefix);
      tx.exec("INSERT INTO devices (did, secret_hash, name, host, ip, created_at) VALUES (?, ?, ?, ?, ?, ?)",
              {r.did, hash(r.secret), row.text(5), row.text(6), row.text(7), t});
      forget();  // the secret is handed out once
    } else {
      r.status = PollStatus::kPending;
      if (last_poll != 0 && t - last_poll < r.interval) {
        r.status = PollStatus::kSlowDown;
        r.interval += kSlowDownStep;
      }
      tx.exec("UPDATE device_codes SET last_poll = ?, \"interval\" = ? WHERE device_code_hash = ?",
              {t, r.interval, code_hash});
    }
  });
  return r;
}

std::optional<PendingDevice> DeviceStore::pending(std::string_view user_code) {
  auto code = normalize_user_code(user_code);
  if (!code) return std::nullopt;
  auto found = db_->exec("SELECT device_name, host, ip, created_at, expires_at FROM device_codes "
                         "WHERE user_code = ? AND state = 'pending' AND expires_at > ?",
                         {*code, now()});
  if (found.empty()) return std::nullopt;
  const db::Row& row = found.front();
  PendingDevice p;
  p.user_code = *code;
  p.device_name = row.text(0);
  p.host = row.text(1);
  p.ip = row.text(2);
  p.created_at = row.integer(3);
  p.expires_at = row.integer(4);
  return p;
}

bool DeviceStore::decide(std::string_view user_code, const std::string& did, bool approve) {
  auto code = normalize_user_code(user_code);
  if (!code) return false;
  return db_->exec("UPDATE device_codes SET state = ?, did = ? "
                   "WHERE user_code = ? AND state = 'pending' AND expires_at > ?",
                   {approve ? "approved" : "denied", did, *code, now()})
             .affected == 1;
}

std::optional<Device> DeviceStore::check_secret(const std::string& did, std::string_view secret) {
  if (!secret.starts_with(kDeviceSecretPrefix)) return std::nullopt;
  auto found = db_->exec(fmt::format("SELECT {} FROM devices WHERE secret_hash = ? AND did = ?", kDeviceColumns),
                         {hash(secret), did});
  if (found.empty()) return std::nullopt;
  Device d = device_from(found.front());
  d.last_used = now();
  db_->exec("UPDATE devices SET last_used = ? WHERE id = ?", {d.last_used, d.id});
  return d;
}

std::vector<Device> DeviceStore::devices(const std::string& did) {
  std::vector<Device> out;
  for (const db::Row& r :
       db_->exec(fmt::format("SELECT {} FROM devices WHERE did = ? ORDER BY created_at DESC, id DESC", kDeviceColumns),
                 {did})
           .rows)
    out.push_back(device_from(r));
  return out;
}

bool DeviceStore::revoke(const std::string& did, std::int64_t id) {
  return db_->exec("DELETE FROM devices WHERE id = ? AND did = ?", {id, did}).affected == 1;
}

void DeviceStore::expire() { db_->exec("DELETE FROM device_codes WHERE expires_at < ?", {now() - kForgetAfter}); }

}  // namespace atcr::appview

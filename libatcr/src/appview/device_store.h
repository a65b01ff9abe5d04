// Internal: the device flow's state (RFC 8628) and the devices it signs in,
// in the AppView's database (data_dir/appview.sqlite or database.url), so pending
// codes and approved devices survive a restart.
//
//   start()    docker-credential-atcr asks for a code pair: a device code
//              (long, random, only its hash is kept) and a user code the
//              person types or confirms ("BCDF-GHJK");
//   decide()   the signed-in user approves or denies it on /device;
//   poll()     the helper polls with the device code: pending, slow_down
//              (faster than the interval, which then grows by 5 s),
//              denied, expired, then once approved a long-lived device
//              secret, returned that once and kept only as a hash;
//   check_secret()  /auth/token: is this the secret of one of the DID's
//              devices (another user's secret is not);
//   devices() / revoke()  the settings page.
//
// Thread-safe; the database may be shared by several AppView instances
// (database.url). Throws StorageError when the database fails. Times are unix seconds from the clock given (tests pass
// their own).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/error.h"
#include "atcr/oci/registry_login.h"
#include "atcr/db/database.h"

namespace atcr::appview {

// The alphabet of user codes: consonants only (no vowels, so no words; no
// 0/O or 1/I confusion), as RFC 8628 6.1 suggests.
inline constexpr std::string_view kUserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ";
// A fresh user code: 8 letters of kUserCodeAlphabet as "XXXX-XXXX".
std::string make_user_code();
// What a person typed ("bcdf ghjk", "BCDF-GHJK") as make_user_code() spells
// it; nullopt unless it is 8 letters of the alphabet.
std::optional<std::string> normalize_user_code(std::string_view typed);
// Device secrets are random (256 bits), so a plain SHA-256 (hex) is the
// right hash: nothing to brute-force, and lookups stay one index probe.
std::string hash_device_secret(std::string_view secret);
using oci::kDeviceSecretPrefix;  // (atcr/oci/registry_login.h)

struct DeviceCode {
  std::string device_code;
  std::string user_code;
  std::int64_t expires_in = 0;  // seconds
  std::int64_t interval = 0;    // seconds
};

// A code waiting for the user's decision, as the approval page shows it.
struct PendingDevice {
  std::string user_code;
  std::string device_name;  // as the helper sent them
  std::string host;
  std::string ip;           // where the helper's request came from
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
};

struct Device {
  std::int64_t id = 0;
  std::string did;
  std::string name;
  std::string host;
  std::string ip;
  std::int64_t created_at = 0;
  std::int64_t last_used = 0;  // 0: never
};

enum class PollStatus { kPending, kSlowDown, kDenied, kExpired, kApproved, kUnknown };

struct PollResult {
  PollStatus status = PollStatus::kUnknown;
  std::string did;     // kApproved
  std::string secret;  // kApproved: the device secret, shown this once
  std::int64_t interval = 0;
};

class TooManyCodes : public Error {
 public:
  using Error::Error;
};

class DeviceStore {
 public:
  using Clock = std::function<std::int64_t()>;
  struct Options {
    std::chrono::seconds code_ttl{10 * 60};
    std::chrono::seconds interval{5};
    Clock clock;  // default: the system clock
  };

  DeviceStore(const std::string& db_path, Options options);
  DeviceStore(std::shared_ptr<db::Database> database, Options options);

  // `device_name` and `host` are what the helper says (cut to 100 chars);
  // `ip` is the address its request came from. Throws TooManyCodes when
  // that address already has kMaxPendingPerIp codes waiting, or everyone
  // together kMaxPending (the endpoint is open to anyone).
  DeviceCode start(std::string_view device_name, std::string_view host, std::string_view ip);
  static constexpr int kMaxPendingPerIp = 20;
  static constexpr int kMaxPending = 10000;
  PollResult poll(std::string_view device_code);
  // The pending code `user_code` names (typed loosely); nullopt if it is
  // unknown, expired or already decided.
  std::optional<PendingDevice> pending(std::string_view user_code);
  // Approves (for `did`) or denies a pending code; false if it is unknown,
  // expired or already decided.
  bool decide(std::string_view user_code, const std::string& did, bool approve);

  // The device of `did` whose secret this is; records its use. nullopt for
  // a wrong or revoked secret, or another user's.
  std::optional<Device> check_secret(const std::string& did, std::string_view secret);
  std::vector<Device> devices(const std::string& did);
  bool revoke(const std::string& did, std::int64_t id);  // false: not one of did's devices

  // Forgets codes that expired more than an hour ago.
  void expire();

 private:
  std::int64_t now() const;

  Options options_;
  std::shared_ptr<db::Database> db_;
};

}  // namespace atcr::appview

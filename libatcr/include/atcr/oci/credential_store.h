// Registry credentials kept for a Docker credential helper
// (docker-credential-atcr): one JSON file, mode 0600, holding for each
// registry one or more accounts (a username, handle or DID, and a secret:
// a device secret from `docker-credential-atcr login`, or an app password)
// and which account is active.
//
// The file is $ATCR_CREDENTIALS_FILE, else $XDG_CONFIG_HOME/atcr/
// credentials.json, else ~/.config/atcr/credentials.json:
//
//   {"registries": {"registry.example": {
//      "active": "alice.example",
//      "accounts": {"alice.example": {"secret": "...", "did": "did:plc:..."}}}}}
//
// It is refused if group or others can read it, as ssh refuses a loose
// private key, and a file that is not JSON of this shape is an error naming
// the file: it is never silently reset. (The single-account form of older
// versions, {"username", "secret"} per registry, is still read.)
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atcr::oci {

struct Credential {
  std::string username;  // what the user logged in as: a handle or a DID
  std::string secret;
  std::string did;  // the username's DID when known ("" otherwise)
  friend bool operator==(const Credential&, const Credential&) = default;
};

// The accounts of one registry.
struct RegistryAccounts {
  std::string active;                        // a key of `accounts`
  std::map<std::string, Credential> accounts;  // username -> credential
};

class CredentialStore {
 public:
  static std::filesystem::path default_path();
  explicit CredentialStore(std::filesystem::path path = default_path());

  const std::filesystem::path& path() const { return path_; }

  // Keys are normalised with registry_host(), so "https://r.example/v2/"
  // and "r.example" are one entry. Each call reads the file afresh and
  // writes replace it atomically (a reader sees the old file or the new).
  // store/erase/activate hold an exclusive flock on the file's directory
  // from their read to their write, so concurrent helpers (docker runs
  // several) never lose one another's changes.
  // Throws StorageError (unreadable, loose permissions) / ParseError
  // (corrupt; the message names the file).

  // The account whose username or DID is `identity` (case-insensitively),
  // else, when `identity` is empty or matches none, the active account.
  std::optional<Credential> get(std::string_view server, std::string_view identity = {}) const;
  // Adds or replaces the account `credential.username` and makes it active.
  void store(std::string_view server, const Credential& credential);
  // Removes the account `username` (the active one if empty); another
  // account becomes active. False if there was nothing to remove.
  bool erase(std::string_view server, std::string_view username = {});
  // Makes `username` (or the account with that DID) active; false if the
  // registry has no such account.
  bool activate(std::string_view server, std::string_view username);
  std::map<std::string, std::string> list() const;  // server -> active username
  std::map<std::string, RegistryAccounts> accounts() const;

 private:
  std::map<std::string, RegistryAccounts> read() const;
  void write(const std::map<std::string, RegistryAccounts>& entries) const;

  std::filesystem::path path_;
};

// "https://Registry.Example:5000/v2/" -> "registry.example:5000".
std::string registry_host(std::string_view server);

// The identity (handle or DID) named by an image reference for `registry`
// among a command line's arguments: "docker push r.example/alice.example/app:1"
// -> "alice.example". The first argument that is such a reference wins
// (also as the value of an option: --tag=r.example/...); nullopt if none.
std::optional<std::string> identity_in_command_line(const std::vector<std::string>& args,
                                                    std::string_view registry);
// The arguments of process `pid` (/proc/<pid>/cmdline); empty if unreadable.
std::vector<std::string> process_command_line(int pid);

// configure-docker: `config_json` (a Docker config.json or a containers
// auth.json; "" for a missing file) with credHelpers[registry] = helper,
// every other member kept as it was. Throws ParseError naming `file` if the
// text is not a JSON object (or its credHelpers is not one).
std::string with_credential_helper(std::string_view config_json, std::string_view registry, std::string_view helper,
                                   std::string_view file);
// Reads `file` (if it exists), adds the helper and writes it back
// atomically (0600). Returns false if it was already configured so.
bool configure_credential_helper(const std::filesystem::path& file, std::string_view registry,
                                 std::string_view helper);

}  // namespace atcr::oci

// Registry credentials kept for a Docker credential helper
// (docker-credential-atcr): one JSON file, mode 0600, mapping a registry
// to a username (handle or DID) and a secret (an app password).
//
// The file is $ATCR_CREDENTIALS_FILE, else $XDG_CONFIG_HOME/atcr/
// credentials.json, else ~/.config/atcr/credentials.json. It is refused
// if group or others can read it, as ssh refuses a loose private key.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace atcr::oci {

struct Credential {
  std::string username;
  std::string secret;
};

class CredentialStore {
 public:
  static std::filesystem::path default_path();
  explicit CredentialStore(std::filesystem::path path = default_path());

  const std::filesystem::path& path() const { return path_; }

  // Keys are normalised with registry_host(), so "https://r.example/v2/"
  // and "r.example" are one entry. Each call reads the file afresh and
  // writes replace it atomically. Throws StorageError / ParseError.
  std::optional<Credential> get(std::string_view server) const;
  void store(std::string_view server, const Credential& credential);
  bool erase(std::string_view server);  // false if there was nothing
  std::map<std::string, std::string> list() const;  // server -> username

 private:
  std::map<std::string, Credential> read() const;
  void write(const std::map<std::string, Credential>& entries) const;

  std::filesystem::path path_;
};

// "https://Registry.Example:5000/v2/" -> "registry.example:5000".
std::string registry_host(std::string_view server);

}  // namespace atcr::oci

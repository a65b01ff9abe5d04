#include "atcr/oci/credential_store.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "atcr/data/json.h"
#include "atcr/error.h"
#include "util/private_file.h"

namespace atcr::oci {

namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::filesystem::path CredentialStore::default_path() {
  if (auto file = env("ATCR_CREDENTIALS_FILE"); !file.empty()) return file;
  if (auto xdg = env("XDG_CONFIG_HOME"); !xdg.empty()) return std::filesystem::path(xdg) / "atcr" / "credentials.json";
  std::string home = env("HOME");
  if (home.empty()) throw StorageError("cannot place the credentials file: HOME is not set");
  return std::filesystem::path(home) / ".config" / "atcr" / "credentials.json";
}

CredentialStore::CredentialStore(std::filesystem::path path) : path_(std::move(path)) {}

std::string registry_host(std::string_view server) {
  std::string_view s = server;
  if (auto scheme = s.find("://"); scheme != std::string_view::npos) s.remove_prefix(scheme + 3);
  if (auto slash = s.find('/'); slash != std::string_view::npos) s = s.substr(0, slash);
  std::string host(s);
  for (char& c : host)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return host;
}

std::map<std::string, Credential> CredentialStore::read() const {
  std::map<std::string, Credential> entries;
  if (!std::filesystem::exists(path_)) return entries;
  util::check_private_file(path_);
  std::ifstream in(path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxFileBytes) throw ParseError(path_.string() + " is too large");
  Value doc = json::parse(text.str());
  const Value* registries = doc.is_map() ? doc.find("registries") : nullptr;
  if (!registries || !registries->is_map())
    throw ParseError(path_.string() + ": expected {\"registries\": {...}}");
  for (const auto& [server, entry] : registries->as_map()) {
    const Value* user = entry.is_map() ? entry.find("username") : nullptr;
    const Value* secret = entry.is_map() ? entry.find("secret") : nullptr;
    if (!user || !user->is_string() || !secret || !secret->is_string())
      throw ParseError(path_.string() + ": entry " + server + " needs string username and secret");
    entries[server] = Credential{user->as_string(), secret->as_string()};
  }
  return entries;
}

void CredentialStore::write(const std::map<std::string, Credential>& entries) const {
  Value::Map registries;
  for (const auto& [server, c] : entries)
    registries[server] = Value(Value::Map{{"username", Value(c.username)}, {"secret", Value(c.secret)}});
  util::write_private_file(path_, json::serialize(Value(Value::Map{{"registries", Value(std::move(registries))}})) + "\n");
}

std::optional<Credential> CredentialStore::get(std::string_view server) const {
  auto entries = read();
  auto it = entries.find(registry_host(server));
  if (it == entries.end()) return std::nullopt;
  return it->second;
}

void CredentialStore::store(std::string_view server, const Credential& credential) {
  auto entries = read();
  entries[registry_host(server)] = credential;
  write(entries);
}

bool CredentialStore::erase(std::string_view server) {
  auto entries = read();
  if (entries.erase(registry_host(server)) == 0) return false;
  write(entries);
  return true;
}

std::map<std::string, std::string> CredentialStore::list() const {
  std::map<std::string, std::string> out;
  for (const auto& [server, c] : read()) out[server] = c.username;
  return out;
}

}  // namespace atcr::oci

#include "atcr/oci/credential_store.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "atcr/data/json.h"
#include "atcr/error.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/reference.h"
#include "util/private_file.h"
#include "util/text.h"

namespace atcr::oci {

namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A handle or DID as the registry spells it (lowercased handle); the text
// itself if it is neither.
std::string identity_key(std::string_view identity) {
  try {
    return normalize_identity(identity);
  } catch (const RegistryError&) {
    return std::string(identity);
  }
}

bool names(const Credential& c, std::string_view identity) {
  std::string key = identity_key(identity);
  return identity_key(c.username) == key || (!c.did.empty() && c.did == key);
}

const Credential* find_account(const RegistryAccounts& r, std::string_view identity) {
  for (const auto& [name, c] : r.accounts)
    if (names(c, identity)) return &c;
  return nullptr;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StorageError("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxFileBytes) throw ParseError(path.string() + " is too large");
  return text.str();
}

const std::string* string_member(const Value& v, const char* key) {
  const Value* f = v.is_map() ? v.find(key) : nullptr;
  return f && f->is_string() ? &f->as_string() : nullptr;
}

RegistryAccounts parse_registry(const std::filesystem::path& path, const std::string& server, const Value& entry) {
  auto bad = [&](const std::string& what) {
    return ParseError(path.string() + " is corrupt: registry " + server + " " + what +
                      " (fix or delete the file, then log in again)");
  };
  RegistryAccounts r;
  if (const std::string* user = string_member(entry, "username")) {  // the single-account form
    const std::string* secret = string_member(entry, "secret");
    if (!secret) throw bad("has a username but no secret");
    r.active = *user;
    r.accounts[*user] = Credential{*user, *secret, ""};
    return r;
  }
  const Value* accounts = entry.is_map() ? entry.find("accounts") : nullptr;
  if (!accounts || !accounts->is_map()) throw bad("needs an \"accounts\" object");
  for (const auto& [name, account] : accounts->as_map()) {
    const std::string* secret = string_member(account, "secret");
    if (!secret) throw bad("account " + name + " needs a string secret");
    const std::string* did = string_member(account, "did");
    r.accounts[name] = Credential{name, *secret, did ? *did : ""};
  }
  const std::string* active = string_member(entry, "active");
  if (active && r.accounts.count(*active)) r.active = *active;
  else if (!r.accounts.empty()) r.active = r.accounts.begin()->first;
  return r;
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
  return util::ascii_lower(s);
}

std::map<std::string, RegistryAccounts> CredentialStore::read() const {
  std::map<std::string, RegistryAccounts> entries;
  if (!std::filesystem::exists(path_)) return entries;
  util::check_private_file(path_);
  Value doc;
  try {
    doc = json::parse(read_file(path_));
  } catch (const ParseError& e) {
    throw ParseError(path_.string() + " is corrupt (" + e.what() + "): fix or delete it, then log in again");
  }
  const Value* registries = doc.is_map() ? doc.find("registries") : nullptr;
  if (!registries || !registries->is_map())
    throw ParseError(path_.string() + " is corrupt: expected {\"registries\": {...}}");
  for (const auto& [server, entry] : registries->as_map()) {
    RegistryAccounts r = parse_registry(path_, server, entry);
    if (!r.accounts.empty()) entries[server] = std::move(r);
  }
  return entries;
}

void CredentialStore::write(const std::map<std::string, RegistryAccounts>& entries) const {
  Value::Map registries;
  for (const auto& [server, r] : entries) {
    if (r.accounts.empty()) continue;
    Value::Map accounts;
    for (const auto& [name, c] : r.accounts) {
      Value::Map account{{"secret", Value(c.secret)}};
      if (!c.did.empty()) account["did"] = Value(c.did);
      accounts[name] = Value(std::move(account));
    }
    registries[server] = Value(Value::Map{{"active", Value(r.active)}, {"accounts", Value(std::move(accounts))}});
  }
  util::write_private_file(path_, json::serialize(Value(Value::Map{{"registries", Value(std::move(registries))}})) + "\n");
}

std::optional<Credential> CredentialStore::get(std::string_view server, std::string_view identity) const {
  auto entries = read();
  auto it = entries.find(registry_host(server));
  if (it == entries.end()) return std::nullopt;
  const RegistryAccounts& r = it->second;
  if (!identity.empty())
    if (const Credential* c = find_account(r, identity)) return *c;
  auto active = r.accounts.find(r.active);
  if (active == r.accounts.end()) return std::nullopt;
  return active->second;
}

void CredentialStore::store(std::string_view server, const Credential& credential) {
  util::PrivateFileLock lock(path_);
  auto entries = read();
  RegistryAccounts& r = entries[registry_host(server)];
  // One account per identity: a handle and its DID are the same account.
  std::erase_if(r.accounts, [&](const auto& e) {
    return e.first != credential.username && (names(e.second, credential.username) ||
                                              (!credential.did.empty() && names(e.second, credential.did)));
  });
  r.accounts[credential.username] = credential;
  r.active = credential.username;
  write(entries);
}

bool CredentialStore::erase(std::string_view server, std::string_view username) {
  util::PrivateFileLock lock(path_);
  auto entries = read();
  auto it = entries.find(registry_host(server));
  if (it == entries.end()) return false;
  RegistryAccounts& r = it->second;
  std::string name = username.empty() ? r.active : std::string(username);
  if (const Credential* c = find_account(r, name)) name = c->username;
  if (r.accounts.erase(name) == 0) return false;
  if (r.accounts.empty()) entries.erase(it);
  else if (r.active == name) r.active = r.accounts.begin()->first;
  write(entries);
  return true;
}

bool CredentialStore::activate(std::string_view server, std::string_view username) {
  util::PrivateFileLock lock(path_);
  auto entries = read();
  auto it = entries.find(registry_host(server));
  if (it == entries.end()) return false;
  const Credential* c = find_account(it->second, username);
  if (!c) return false;
  it->second.active = c->username;
  write(entries);
  return true;
}

std::map<std::string, std::string> CredentialStore::list() const {
  std::map<std::string, std::string> out;
  for (const auto& [server, r] : read()) out[server] = r.active;
  return out;
}

std::map<std::string, RegistryAccounts> CredentialStore::accounts() const { return read(); }

// ---- which account a docker command means --------------------------------

std::optional<std::string> identity_in_command_line(const std::vector<std::string>& args, std::string_view registry) {
  const std::string host = registry_host(registry);
  for (std::string_view arg : args) {
    if (auto eq = arg.find('='); arg.starts_with("-") && eq != std::string_view::npos) arg.remove_prefix(eq + 1);
    if (auto scheme = arg.find("://"); scheme != std::string_view::npos) arg.remove_prefix(scheme + 3);
    auto slash = arg.find('/');
    if (slash == std::string_view::npos || registry_host(arg.substr(0, slash)) != host) continue;
    std::string_view rest = arg.substr(slash + 1);
    auto next = rest.find('/');
    if (next == std::string_view::npos || next == 0) continue;  // "host/repo": no identity
    try {
      return normalize_identity(rest.substr(0, next));
    } catch (const RegistryError&) {
      continue;
    }
  }
  return std::nullopt;
}

std::vector<std::string> process_command_line(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (in && std::getline(in, arg, '\0') && args.size() < 4096) args.push_back(arg);
  return args;
}

// ---- configure-docker ----------------------------------------------------

std::string with_credential_helper(std::string_view config_json, std::string_view registry, std::string_view helper,
                                   std::string_view file) {
  rapidjson::Document doc;
  bool blank = config_json.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (blank) {
    doc.SetObject();
  } else {
    doc.Parse<rapidjson::kParseFullPrecisionFlag>(config_json.data(), config_json.size());
    if (doc.HasParseError())
      throw ParseError(std::string(file) + " is not valid JSON: " + rapidjson::GetParseError_En(doc.GetParseError()) +
                       " at offset " + std::to_string(doc.GetErrorOffset()) + "; not changing it");
    if (!doc.IsObject()) throw ParseError(std::string(file) + " is not a JSON object; not changing it");
  }
  auto& alloc = doc.GetAllocator();
  if (!doc.HasMember("credHelpers")) doc.AddMember("credHelpers", rapidjson::Value(rapidjson::kObjectType), alloc);
  rapidjson::Value& helpers = doc["credHelpers"];
  if (!helpers.IsObject()) throw ParseError(std::string(file) + ": \"credHelpers\" is not an object; not changing it");
  std::string host = registry_host(registry);
  rapidjson::Value value(helper.data(), static_cast<rapidjson::SizeType>(helper.size()), alloc);
  // (By name, not by FindMember: clang calls comparing rapidjson 1.1's
  // iterators ambiguous in C++20.)
  if (const char* name = host.c_str(); helpers.HasMember(name)) {
    helpers[name] = value;
  } else {
    helpers.AddMember(rapidjson::Value(name, static_cast<rapidjson::SizeType>(host.size()), alloc), value, alloc);
  }
  rapidjson::StringBuffer out;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(out);
  writer.SetIndent('\t', 1);  // as docker writes it
  doc.Accept(writer);
  return std::string(out.GetString(), out.GetSize()) + "\n";
}

bool configure_credential_helper(const std::filesystem::path& file, std::string_view registry,
                                 std::string_view helper) {
  std::string before = std::filesystem::exists(file) ? read_file(file) : "";
  std::string after = with_credential_helper(before, registry, helper, file.string());
  if (!before.empty()) {
    // Already configured (whatever the formatting): leave the file alone.
    rapidjson::Document doc;
    doc.Parse(before.data(), before.size());
    std::string host = registry_host(registry);
    if (doc.IsObject() && doc.HasMember("credHelpers") && doc["credHelpers"].IsObject()) {
      const rapidjson::Value& helpers = doc["credHelpers"];
      const char* name = host.c_str();
      if (helpers.HasMember(name) && helpers[name].IsString() && helpers[name].GetString() == helper) return false;
    }
  }
  util::write_private_file(file, after);
  return true;
}

}  // namespace atcr::oci

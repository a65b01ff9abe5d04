// docker-credential-atcr: sign in to atcr registries and hand Docker (and
// podman, buildah, skopeo) the credentials.
//
// The helper protocol (the client calls it): the action is the argument,
// input comes on stdin, output goes to stdout.
//   get     stdin: server URL    stdout: {"ServerURL","Username","Secret"}
//   store   stdin: {"ServerURL","Username","Secret"}
//   erase   stdin: server URL
//   list    stdout: {"<server>": "<username>", ...}
// `get` picks the account the calling command names in its image reference
// (registry/<handle-or-DID>/repo, read from the parent's command line),
// else the registry's active account.
//
// The logic lives in libatcr (atcr/oci/credential_store.h,
// atcr/oci/registry_login.h); this file parses arguments and talks to people.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "atcr/data/json.h"
#include "atcr/error.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/credential_store.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/registry_login.h"
#include "atcr/version.h"
#include "util/text.h"

extern char** environ;

namespace {

using atcr::Value;
using atcr::oci::Credential;
using atcr::oci::CredentialStore;

constexpr const char* kHelperName = "atcr";  // docker-credential-<name>

constexpr const char* kUsage = R"(docker-credential-atcr: sign in to atcr registries for docker and podman

usage: docker-credential-atcr <command> [arguments]

  login [REGISTRY]             sign in through your browser (a device code you approve);
                               several accounts per registry are kept
  login REGISTRY --username HANDLE [--password-stdin]
                               sign in with an app password instead
  logout [REGISTRY] [ACCOUNT]  forget an account (the active one by default)
  status                       accounts per registry; * marks the active one
  switch [REGISTRY] [ACCOUNT]  make another account active
  configure-docker [REGISTRY]  use this helper for REGISTRY in ~/.docker/config.json
                               and podman's auth.json (other entries are kept)
  version                      print the version
  --help                       this text

  get | store | erase | list   the Docker credential-helper protocol (docker calls these)

REGISTRY may be left out when only one registry is known. Credentials are kept in
$XDG_CONFIG_HOME/atcr/credentials.json (~/.config/atcr/credentials.json), mode 0600.
)";

// A mistake on the command line (not a protocol failure): stderr only.
struct CliError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Docker prints this text when a helper fails: keep it one line.
constexpr const char* kNotFound = "credentials not found in native keychain";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string read_stdin() {
  std::string s(std::istreambuf_iterator<char>(std::cin), {});
  return std::string(atcr::util::trim(s));
}

std::string field(const Value& v, const char* key) {
  const Value* f = v.is_map() ? v.find(key) : nullptr;
  if (!f || !f->is_string()) throw atcr::ParseError(std::string("missing \"") + key + "\"");
  return f->as_string();
}

int usage_error() {
  std::fputs(kUsage, stderr);
  return 2;
}

// ---- the Docker protocol ----------------------------------------------------

int get(CredentialStore& store) {
  std::string server = read_stdin();
  // "docker push r.example/alice.example/app" runs us: use alice's account.
  auto identity = atcr::oci::identity_in_command_line(atcr::oci::process_command_line(getppid()), server);
  auto c = store.get(server, identity.value_or(""));
  if (!c) {
    std::fputs(kNotFound, stdout);
    return 1;
  }
  // Handed over even if the device was revoked since: the registry's 401
  // then tells the user what to run (docker ignores a helper's failure and
  // goes on anonymously, which would hide why).
  std::cout << atcr::json::serialize(Value(Value::Map{
                   {"ServerURL", Value(server)}, {"Username", Value(c->username)}, {"Secret", Value(c->secret)}}))
            << "\n";
  return 0;
}

int store_cmd(CredentialStore& store) {
  Value in = atcr::json::parse(read_stdin());
  store.store(field(in, "ServerURL"), Credential{field(in, "Username"), field(in, "Secret"), ""});
  return 0;
}

int erase(CredentialStore& store) {
  if (!store.erase(read_stdin())) {
    std::fputs(kNotFound, stdout);
    return 1;
  }
  return 0;
}

int list(CredentialStore& store) {
  Value::Map out;
  for (const auto& [server, user] : store.list()) out[server] = Value(user);
  std::cout << atcr::json::serialize(Value(std::move(out))) << "\n";
  return 0;
}

// ---- for people ---------------------------------------------------------------

std::string prompt(const char* question, bool secret) {
  std::fprintf(stderr, "%s", question);
  termios old{};
  bool tty = secret && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fputc('\n', stderr);
  }
  return line;
}

// The registry named on the command line, else the only one we know.
std::string pick_registry(CredentialStore& store, const std::vector<std::string>& args, std::size_t index) {
  if (index < args.size()) return atcr::oci::registry_host(args[index]);
  auto known = store.list();
  if (known.size() == 1) return known.begin()->first;
  throw CliError(known.empty() ? "name the registry: docker-credential-atcr login REGISTRY"
                                               : "several registries are known: name one");
}

std::string hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// Opens `url` in $BROWSER, else with xdg-open when there is a display. Does
// not wait for the browser; returns false if nothing could be started.
bool open_browser(const std::string& url) {
  std::string browser = env("BROWSER");
  if (auto colon = browser.find(':'); colon != std::string::npos) browser.resize(colon);
  if (browser.empty()) {
    if (env("DISPLAY").empty() && env("WAYLAND_DISPLAY").empty()) return false;
    browser = "xdg-open";
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> argv{browser.data(), const_cast<char*>(url.c_str()), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, browser.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0;
}

int password_login(CredentialStore& store, const std::string& registry, std::string username, bool password_stdin) {
  if (username.empty()) username = prompt("Handle or DID: ", false);
  std::string password = password_stdin ? read_stdin() : prompt("App password: ", true);
  atcr::net::HttpClient http;
  atcr::oci::registry_login(http, atcr::oci::registry_base_url(registry), username, password);
  store.store(registry, Credential{username, password, ""});
  std::fprintf(stderr, "Login succeeded: %s as %s (saved in %s)\n", registry.c_str(), username.c_str(),
               store.path().c_str());
  return 0;
}

int device_login(CredentialStore& store, const std::string& registry) {
  atcr::net::HttpClient http;
  std::string url = atcr::oci::registry_base_url(registry);
  std::string host = hostname();
  std::string user = env("USER");
  auto start = atcr::oci::start_device_login(http, url, user.empty() ? host : user + "@" + host, host);
  std::fprintf(stderr,
               "To sign in to %s, open this page and confirm the code %s:\n\n    %s\n\n",
               registry.c_str(), start.user_code.c_str(), start.verification_uri_complete.c_str());
  if (open_browser(start.verification_uri_complete)) std::fputs("(opened in your browser)\n", stderr);
  std::fputs("Waiting for approval...\n", stderr);
  auto grant = atcr::oci::wait_for_device_login(http, url, start);
  std::string username = grant.handle.empty() ? grant.did : grant.handle;
  // Check the secret works before keeping it.
  atcr::oci::registry_login(http, url, username, grant.secret);
  store.store(registry, Credential{username, grant.secret, grant.did});
  std::fprintf(stderr, "Login succeeded: %s as %s (saved in %s)\n", registry.c_str(), username.c_str(),
               store.path().c_str());
  return 0;
}

int login(CredentialStore& store, const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  std::string username;
  bool password_stdin = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if ((a == "--username" || a == "-u") && i + 1 < args.size()) username = args[++i];
    else if (a == "--password-stdin") password_stdin = true;
    else if (a.starts_with("-")) return usage_error();
    else positional.push_back(a);
  }
  if (positional.size() > 1) return usage_error();
  std::string registry = pick_registry(store, positional, 0);
  if (!username.empty() || password_stdin) return password_login(store, registry, username, password_stdin);
  return device_login(store, registry);
}

int logout(CredentialStore& store, const std::vector<std::string>& args) {
  if (args.size() > 3) return usage_error();
  std::string registry = pick_registry(store, args, 1);
  std::string account = args.size() > 2 ? args[2] : "";
  bool had = store.erase(registry, account);
  std::fprintf(stderr, had ? "Logged out of %s\n" : "Not logged in to %s\n", registry.c_str());
  return 0;
}

int status(CredentialStore& store) {
  auto all = store.accounts();
  if (all.empty()) std::puts("Not logged in to any registry (docker-credential-atcr login REGISTRY).");
  for (const auto& [server, r] : all) {
    std::printf("%s\n", server.c_str());
    for (const auto& [name, c] : r.accounts)
      std::printf("  %s %s%s\n", name == r.active ? "*" : " ", name.c_str(),
                  c.did.empty() || c.did == name ? "" : (" (" + c.did + ")").c_str());
  }
  return 0;
}

int switch_account(CredentialStore& store, const std::vector<std::string>& args) {
  if (args.size() > 3) return usage_error();
  std::string registry = pick_registry(store, args, 1);
  auto all = store.accounts();
  auto it = all.find(registry);
  if (it == all.end()) throw CliError("not logged in to " + registry);
  std::string target = args.size() > 2 ? args[2] : "";
  const auto& accounts = it->second.accounts;
  if (target.empty() && accounts.size() == 2) {
    for (const auto& [name, c] : accounts)
      if (name != it->second.active) target = name;
  } else if (target.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, c] : accounts) {
      names.push_back(name);
      std::fprintf(stderr, "  %zu) %s%s\n", names.size(), name.c_str(), name == it->second.active ? " *" : "");
    }
    std::string choice = prompt("Account number: ", false);
    std::size_t n = std::strtoul(choice.c_str(), nullptr, 10);
    if (n < 1 || n > names.size()) return usage_error();
    target = names[n - 1];
  }
  if (!store.activate(registry, target))
    throw CliError("no account " + target + " for " + registry);
  std::fprintf(stderr, "%s: now using %s\n", registry.c_str(), target.c_str());
  return 0;
}

// The files docker and podman read credential helpers from.
std::vector<std::filesystem::path> client_config_files() {
  std::vector<std::filesystem::path> files;
  std::string home = env("HOME");
  if (auto d = env("DOCKER_CONFIG"); !d.empty()) files.emplace_back(std::filesystem::path(d) / "config.json");
  else if (!home.empty()) files.emplace_back(std::filesystem::path(home) / ".docker" / "config.json");
  if (auto f = env("REGISTRY_AUTH_FILE"); !f.empty()) files.emplace_back(f);
  else if (auto run = env("XDG_RUNTIME_DIR"); !run.empty())
    files.emplace_back(std::filesystem::path(run) / "containers" / "auth.json");
  else if (!home.empty())
    files.emplace_back(std::filesystem::path(home) / ".config" / "containers" / "auth.json");
  return files;
}

int configure_docker(CredentialStore& store, const std::vector<std::string>& args) {
  if (args.size() > 2) return usage_error();
  std::string registry = pick_registry(store, args, 1);
  for (const auto& file : client_config_files()) {
    bool changed = atcr::oci::configure_credential_helper(file, registry, kHelperName);
    std::fprintf(stderr, "%s: %s\n", file.c_str(),
                 changed ? ("uses docker-credential-atcr for " + registry).c_str() : "already configured");
  }
  return 0;
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error();
  const std::string& action = args[0];
  if (action == "version" || action == "--version") {
    std::printf("docker-credential-atcr %s\n", ATCR_VERSION);
    return 0;
  }
  if (action == "--help" || action == "-h" || action == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  CredentialStore store;
  if (action == "get") return get(store);
  if (action == "store") return store_cmd(store);
  if (action == "erase") return erase(store);
  if (action == "list") return list(store);
  if (action == "login") return login(store, args);
  if (action == "logout") return logout(store, args);
  if (action == "status") return status(store);
  if (action == "switch") return switch_account(store, args);
  if (action == "configure-docker") return configure_docker(store, args);
  return usage_error();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const CliError& e) {
    std::fprintf(stderr, "docker-credential-atcr: %s\n", e.what());
    return 2;
  } catch (const atcr::oci::RegistryError& e) {
    std::fprintf(stderr, "docker-credential-atcr: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    // The protocol shows stdout to the user on failure.
    std::fprintf(stdout, "docker-credential-atcr: %s", e.what());
    std::fprintf(stderr, "docker-credential-atcr: %s\n", e.what());
    return 1;
  }
}

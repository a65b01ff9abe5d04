// docker-credential-atcr: a Docker credential helper for atcr registries.
//
// The helper protocol (docker, podman and buildah call it): the action is
// the argument, input comes on stdin, output goes to stdout.
//   get     stdin: server URL    stdout: {"ServerURL","Username","Secret"}
//   store   stdin: {"ServerURL","Username","Secret"}
//   erase   stdin: server URL
//   list    stdout: {"<server>": "<username>", ...}
// Plus, for people:
//   login <registry> [--username H] [--password-stdin]   check with the registry, then store
//   logout <registry>
//
// Credentials are an ATProto handle (or DID) and an app password, kept by
// atcr::oci::CredentialStore (0600, ~/.config/atcr/credentials.json).
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "atcr/data/json.h"
#include "atcr/error.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/credential_store.h"
#include "atcr/oci/errors.h"
#include "atcr/oci/registry_login.h"

namespace {

using atcr::Value;
using atcr::oci::Credential;
using atcr::oci::CredentialStore;

constexpr const char* kUsage = R"(usage: docker-credential-atcr <get|store|erase|list>   (the Docker credential-helper protocol)
       docker-credential-atcr login <registry> [--username HANDLE] [--password-stdin]
       docker-credential-atcr logout <registry>
       docker-credential-atcr version
)";

// Docker prints this text when a helper fails: keep it one line.
constexpr const char* kNotFound = "credentials not found in native keychain";

std::string read_stdin() {
  std::string s(std::istreambuf_iterator<char>(std::cin), {});
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string field(const Value& v, const char* key) {
  const Value* f = v.is_map() ? v.find(key) : nullptr;
  if (!f || !f->is_string()) throw atcr::ParseError(std::string("missing \"") + key + "\"");
  return f->as_string();
}

int get(CredentialStore& store) {
  std::string server = read_stdin();
  auto c = store.get(server);
  if (!c) {
    std::fputs(kNotFound, stdout);
    return 1;
  }
  std::cout << atcr::json::serialize(Value(Value::Map{
                   {"ServerURL", Value(server)}, {"Username", Value(c->username)}, {"Secret", Value(c->secret)}}))
            << "\n";
  return 0;
}

int store_cmd(CredentialStore& store) {
  Value in = atcr::json::parse(read_stdin());
  store.store(field(in, "ServerURL"), Credential{field(in, "Username"), field(in, "Secret")});
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

// "127.0.0.1:5000" -> "http://127.0.0.1:5000" (loopback speaks plain HTTP);
// anything else gets https unless a scheme is given.
std::string registry_url(const std::string& registry) {
  if (registry.find("://") != std::string::npos) return registry;
  bool loopback = registry.starts_with("127.") || registry.starts_with("localhost") || registry.starts_with("[::1]");
  return (loopback ? "http://" : "https://") + registry;
}

int login(CredentialStore& store, int argc, char** argv) {
  if (argc < 3) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string registry = argv[2], username;
  bool password_stdin = false;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--username" || a == "-u") && i + 1 < argc) username = argv[++i];
    else if (a == "--password-stdin") password_stdin = true;
    else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (username.empty()) username = prompt("Handle or DID: ", false);
  std::string password = password_stdin ? read_stdin() : prompt("App password: ", true);
  atcr::net::HttpClient http;
  atcr::oci::registry_login(http, registry_url(registry), username, password);
  store.store(registry, Credential{username, password});
  std::fprintf(stderr, "Login succeeded: %s as %s (saved in %s)\n", registry.c_str(), username.c_str(),
               store.path().c_str());
  return 0;
}

int logout(CredentialStore& store, int argc, char** argv) {
  if (argc < 3) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  bool had = store.erase(argv[2]);
  std::fprintf(stderr, had ? "Logged out of %s\n" : "Not logged in to %s\n", argv[2]);
  return 0;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string action = argv[1];
  if (action == "version") {
    std::printf("docker-credential-atcr %s\n", ATCR_VERSION);
    return 0;
  }
  CredentialStore store;
  if (action == "get") return get(store);
  if (action == "store") return store_cmd(store);
  if (action == "erase") return erase(store);
  if (action == "list") return list(store);
  if (action == "login") return login(store, argc, argv);
  if (action == "logout") return logout(store, argc, argv);
  std::fputs(kUsage, stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
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

// The atcr-hold BINARY as a child process, for integration tests: a temp
// data dir, configuration through the environment only (HOLD_*, as an
// operator's unit file would), stderr captured to a file that failing
// checks show (INFO(hold.diagnostics())), and start / SIGTERM / SIGKILL /
// restart on the same port and data dir.
//
// The binary comes from ATCR_HOLD_BIN (tests/integration/meson.build sets
// it). The child gets a minimal environment (PATH, HOME, TMPDIR plus the
// given settings) so nothing of the test's own environment (S3_* from
// with-s3.sh, say) leaks into its configuration by accident.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "free_port.h"
#include "atcr/net/http_client.h"

extern char** environ;

namespace atcr::test {

inline std::string hold_binary() {
  const char* v = std::getenv("ATCR_HOLD_BIN");
  if (v == nullptr || *v == '\0')
    throw std::runtime_error("ATCR_HOLD_BIN is not set: run this test through meson (tests/integration/meson.build)");
  return v;
}


inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class HoldProcess {
 public:
  using Env = std::map<std::string, std::string>;

  // `dir` holds data/ (server.data_dir) and the stderr logs; `settings`
  // are HOLD_* / S3_* / AWS_* variables. Port, public URL, data dir and
  // log level are set here unless `settings` names them.
  HoldProcess(std::filesystem::path dir, Env settings)
      : dir_(std::move(dir)), port_(free_port()), settings_(std::move(settings)) {
    std::filesystem::create_directories(dir_);
  }
  ~HoldProcess() { stop(SIGKILL); }
  HoldProcess(const HoldProcess&) = delete;
  HoldProcess& operator=(const HoldProcess&) = delete;

  int port() const { return port_; }
  // Where the test reaches it (it listens on 127.0.0.1).
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // server.public_url, in the URLs it hands out. A host name, not an IP:
  // the reference PDS refuses getServiceAuth for aud did:web:127.0.0.1...
  // ("aud must be a valid atproto DID"), as did:web forbids IP addresses.
  std::string public_url() const { return "http://localhost:" + std::to_string(port_); }
  // Its did:web, derived from public_url: the port's colon is %3A.
  std::string did() const { return "did:web:localhost%3A" + std::to_string(port_); }
  std::filesystem::path data_dir() const { return dir_ / "data"; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Passes port, public URL and data dir under ATCR's names
  // (HOLD_SERVER_ADDR, HOLD_PUBLIC_URL, HOLD_DATABASE_DIR), not ours.
  void use_atcr_names() { atcr_names_ = true; }

  // Changes settings for the next start() / run().
  void set(const std::string& name, const std::string& value) { settings_[name] = value; }
  // Runs the binary under a command: `prefix` (its first element an
  // absolute path), then the hold's path and arguments.
  void run_under(std::vector<std::string> prefix) { prefix_ = std::move(prefix); }

  // Spawns `atcr-hold serve` and waits until /xrpc/_health answers 200.
  void start(std::chrono::seconds within = std::chrono::seconds(30)) {
    REQUIRE_MESSAGE(!running(), "the hold is already running");
    log_ = dir_ / ("stderr-" + std::to_string(++starts_) + ".log");
    pid_ = spawn({"serve"}, log_, "/dev/null");
    net::HttpOptions o;
    o.timeout = std::chrono::seconds(2);
    o.connect_timeout = std::chrono::seconds(1);
    net::HttpClient http(o);
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("atcr-hold exited during startup (" << describe_status(status) << ")\n" << diagnostics());
      }
      try {
        if (http.get(url() + "/xrpc/_health").status == 200) return;
      } catch (const net::HttpError&) {
        // not listening yet
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("atcr-hold did not answer /xrpc/_health within " << within.count() << "s\n" << diagnostics());
  }

  // Sends `sig` and reaps the process; returns its wait status (-1 when
  // it was not running).
  int stop(int sig = SIGTERM, std::chrono::seconds within = std::chrono::seconds(40)) {
    if (!running()) return -1;
    ::kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + within;
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || r < 0) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    return status;
  }

  void restart() {
    stop();
    start();
  }

  // Runs a one-shot command (`repo export`, ...) with the same settings;
  // stdout goes to `out`. Returns the exit code (-1 if killed).
  int run(const std::vector<std::string>& args, const std::filesystem::path& out) {
    log_ = dir_ / ("stderr-" + std::to_string(++starts_) + ".log");
    pid_t pid = spawn(args, log_, out);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  const std::filesystem::path& log_path() const { return log_; }
  // The current stderr log (its last 8 KB), for failure messages.
  std::string diagnostics() const {
    std::string text = log_.empty() ? std::string() : read_file(log_);
    if (text.size() > 8192) text = "..." + text.substr(text.size() - 8192);
    return "atcr-hold stderr (" + log_.string() + "):\n" + text;
  }

 private:
  static std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
  }

  Env environment() const {
    Env env;
    for (const char* name : {"PATH", "HOME", "TMPDIR"})
      if (const char* v = std::getenv(name)) env[name] = v;
    if (atcr_names_) {
      env["HOLD_SERVER_ADDR"] = "127.0.0.1:" + std::to_string(port_);
      env["HOLD_PUBLIC_URL"] = public_url();
      env["HOLD_DATABASE_DIR"] = data_dir().string();
    } else {
      env["HOLD_SERVER_PORT"] = std::to_string(port_);
      env["HOLD_SERVER_PUBLIC_URL"] = public_url();
      env["HOLD_SERVER_DATA_DIR"] = data_dir().string();
      env["HOLD_LOG_LEVEL"] = "debug";
    }
    for (const auto& [k, v] : settings_) env[k] = v;
    return env;
  }

  pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& err,
              const std::filesystem::path& out) const {
    std::vector<std::string> argv_s = prefix_;
    argv_s.push_back(hold_binary());
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (const auto& [k, v] : environment()) env_s.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE_MESSAGE(rc == 0, "cannot spawn " << argv_s[0] << ": " << std::strerror(rc));
    return pid;
  }

  std::filesystem::path dir_;
  int port_;
  Env settings_;
  bool atcr_names_ = false;
  std::vector<std::string> prefix_;
  pid_t pid_ = -1;
  int starts_ = 0;
  std::filesystem::path log_;
};

}  // namespace atcr::test

// A cpp-httplib server on 127.0.0.1 (a random port) for tests that need a
// peer to talk to: register routes on `server`, then start(). It stops and
// joins its thread when destroyed; slow handlers should poll stopping() so
// that takes no longer than it must.
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace atcr::test {

class LoopbackServer {
 public:
  LoopbackServer() {
    // Clients keep connections alive, each holding a worker; leave room
    // for many threads' worth.
    server.new_task_queue = [] { return new httplib::ThreadPool(64); };
    // Stopping waits for idle keep-alive connections to time out.
    server.set_keep_alive_timeout(1);
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  ~LoopbackServer() {
    stopping_ = true;
    server.stop();
    if (thread_.joinable()) thread_.join();
  }

  void start() {
    port_ = server.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server.listen_after_bind(); });
    for (int i = 0; i < 1000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(server.is_running());
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool stopping() const { return stopping_; }

  // Sleeps up to `d`, returning early once the server is stopping.
  void nap(std::chrono::milliseconds d) const {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stopping_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  httplib::Server server;

 private:
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace atcr::test

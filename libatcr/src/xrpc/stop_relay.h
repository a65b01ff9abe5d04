// How XrpcServer::stop(), on its own thread, reaches whatever a connection
// is doing at that moment: waiting for a request (cancel the read) or
// running a WebSocket session (make closed() true). The connection installs
// the action that fits its current phase.
#pragma once

#include <functional>
#include <mutex>
#include <utility>

namespace atcr::xrpc {

class StopRelay {
 public:
  // From stop(): runs the installed action, and remembers the request for
  // actions installed later. The action runs under the relay's lock, so it
  // must be quick and must not call back into the relay.
  void request() {
    std::lock_guard lock(mu_);
    requested_ = true;
    if (action_) action_();
  }

  // Installs the action; it runs at once if a stop was requested already.
  void set_action(std::function<void()> action) {
    std::lock_guard lock(mu_);
    action_ = std::move(action);
    if (requested_ && action_) action_();
  }

  bool requested() const {
    std::lock_guard lock(mu_);
    return requested_;
  }

 private:
  mutable std::mutex mu_;
  bool requested_ = false;
  std::function<void()> action_;
};

}  // namespace atcr::xrpc

// PdsSession's state, shared by session.cc (tokens) and session_repo.cc
// (the repo calls).
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "atcr/xrpc/session.h"

namespace atcr::xrpc {

struct PdsSession::Impl {
  Impl(XrpcClient c, SessionTokens t) : client(std::move(c)), tokens(std::move(t)) {}

  XrpcClient client;
  mutable std::mutex mu;  // guards tokens and the callbacks
  SessionTokens tokens;
  std::function<void(const SessionTokens&)> on_refresh;
  std::function<void(const XrpcError&)> on_refresh_refused;
  std::shared_ptr<CallAuthorizer> authorizer;  // set: OAuth, not tokens
  // Held for the whole of a refresh, so concurrent expiries share one.
  std::mutex refresh_mu;

  std::string access_jwt() const;
  // refreshSession with the current refresh token; needs refresh_mu.
  void refresh_locked();
  // Refreshes unless the access token is no longer `expired_access` (another
  // thread refreshed already).
  void refresh_if_current(const std::string& expired_access);
  // send(access token); on ExpiredToken, refresh and send once more.
  XrpcResponse authed(const std::function<XrpcResponse(const std::string& access)>& send);
};

}  // namespace atcr::xrpc

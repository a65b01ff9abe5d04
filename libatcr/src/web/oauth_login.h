// Internal: the parts of an ATProto OAuth web sign-in every service with
// pages shares (the AppView's /login, the hold's /admin/auth/login):
//
//   - authorizations in flight (start -> callback), in memory by `state`,
//     each usable once and for 10 minutes (a restart forgets them: the user
//     clicks "sign in" again), at most 10000;
//   - the handle form, what was typed into it, the callback's parameters,
//     and where to land afterwards (local paths only: never an open
//     redirect).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/oauth/client.h"
#include "atcr/xrpc/server.h"

namespace atcr::web {

struct PendingLogin {
  oauth::PendingAuthorization authorization;
  std::string return_to;  // a local path to land on after sign-in
};

// Thread-safe.
class PendingLogins {
 public:
  void put(PendingLogin pending);
  // Removes and returns the authorization of `state` (nullopt if unknown,
  // used or expired).
  std::optional<PendingLogin> take(const std::string& state);

 private:
  std::mutex mu_;
  std::map<std::string, PendingLogin> pending_;
};

// `path` if it is a local path ("/x", not "//host" or "/\host", no CR/LF),
// else `fallback`.
std::string safe_return_to(const std::string& path, const std::string& fallback = "/");
// What the user typed as their account: spaces and a leading '@' dropped;
// "" if empty or longer than 2048 bytes.
std::string account_input(std::string typed);
// The handle form: a GET to `action` with "handle" and "return_to".
std::string login_form(std::string_view action, const std::string& return_to, const std::string& handle);
// The client metadata or JWKS document, as served (cacheable for 5 minutes).
xrpc::ServerResponse client_document(const Value& document);
// The authorization server's redirect back to us.
oauth::CallbackParams callback_params(const xrpc::ServerRequest& req);

}  // namespace atcr::web

// Internal: the parts of an ATProto OAuth web sign-in every service with
// pages shares (the AppView's /login, the hold's /admin/auth/login):
//
//   - authorizations in flight (start -> callback), in the oauth_pending
//     table of the service's database, so the callback may reach another
//     instance than the one that started the sign-in (AppViews sharing a
//     PostgreSQL database) or the same one after a restart; each usable once
//     and for 10 minutes, at most 10000 (the oldest go first);
//   - the handle form, what was typed into it, the callback's parameters,
//     and where to land afterwards (local paths only: never an open
//     redirect).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/db/database.h"
#include "atcr/oauth/client.h"
#include "atcr/xrpc/server.h"

namespace atcr::web {

struct PendingLogin {
  oauth::PendingAuthorization authorization;
  std::string return_to;  // a local path to land on after sign-in
};

// Sign-ins in flight, by state. Rows hold the state's SHA-256 (not the
// state), the PKCE verifier and the DPoP private key (hex): the database is
// as sensitive as the OAuth sessions it also keeps. Thread-safe; the
// database may be shared by several processes. Throws StorageError when
// the database fails.
class PendingLogins {
 public:
  explicit PendingLogins(std::shared_ptr<db::Database> database);
  // Keeps `pending` until its authorization's created_at + 10 minutes.
  void put(const PendingLogin& pending);
  // Removes and returns the authorization of `state` (nullopt if unknown,
  // used or expired). Atomic (one DELETE ... RETURNING): of two callbacks
  // with the same state, on any instances, one gets it.
  std::optional<PendingLogin> take(const std::string& state);

 private:
  std::shared_ptr<db::Database> db_;
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

// The shared parts of an OAuth web sign-in (see oauth_login.h).
#include "web/oauth_login.h"

#include <fmt/core.h>

#include "atcr/xrpc/service_auth.h"
#include "web/web_session.h"

namespace atcr::web {

namespace {

constexpr std::int64_t kPendingTtl = 10 * 60;  // seconds
constexpr std::size_t kMaxPending = 10000;
constexpr std::size_t kMaxAccountInput = 2048;

}  // namespace

void PendingLogins::put(PendingLogin pending) {
  std::int64_t now = xrpc::unix_now();
  std::lock_guard lock(mu_);
  for (auto it = pending_.begin(); it != pending_.end();)
    it = now - it->second.authorization.created_at > kPendingTtl ? pending_.erase(it) : std::next(it);
  if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin());
  std::string state = pending.authorization.state;
  pending_.insert_or_assign(std::move(state), std::move(pending));
}

std::optional<PendingLogin> PendingLogins::take(const std::string& state) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(state);
  if (it == pending_.end()) return std::nullopt;
  PendingLogin p = std::move(it->second);
  pending_.erase(it);
  if (xrpc::unix_now() - p.authorization.created_at > kPendingTtl) return std::nullopt;
  return p;
}

std::string safe_return_to(const std::string& path, const std::string& fallback) {
  if (path.empty() || path[0] != '/' || (path.size() > 1 && (path[1] == '/' || path[1] == '\\')) ||
      path.find_first_of("\r\n") != std::string::npos)
    return fallback;
  return path;
}

std::string account_input(std::string typed) {
  while (!typed.empty() && typed.front() == ' ') typed.erase(0, 1);
  while (!typed.empty() && typed.back() == ' ') typed.pop_back();
  if (!typed.empty() && typed[0] == '@') typed.erase(0, 1);
  return typed.size() > kMaxAccountInput ? std::string() : typed;
}

std::string login_form(std::string_view action, const std::string& return_to, const std::string& handle) {
  return fmt::format(
      R"(<form method="get" action="{}">)"
      R"(<p><label for="handle">Handle, DID or PDS URL</label><br>)"
      R"(<input type="text" id="handle" name="handle" value="{}" placeholder="alice.bsky.social" required autofocus></p>)"
      R"(<input type="hidden" name="return_to" value="{}">)"
      R"(<p><button type="submit" id="signin">Sign in with ATProto</button></p></form>)",
      html_escape(action), html_escape(handle), html_escape(return_to));
}

xrpc::ServerResponse client_document(const Value& document) {
  auto r = xrpc::ServerResponse::json(document);
  r.header("Cache-Control", "public, max-age=300");
  return r;
}

oauth::CallbackParams callback_params(const xrpc::ServerRequest& req) {
  return {req.param("code").value_or(""), req.param("state").value_or(""), req.param("iss").value_or(""),
          req.param("error").value_or(""), req.param("error_description").value_or("")};
}

}  // namespace atcr::web

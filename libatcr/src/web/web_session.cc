// Browser sessions, CSRF tokens and the page layout (see web_session.h).
#include "web/web_session.h"

#include <fmt/core.h>

#include <fstream>
#include <sstream>

#include "atcr/crypto/hmac.h"
#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"
#include "atcr/identity/resolver.h"
#include "atcr/log.h"
#include "atcr/net/http_client.h"
#include "atcr/oauth/client.h"
#include "util/private_file.h"
#include "util/text.h"

namespace atcr::web {

namespace {

// Version 1 is the schema of the releases before migrations were numbered.
constexpr const char* kSchemaV1 = R"(
CREATE TABLE IF NOT EXISTS web_sessions (
  id_hash TEXT PRIMARY KEY,
  did TEXT NOT NULL,
  handle TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_did ON web_sessions (did);
)";
constexpr db::Migration kMigrations[] = {{1, kSchemaV1}};

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The secret of data_dir/web-session.key, made on first use.
Bytes load_or_create_key(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) {
    util::write_private_file(path, hex::encode(random_bytes(32)) + "\n");
  }
  util::check_private_file(path);
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  Bytes key = hex::decode(text);
  if (key.size() != 32) throw StorageError(fmt::format("{}: not a 32-byte hex key", path.string()));
  return key;
}

std::string id_hash(std::string_view id) { return hex::encode(sha256(as_bytes(id))); }

// The value of cookie `name` in a Cookie header ("a=1; b=2").
std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    part = util::trim(part, " ");
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=')
      return std::string(part.substr(name.size() + 1));
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return {};
}

// The session id of a signed cookie value "<id>.<hmac>", or "" if forged.
std::string verified_id(std::string_view value, const std::function<std::string(std::string_view)>& sign) {
  auto dot = value.find('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  std::string_view id = value.substr(0, dot);
  return equal_constant_time(sign(id), value.substr(dot + 1)) ? std::string(id) : std::string();
}

constexpr std::string_view kStyle =
    "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "header{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #ddd;"
    "margin-bottom:1.5rem;padding-bottom:.5rem}header form{display:inline}"
    "input[type=text]{padding:.4rem;width:18rem}button{padding:.4rem .9rem}.error{color:#a00}";

constexpr std::string_view kInlineStylePolicy =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https: http:; frame-ancestors 'none'";
constexpr std::string_view kOwnAssetsPolicy =
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' https:; connect-src 'self'; "
    "form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

xrpc::ServerResponse redirect(std::string location, int status) {
  auto r = xrpc::ServerResponse::empty(status);
  r.header("Location", std::move(location));
  r.header("Cache-Control", "no-store");
  return r;
}

std::string field(const std::vector<std::pair<std::string, std::string>>& fields, std::string_view name) {
  for (const auto& [key, value] : fields)
    if (key == name) return value;
  return {};
}

WebSessions::WebSessions(const std::string& db_path, const std::filesystem::path& key_path, bool secure_cookies,
                         std::chrono::seconds lifetime, Site site)
    : WebSessions(db::open(db_path), load_or_create_key(key_path), secure_cookies, lifetime, std::move(site)) {}

WebSessions::WebSessions(std::shared_ptr<db::Database> database, Bytes key, bool secure_cookies,
                         std::chrono::seconds lifetime, Site site)
    : key_(std::move(key)), secure_(secure_cookies), lifetime_(lifetime), site_(std::move(site)), db_(std::move(database)) {
  if (key_.size() != 32) throw StorageError("web sessions: the cookie key must be 32 bytes");
  db_->migrate("web.sessions", kMigrations);
}

std::string WebSessions::sign(std::string_view text) const {
  return base64::encode_url(hmac_sha256(key_, as_bytes(text)));
}

std::string WebSessions::cookie_signature(std::string_view id, const xrpc::ServerRequest& req) const {
  if (!site_.bind_user_agent) return sign(id);
  return sign(fmt::format("{}\nua:{}", id, req.header("user-agent")));
}

std::string WebSessions::cookie(std::string_view value, std::int64_t max_age) const {
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}", site_.cookie_name, value, max_age,
                     secure_ ? "; Secure" : "");
}

std::optional<WebUser> WebSessions::current(const xrpc::ServerRequest& req) {
  std::string value = cookie_value(req.header("cookie"), site_.cookie_name);
  if (value.empty() || value.size() > 512) return std::nullopt;
  std::string id = verified_id(value, [&](std::string_view t) { return cookie_signature(t, req); });
  if (id.empty()) return std::nullopt;
  auto found = db_->exec("SELECT did, handle FROM web_sessions WHERE id_hash = ? AND expires_at > ?",
                         {id_hash(id), now_seconds()});
  if (found.empty()) return std::nullopt;
  return WebUser{found.front().text(0), found.front().text(1), id};
}

std::string WebSessions::start(const std::string& did, const std::string& handle, const xrpc::ServerRequest& req) {
  std::string id = base64::encode_url(random_bytes(24));
  std::int64_t now = now_seconds();
  db_->exec("DELETE FROM web_sessions WHERE expires_at <= ?", {now});
  db_->exec("INSERT INTO web_sessions (id_hash, did, handle, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            {id_hash(id), did, handle, now, now + lifetime_.count()});
  return cookie(id + "." + cookie_signature(id, req), lifetime_.count());
}

std::string WebSessions::end(const xrpc::ServerRequest& req) {
  if (auto user = current(req)) db_->exec("DELETE FROM web_sessions WHERE id_hash = ?", {id_hash(user->session_id)});
  return cookie("", 0);
}

void WebSessions::end_all(const std::string& did) {
  db_->exec("DELETE FROM web_sessions WHERE did = ?", {did});
}

std::string WebSessions::csrf_token(const WebUser& user) const { return sign("csrf:" + user.session_id); }

bool WebSessions::csrf_ok(const WebUser& user, std::string_view token) const {
  return !token.empty() && equal_constant_time(csrf_token(user), token);
}

std::optional<WebUser> WebSessions::user_of_form(const xrpc::ServerRequest& req,
                                                 const std::vector<std::pair<std::string, std::string>>& form) {
  auto user = current(req);
  if (!user || !csrf_ok(*user, field(form, "csrf"))) return std::nullopt;
  return user;
}

std::string WebSessions::csrf_field(const WebUser& user) const {
  return fmt::format(R"(<input type="hidden" name="csrf" value="{}">)", html_escape(csrf_token(user)));
}

std::string WebSessions::header_html(const std::optional<WebUser>& user) const {
  std::string html = fmt::format(R"(<a href="{}">{}</a>)", html_escape(site_.home_path), html_escape(site_.brand));
  if (!site_.search_path.empty())
    html += fmt::format(R"(<form method="get" action="{}" role="search"><input type="search" name="q" )"
                        R"(placeholder="Search images" aria-label="Search images"></form>)",
                        html_escape(site_.search_path));
  if (user && !site_.nav.empty()) {
    html += "<nav>";
    for (const auto& [label, path] : site_.nav)
      html += fmt::format(R"( <a href="{}">{}</a>)", html_escape(path), html_escape(label));
    html += "</nav>";
  }
  if (!user) return html + fmt::format(R"(<a href="{}">Sign in</a>)", html_escape(site_.login_path));
  return html + fmt::format(R"(<span>Signed in as <b id="whoami">{}</b></span>)"
                            R"(<form method="post" action="{}">{}<button>Log out</button></form>)",
                            html_escape(user->display()), html_escape(site_.logout_path), csrf_field(*user));
}

xrpc::ServerResponse WebSessions::page(const std::optional<WebUser>& user, std::string_view title,
                                       std::string_view body_html, int status, std::string_view head_html) const {
  std::string assets = site_.stylesheet_path.empty()
                           ? fmt::format("<style>{}</style>", kStyle)
                           : fmt::format(R"(<link rel="stylesheet" href="{}">)", html_escape(site_.stylesheet_path));
  if (!site_.script_path.empty())
    assets += fmt::format(R"(<script src="{}" defer></script>)", html_escape(site_.script_path));
  std::string html = fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>{} - {}</title>{}{}</head>\n<body><header>{}</header>\n"
      "<main><h1>{}</h1>\n{}\n</main></body></html>\n",
      html_escape(title), html_escape(site_.brand), assets, head_html, header_html(user), html_escape(title),
      body_html);
  auto r = xrpc::ServerResponse::text(std::move(html), "text/html; charset=utf-8", status);
  r.header("Cache-Control", "no-store");
  r.header("X-Frame-Options", "DENY");
  r.header("X-Content-Type-Options", "nosniff");
  r.header("Content-Security-Policy",
           std::string(site_.stylesheet_path.empty() ? kInlineStylePolicy : kOwnAssetsPolicy));
  return r;
}

xrpc::ServerResponse WebSessions::error_page(const std::optional<WebUser>& user, int status, std::string_view title,
                                             std::string_view message) const {
  return page(user, title, fmt::format(R"(<p class="error" id="error">{}</p><p><a href="{}">Back to sign-in</a></p>)",
                                       html_escape(message), html_escape(site_.login_path)),
              status);
}

xrpc::Handler WebSessions::guard(xrpc::Handler handler) {
  return [this, handler = std::move(handler)](const xrpc::ServerRequest& req) {
    auto fail = [&](int status, std::string_view title, std::string_view message) {
      std::optional<WebUser> user;
      try {
        user = current(req);
      } catch (const Error&) {
      }
      return error_page(user, status, title, message);
    };
    try {
      return handler(req);
    } catch (const oauth::OAuthError& e) {
      log::warn(site_.log_component, "{} {}: {}", req.method, req.path, e.what());
      bool theirs = e.status() >= 500;
      return fail(theirs ? 502 : 400, "Sign-in failed", e.what());
    } catch (const identity::ResolutionError& e) {
      return fail(400, "Unknown account", e.what());
    } catch (const net::HttpError& e) {
      log::warn(site_.log_component, "{} {}: {}", req.method, req.path, e.what());
      return fail(502, "Server unreachable", "a server on the way could not be reached; try again later");
    } catch (const xrpc::XrpcError& e) {
      int status = e.status() >= 500 ? 502 : e.status();
      return fail(status, "Request failed", e.message().empty() ? e.error() : e.message());
    } catch (const ParseError& e) {
      return fail(400, "Bad request", e.what());
    } catch (const std::exception& e) {
      log::error(site_.log_component, "{} {}: {}", req.method, req.path, e.what());
      return fail(500, "Internal error", "something went wrong on our side");
    }
  };
}

}  // namespace atcr::web

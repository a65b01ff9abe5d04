// The device flow's people side, for a signed-in browser (web_session.h):
//   GET  /device[?code=XXXX-XXXX]       which device asks (the name and host
//                                       the helper sent, the IP it came from),
//                                       approve / deny
//   POST /device                        (CSRF) code, decision=approve|deny
//   GET  /settings/devices              the user's devices, last use, revoke
//   POST /settings/devices/revoke       (CSRF) id
//   GET  /install                       how to install docker-credential-atcr
// Signed-out visitors are sent to /login and back. Every failure is an HTML
// error page.
#include <fmt/core.h>

#include <ctime>

#include "appview/appview_impl.h"
#include "appview/web/web_session.h"

namespace atcr::appview {

namespace {

using web::html_escape;

std::string when(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return "never";
  std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%d %H:%M UTC", &tm);
  return out;
}

xrpc::ServerResponse to_login(const std::string& return_to) {
  return web::redirect("/login?return_to=" + net::url_encode(return_to));
}

// Asks for the code when the link had none (a GET: nothing changes yet).
std::string code_form() {
  return R"(<form method="get" action="/device"><p><label for="code">The code docker-credential-atcr shows</label><br>)"
         R"(<input type="text" id="code" name="code" placeholder="BCDF-GHJK" autocomplete="off" required autofocus></p>)"
         R"(<p><button type="submit">Continue</button></p></form>)";
}

}  // namespace

void Appview::Impl::register_device_pages(xrpc::XrpcServer& server) {
  auto page = [this](PageHandler handler) { return web_page(handler); };
  server.route("GET", "/device", page(&Impl::device_page));
  server.route("POST", "/device", page(&Impl::device_decision));
  server.route("GET", "/settings/devices", page(&Impl::devices_page));
  server.route("POST", "/settings/devices/revoke", page(&Impl::revoke_device));
  server.route("GET", "/install", page(&Impl::install_page));
}

xrpc::ServerResponse Appview::Impl::device_page(const xrpc::ServerRequest& req) {
  std::string typed = req.param("code").value_or("");
  auto user = web_sessions->current(req);
  if (!user) return to_login(typed.empty() ? "/device" : "/device?code=" + net::url_encode(typed));
  if (typed.empty()) return web_sessions->page(user, "Sign in a device", code_form());
  auto pending = devices->pending(typed);
  if (!pending)
    return web_sessions->page(user, "Sign in a device",
                              "<p class=\"error\" id=\"error\">This code is unknown, expired or already used. "
                              "Run <code>docker-credential-atcr login</code> again for a new one.</p>" +
                                  code_form(),
                              404);
  std::string body = fmt::format(
      R"(<p id="request">A device asks to push and pull on <strong>{registry}</strong> as <strong>{user}</strong>:</p>)"
      R"(<table id="device"><tr><th>Device</th><td id="device-name">{name}</td></tr>)"
      R"(<tr><th>Host</th><td id="device-host">{host}</td></tr>)"
      R"(<tr><th>From IP</th><td id="device-ip">{ip}</td></tr>)"
      R"(<tr><th>Code</th><td id="device-code"><code>{code}</code></td></tr></table>)"
      R"(<p>Approve only if this is the code your terminal shows and you started this login.</p>)"
      R"(<form method="post" action="/device">{csrf}<input type="hidden" name="code" value="{code}">)"
      R"(<button type="submit" name="decision" value="approve" id="approve">Approve</button> )"
      R"(<button type="submit" name="decision" value="deny" id="deny">Deny</button></form>)",
      fmt::arg("registry", html_escape(config.server.service)), fmt::arg("user", html_escape(user->display())),
      fmt::arg("name", html_escape(pending->device_name)), fmt::arg("host", html_escape(pending->host)),
      fmt::arg("ip", html_escape(pending->ip)), fmt::arg("code", html_escape(pending->user_code)),
      fmt::arg("csrf", web_sessions->csrf_field(*user)));
  return web_sessions->page(user, "Sign in a device", body);
}

xrpc::ServerResponse Appview::Impl::device_decision(const xrpc::ServerRequest& req) {
  auto form = req.form();
  auto user = web_sessions->user_of_form(req, form);
  if (!user) return stale_form(req, "Not approved");
  std::string decision = web::field(form, "decision");
  if (decision != "approve" && decision != "deny")
    return web_sessions->error_page(user, 400, "Not approved", "Choose Approve or Deny.");
  bool approve = decision == "approve";
  if (!devices->decide(web::field(form, "code"), user->did, approve))
    return web_sessions->error_page(user, 404, "Not approved",
                                    "This code is unknown, expired or already used. Run docker-credential-atcr "
                                    "login again for a new one.");
  return web_sessions->page(
      user, approve ? "Device approved" : "Device denied",
      approve ? "<p id=\"result\">Approved. Go back to your terminal: docker-credential-atcr finishes signing in "
                "by itself. You can revoke this device in <a href=\"/settings/devices\">your devices</a>.</p>"
              : "<p id=\"result\">Denied. The device was not signed in.</p>");
}

std::string Appview::Impl::devices_table(const web::WebUser& user) {
  auto list = devices->devices(user.did);
  std::string rows;
  for (const Device& d : list) {
    rows += fmt::format(
        R"(<tr class="device" data-id="{id}"><td class="name">{name}</td><td>{host}</td><td>{ip}</td><td>{created}</td>)"
        R"(<td class="last-used">{used}</td><td><form method="post" action="/settings/devices/revoke">{csrf})"
        R"(<input type="hidden" name="id" value="{id}"><button type="submit" class="revoke">Revoke</button></form></td></tr>)",
        fmt::arg("id", d.id), fmt::arg("name", html_escape(d.name)), fmt::arg("host", html_escape(d.host)),
        fmt::arg("ip", html_escape(d.ip)), fmt::arg("created", when(d.created_at)), fmt::arg("used", when(d.last_used)),
        fmt::arg("csrf", web_sessions->csrf_field(user)));
  }
  return list.empty()
             ? std::string("<p id=\"no-devices\">No devices are signed in. Run <code>docker-credential-atcr login ") +
                   html_escape(config.server.service) + "</code> on one.</p>"
             : "<table id=\"devices\"><tr><th>Device</th><th>Host</th><th>IP</th><th>Signed in</th><th>Last used</th>"
               "<th></th></tr>" + rows + "</table>";
}

xrpc::ServerResponse Appview::Impl::devices_page(const xrpc::ServerRequest& req) {
  auto user = web_sessions->current(req);
  if (!user) return to_login("/settings/devices");
  return web_sessions->page(user, "Your devices", devices_table(*user));
}

xrpc::ServerResponse Appview::Impl::revoke_device(const xrpc::ServerRequest& req) {
  auto form = req.form();
  auto user = web_sessions->user_of_form(req, form);
  if (!user) return stale_form(req, "Not revoked");
  std::int64_t id = 0;
  try {
    id = std::stoll(web::field(form, "id"));
  } catch (const std::exception&) {
    return web_sessions->error_page(user, 400, "Not revoked", "No device was named.");
  }
  if (!devices->revoke(user->did, id))
    return web_sessions->error_page(user, 404, "Not revoked", "That is not one of your devices (revoked already?).");
  return web::redirect("/settings/devices");
}

xrpc::ServerResponse Appview::Impl::install_page(const xrpc::ServerRequest& req) {
  auto user = web_sessions->current(req);
  const std::string registry = html_escape(config.server.service);
  if (helper_download_url().empty())
    return web_sessions->page(user, "Install the credential helper",
                              "<p>This registry's operator has not set up downloads of docker-credential-atcr "
                              "(<code>install.helper_binary</code>). Build it from the atcr sources, then run "
                              "<code>docker-credential-atcr configure-docker " +
                                  registry + "</code>.</p>");
  std::string body = fmt::format(
      R"(<ol><li>Install the helper and point docker and podman at it:)"
      R"(<pre id="install-command">curl -fsSL {script} | sh</pre></li>)"
      R"(<li>Sign in (your browser opens; approve the code):<pre>docker-credential-atcr login {registry}</pre></li>)"
      R"(<li>Push: <pre>docker push {registry}/&lt;your-handle&gt;/&lt;image&gt;:&lt;tag&gt;</pre></li></ol>)"
      R"(<p>No password is stored for docker: the helper keeps a device secret you can revoke in )"
      R"(<a href="/settings/devices">your devices</a>.</p>)",
      fmt::arg("script", html_escape(config.server.public_url + "/install.sh")), fmt::arg("registry", registry));
  return web_sessions->page(user, "Install the credential helper", body);
}

}  // namespace atcr::appview

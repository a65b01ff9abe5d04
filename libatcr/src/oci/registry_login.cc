#include "atcr/oci/registry_login.h"

#include <fmt/core.h>

#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"
#include "atcr/error.h"
#include "atcr/oci/errors.h"

namespace atcr::oci {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == ',')) s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<BearerChallenge> parse_bearer_challenge(std::string_view header) {
  header = trim(header);
  if (header.size() < 7 || (header.substr(0, 6) != "Bearer" && header.substr(0, 6) != "bearer") ||
      header[6] != ' ')
    return std::nullopt;
  std::string_view rest = header.substr(7);
  BearerChallenge c;
  while (!(rest = trim(rest)).empty()) {
    auto eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    std::string_view key = trim(rest.substr(0, eq));
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      std::size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value += rest[i];
      }
      rest.remove_prefix(std::min(rest.size(), i + 1));
    } else {
      auto comma = rest.find(',');
      value = std::string(trim(rest.substr(0, comma)));
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma);
    }
    if (key == "realm") c.realm = value;
    else if (key == "service") c.service = value;
    else if (key == "scope") c.scope = value;
  }
  if (c.realm.empty()) return std::nullopt;
  return c;
}

std::string registry_login(const net::HttpClient& http, std::string_view registry_url, std::string_view username,
                           std::string_view password, std::string_view scope) {
  std::string base(registry_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  net::HttpResponse ping = http.get(base + "/v2/");
  if (ping.ok()) return "";  // no auth at all
  if (ping.status != 401) throw ParseError(fmt::format("{}/v2/ answered {}, not 200 or 401", base, ping.status));
  auto challenge = parse_bearer_challenge(ping.header("www-authenticate"));
  if (!challenge) throw ParseError(fmt::format("{}/v2/ sent no Bearer challenge", base));

  std::string url = challenge->realm + (challenge->realm.find('?') == std::string::npos ? "?" : "&") +
                    "service=" + net::url_encode(challenge->service);
  if (!scope.empty()) url += "&scope=" + net::url_encode(scope);
  std::string basic = base64::encode(as_bytes(std::string(username) + ":" + std::string(password)));
  net::HttpResponse r = http.get(url, {{"Authorization", "Basic " + basic}});
  if (r.status == 401 || r.status == 403)
    throw RegistryError(ErrorCode::kUnauthorized, fmt::format("{} refused the credentials of {}", base, username));
  if (!r.ok()) throw ParseError(fmt::format("token endpoint {} answered {}", challenge->realm, r.status));
  Value body = json::parse(r.text());
  for (const char* field : {"token", "access_token"}) {
    if (const Value* t = body.is_map() ? body.find(field) : nullptr; t && t->is_string()) return t->as_string();
  }
  throw ParseError(fmt::format("token endpoint {} returned no token", challenge->realm));
}

}  // namespace atcr::oci

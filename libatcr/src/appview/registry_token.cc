#include "atcr/appview/registry_token.h"

#include <fmt/core.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "atcr/crypto/random.h"
#include "atcr/crypto/sha256.h"
#include "atcr/data/json.h"
#include "atcr/encoding/base64.h"
#include "atcr/xrpc/service_auth.h"

namespace atcr::appview {

namespace {

constexpr std::int64_t kClockSkew = 30;
constexpr std::size_t kMaxTokenBytes = 16 * 1024;
constexpr std::size_t kMemoEntries = 4096;

bool valid_action(std::string_view a) {
  return !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || c == '*' || c == '_' || c == '-';
  });
}

[[noreturn]] void bad(const std::string& why) { throw TokenError("registry token: " + why); }

std::int64_t int_claim(const Value& payload, std::string_view key, bool required) {
  const Value* v = payload.find(key);
  if (!v) {
    if (required) bad(fmt::format("the {} claim is missing", key));
    return 0;
  }
  if (!v->is_integer()) bad(fmt::format("the {} claim is not an integer", key));
  return v->as_integer();
}

std::string string_claim(const Value& payload, std::string_view key) {
  const Value* v = payload.find(key);
  if (!v) return {};
  if (!v->is_string()) bad(fmt::format("the {} claim is not a string", key));
  return v->as_string();
}

Value access_value(const std::vector<AccessEntry>& access) {
  Value::Array out;
  for (const AccessEntry& e : access) {
    Value::Array actions;
    for (const std::string& a : e.actions) actions.emplace_back(a);
    out.emplace_back(Value::Map{
        {"type", Value(e.type)}, {"name", Value(e.name)}, {"actions", Value(std::move(actions))}});
  }
  return Value(std::move(out));
}

std::vector<AccessEntry> access_from(const Value& payload) {
  std::vector<AccessEntry> out;
  const Value* access = payload.find("access");
  if (!access || access->is_null()) return out;
  if (!access->is_array()) bad("access is not an array");
  for (const Value& e : access->as_array()) {
    if (!e.is_map()) bad("an access entry is not an object");
    AccessEntry entry;
    const Value* type = e.find("type");
    const Value* name = e.find("name");
    const Value* actions = e.find("actions");
    if (!type || !type->is_string() || !name || !name->is_string() || !actions || !actions->is_array())
      bad("an access entry lacks type, name or actions");
    entry.type = type->as_string();
    entry.name = name->as_string();
    for (const Value& a : actions->as_array()) {
      if (!a.is_string()) bad("an action is not a string");
      entry.actions.push_back(a.as_string());
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

std::optional<AccessEntry> parse_scope(std::string_view scope) {
  auto first = scope.find(':');
  auto last = scope.rfind(':');
  if (first == std::string_view::npos || last == first) return std::nullopt;
  AccessEntry e;
  e.type = std::string(scope.substr(0, first));
  e.name = std::string(scope.substr(first + 1, last - first - 1));
  if (e.type.empty() || e.name.empty()) return std::nullopt;
  std::string_view actions = scope.substr(last + 1);
  while (!actions.empty()) {
    auto comma = actions.find(',');
    std::string_view a = actions.substr(0, comma);
    if (!valid_action(a)) return std::nullopt;
    if (std::find(e.actions.begin(), e.actions.end(), a) == e.actions.end()) e.actions.emplace_back(a);
    if (comma == std::string_view::npos) break;
    actions.remove_prefix(comma + 1);
  }
  if (e.actions.empty()) return std::nullopt;
  return e;
}

std::vector<AccessEntry> parse_scopes(const std::vector<std::string>& scope_params) {
  std::vector<AccessEntry> out;
  for (const std::string& param : scope_params) {
    std::string_view rest = param;
    while (!rest.empty()) {
      auto space = rest.find(' ');
      std::string_view one = rest.substr(0, space);
      if (auto e = parse_scope(one)) out.push_back(std::move(*e));
      if (space == std::string_view::npos) break;
      rest.remove_prefix(space + 1);
    }
  }
  return out;
}

std::string format_scope(const AccessEntry& entry) {
  std::string actions;
  for (const std::string& a : entry.actions) actions += (actions.empty() ? "" : ",") + a;
  return fmt::format("{}:{}:{}", entry.type, entry.name, actions);
}

std::string bearer_challenge(std::string_view realm, std::string_view service, std::string_view scope,
                             bool insufficient_scope) {
  std::string out = fmt::format("Bearer realm=\"{}\",service=\"{}\"", realm, service);
  if (!scope.empty()) out += fmt::format(",scope=\"{}\"", scope);
  if (insufficient_scope) out += ",error=\"insufficient_scope\"";
  return out;
}

bool RegistryClaims::allows(std::string_view name, std::string_view action) const {
  for (const AccessEntry& e : access) {
    if (e.type != "repository" || e.name != name) continue;
    for (const std::string& a : e.actions)
      if (a == action || a == "*") return true;
  }
  return false;
}

struct RegistryTokenIssuer::Verified {
  RegistryClaims claims;
  std::int64_t not_before = 0;
};

struct RegistryTokenIssuer::Memo {
  // Looked up by string_view: no copy of the token per request.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex mu;
  std::unordered_map<std::string, Verified, Hash, std::equal_to<>> tokens;
};

RegistryTokenIssuer::RegistryTokenIssuer(PrivateKey key, std::string issuer, std::string service, Clock clock)
    : key_(std::move(key)),
      public_key_(key_.public_key()),
      issuer_(std::move(issuer)),
      service_(std::move(service)),
      clock_(clock ? std::move(clock) : Clock(xrpc::unix_now)),
      memo_(std::make_shared<Memo>()) {
  if (key_.type() != KeyType::kP256) throw ParseError("registry tokens need a P-256 key (ES256)");
  // A short id of the public key, so a rotated key's tokens are told apart.
  kid_ = base64::encode_url(BytesView(sha256(as_bytes(public_key_.did_key()))).subspan(0, 12));
}

std::string RegistryTokenIssuer::mint(std::string_view subject, const std::vector<AccessEntry>& access,
                                      std::chrono::seconds lifetime, std::string_view auth_method) const {
  std::int64_t now = clock_();
  Value header(Value::Map{{"alg", Value("ES256")}, {"typ", Value("JWT")}, {"kid", Value(kid_)}});
  Value::Map claims{
      {"iss", Value(issuer_)},
      {"sub", Value(subject)},
      {"aud", Value(service_)},
      {"exp", Value(now + lifetime.count())},
      {"nbf", Value(now)},
      {"iat", Value(now)},
      {"jti", Value(base64::encode_url(random_bytes(12)))},
      {"access", access_value(access)},
  };
  if (!auth_method.empty()) claims["auth_method"] = Value(std::string(auth_method));
  std::string signing_input = base64::encode_url(as_bytes(json::serialize(header))) + "." +
                              base64::encode_url(as_bytes(json::serialize(Value(std::move(claims)))));
  Bytes sig = key_.sign(as_bytes(signing_input));
  return signing_input + "." + base64::encode_url(sig);
}

RegistryClaims RegistryTokenIssuer::verify(std::string_view token) const {
  if (token.size() > kMaxTokenBytes) bad("too long");
  std::optional<Verified> v;
  {
    std::lock_guard lock(memo_->mu);
    if (auto it = memo_->tokens.find(token); it != memo_->tokens.end()) v = it->second;
  }
  const bool remembered = v.has_value();
  if (!remembered) v = check(token);  // throws for a bad token: only good ones are remembered
  std::int64_t now = clock_();
  if (now > v->claims.expires_at + kClockSkew) {
    if (remembered) {
      std::lock_guard lock(memo_->mu);
      if (auto it = memo_->tokens.find(token); it != memo_->tokens.end()) memo_->tokens.erase(it);
    }
    bad("expired");
  }
  if (v->not_before > now + kClockSkew) bad("not valid yet");
  if (!remembered) {
    std::lock_guard lock(memo_->mu);
    auto& tokens = memo_->tokens;
    if (tokens.size() >= kMemoEntries) {
      std::erase_if(tokens, [&](const auto& e) { return now > e.second.claims.expires_at + kClockSkew; });
      if (tokens.size() >= kMemoEntries) tokens.clear();  // all live: start over rather than grow
    }
    tokens.try_emplace(std::string(token), *v);
  }
  return v->claims;
}

RegistryTokenIssuer::Verified RegistryTokenIssuer::check(std::string_view token) const {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    bad("not a compact JWT (three parts)");
  Value header, payload;
  Bytes sig;
  try {
    header = json::parse(to_string(base64::decode_url(token.substr(0, dot1))));
    payload = json::parse(to_string(base64::decode_url(token.substr(dot1 + 1, dot2 - dot1 - 1))));
    sig = base64::decode_url(token.substr(dot2 + 1));
  } catch (const ParseError& e) {
    bad(fmt::format("malformed: {}", e.what()));
  }
  if (!header.is_map() || !payload.is_map()) bad("header or payload is not a JSON object");
  const Value* alg = header.find("alg");
  if (!alg || !alg->is_string() || alg->as_string() != "ES256") bad("alg must be ES256");
  if (!public_key_.verify(as_bytes(token.substr(0, dot2)), sig)) bad("bad signature");

  Verified v;
  RegistryClaims& c = v.claims;
  c.issuer = string_claim(payload, "iss");
  c.subject = string_claim(payload, "sub");
  c.audience = string_claim(payload, "aud");
  c.expires_at = int_claim(payload, "exp", true);
  c.issued_at = int_claim(payload, "iat", false);
  v.not_before = int_claim(payload, "nbf", false);
  if (c.issuer != issuer_) bad(fmt::format("issued by '{}', not '{}'", c.issuer, issuer_));
  if (c.audience != service_) bad(fmt::format("for service '{}', not '{}'", c.audience, service_));
  c.auth_method = string_claim(payload, "auth_method");
  c.access = access_from(payload);
  return v;
}

}  // namespace atcr::appview

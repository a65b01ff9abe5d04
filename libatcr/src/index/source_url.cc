#include "index/source_url.h"

#include <optional>

#include "util/text.h"

namespace atcr::index {

namespace {

struct Split {
  std::string scheme;  // http or https
  std::string authority;
};

std::optional<Split> split(std::string_view url) {
  auto end = url.find("://");
  if (end == std::string_view::npos) return std::nullopt;
  std::string scheme = util::ascii_lower(url.substr(0, end));
  if (scheme == "ws") scheme = "http";
  if (scheme == "wss") scheme = "https";
  if (scheme != "http" && scheme != "https") return std::nullopt;
  std::string_view rest = url.substr(end + 3);
  std::string authority = util::ascii_lower(rest.substr(0, rest.find_first_of("/?#")));
  if (authority.empty() || authority.find('@') != std::string::npos) return std::nullopt;
  std::string default_port = scheme == "https" ? ":443" : ":80";
  if (authority.ends_with(default_port)) authority.resize(authority.size() - default_port.size());
  return Split{scheme, authority};
}

}  // namespace

std::string origin_of(std::string_view url) {
  auto s = split(url);
  return s ? s->scheme + "://" + s->authority : std::string();
}

std::string subscribe_url(std::string_view service_url) {
  auto s = split(service_url);
  if (!s) return {};
  return (s->scheme == "https" ? "wss://" : "ws://") + s->authority + "/xrpc/com.atproto.sync.subscribeRepos";
}

}  // namespace atcr::index

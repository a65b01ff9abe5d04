// Hold reachability with a TTL (see hold_health.h).
#include "appview/web/hold_health.h"

#include "atcr/version.h"

namespace atcr::appview::web {

namespace {

net::HttpOptions probe_options() {
  net::HttpOptions o;
  o.timeout = std::chrono::seconds(3);
  o.connect_timeout = std::chrono::seconds(2);
  o.user_agent = "atcr-appview/" ATCR_VERSION " (hold health)";
  o.max_response_bytes = 64 * 1024;
  return o;
}

}  // namespace

HoldHealth::HoldHealth(std::chrono::seconds ttl)
    : http_(std::make_unique<net::HttpClient>(probe_options())), known_(ttl, 1000) {}

bool HoldHealth::reachable(const std::string& hold_url) {
  if (auto hit = known_.get(hold_url)) return *hit;
  bool up = false;
  try {
    up = http_->get(hold_url + "/xrpc/_health").ok();
  } catch (const Error&) {
  }
  known_.put(hold_url, up);
  return up;
}

}  // namespace atcr::appview::web

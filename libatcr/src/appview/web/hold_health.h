// Internal: whether a hold answers (GET <hold>/xrpc/_health within 3 s),
// remembered for a TTL so repository pages do not ask on every view.
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "util/ttl_cache.h"
#include "atcr/net/http_client.h"

namespace atcr::appview::web {

class HoldHealth {
 public:
  explicit HoldHealth(std::chrono::seconds ttl = std::chrono::seconds(30));
  // `hold_url` without a trailing '/'. Any 2xx answer is reachable.
  bool reachable(const std::string& hold_url);

 private:
  std::unique_ptr<net::HttpClient> http_;
  util::TtlCache<bool> known_;
};

}  // namespace atcr::appview::web

// Internal: repository avatars (io.atcr.repo.page's avatar blob), which the
// web UI serves from this origin: fetched from the owner's PDS with
// com.atproto.sync.getBlob, checked, and kept in memory.
//
// Checks: the bytes must hash to the blob's CID (a PDS cannot swap them),
// be at most kMaxAvatarBytes (the lexicon's limit), and be a PNG, JPEG or
// WebP image by their own leading bytes (the PDS's Content-Type is not
// believed): anything else is never served, so the AppView's origin serves
// no HTML, SVG or script a user uploaded. Failures are remembered for a
// minute, avatars for an hour (64 at most). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "util/ttl_cache.h"
#include "atcr/bytes.h"
#include "atcr/net/http_client.h"

namespace atcr::appview::web {

inline constexpr std::size_t kMaxAvatarBytes = 3'000'000;

// "image/png", "image/jpeg" or "image/webp" by the leading bytes; "" for
// anything else.
std::string image_type(BytesView bytes);

struct Avatar {
  std::string content_type;  // one image_type() names
  Bytes bytes;
};

class AvatarCache {
 public:
  explicit AvatarCache(std::shared_ptr<const net::HttpClient> http);

  // The blob `cid` of `did`, from `pds_url`; null when the PDS does not
  // answer with it or it fails the checks (logged). Never throws for what
  // the PDS sent.
  std::shared_ptr<const Avatar> get(const std::string& pds_url, const std::string& did, const std::string& cid);

 private:
  std::shared_ptr<const Avatar> fetch(const std::string& pds_url, const std::string& did, const std::string& cid);

  std::shared_ptr<const net::HttpClient> http_;
  util::TtlCache<std::shared_ptr<const Avatar>> cache_;
};

}  // namespace atcr::appview::web

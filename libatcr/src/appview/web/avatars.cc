#include "appview/web/avatars.h"

#include <fmt/core.h>

#include <algorithm>

#include "atcr/data/cid.h"
#include "atcr/log.h"

namespace atcr::appview::web {

namespace {
constexpr auto kKeep = std::chrono::hours(1);
constexpr auto kKeepFailure = std::chrono::minutes(1);
constexpr std::size_t kEntries = 64;

bool starts_with(BytesView bytes, std::size_t at, std::string_view magic) {
  return bytes.size() >= at + magic.size() &&
         std::equal(magic.begin(), magic.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at),
                    [](char m, std::uint8_t b) { return static_cast<std::uint8_t>(m) == b; });
}
}  // namespace

std::string image_type(BytesView bytes) {
  if (starts_with(bytes, 0, "\x89PNG\r\n\x1a\n")) return "image/png";
  if (starts_with(bytes, 0, "\xff\xd8\xff")) return "image/jpeg";
  if (starts_with(bytes, 0, "RIFF") && starts_with(bytes, 8, "WEBP")) return "image/webp";
  return {};
}

AvatarCache::AvatarCache(std::shared_ptr<const net::HttpClient> http)
    : http_(std::move(http)), cache_(kKeep, kEntries) {}

std::shared_ptr<const Avatar> AvatarCache::get(const std::string& pds_url, const std::string& did,
                                               const std::string& cid) {
  std::string key = did + " " + cid;
  if (auto hit = cache_.get(key)) return *hit;
  std::shared_ptr<const Avatar> avatar = fetch(pds_url, did, cid);
  cache_.put(key, avatar, avatar ? std::chrono::duration_cast<std::chrono::milliseconds>(kKeep)
                                 : std::chrono::duration_cast<std::chrono::milliseconds>(kKeepFailure));
  return avatar;
}

std::shared_ptr<const Avatar> AvatarCache::fetch(const std::string& pds_url, const std::string& did,
                                                 const std::string& cid) {
  try {
    Cid expected = Cid::parse(cid);
    net::HttpOptions options = http_->options();
    options.max_response_bytes = kMaxAvatarBytes;
    net::HttpRequest request;
    request.method = "GET";
    request.url = fmt::format("{}/xrpc/com.atproto.sync.getBlob?did={}&cid={}", pds_url, net::url_encode(did),
                              net::url_encode(cid));
    net::HttpResponse response = http_->send(request, options);
    if (response.status != 200) throw Error(fmt::format("getBlob answered {}", response.status));
    if (Cid::compute(Codec::kRaw, response.body) != expected) throw Error("the bytes are not the (raw) CID's");
    std::string type = image_type(response.body);
    if (type.empty()) throw Error("not a PNG, JPEG or WebP image");
    return std::make_shared<const Avatar>(Avatar{std::move(type), std::move(response.body)});
  } catch (const Error& e) {
    log::warn("appview", "avatar {} of {} from {}: {}", log::escape(cid), did, pds_url, e.what());
    return nullptr;
  }
}

}  // namespace atcr::appview::web

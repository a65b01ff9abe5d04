// Posts and profile records of the hold's Bluesky account (see bluesky.h).
#include "hold/bluesky.h"

#include <fmt/core.h>

#include <fstream>

#include "atcr/data/datetime.h"
#include "util/format_size.h"
#include "atcr/net/http_client.h"
#include "hold/hold_impl.h"

namespace atcr::hold {

namespace {

constexpr std::size_t kMaxNameChars = 200;  // of the post's 300 graphemes
constexpr std::size_t kMaxDisplayName = 64;  // the profile lexicon's maxGraphemes
constexpr std::size_t kMaxDescription = 256;
constexpr std::string_view kEllipsis = "\u2026";

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::size_t code_points(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += is_continuation(c) ? 0 : 1;
  return n;
}

// At most `max` code points of UTF-8 `text` (max >= 1), "…" marking a cut.
std::string shorten(const std::string& text, std::size_t max) {
  if (code_points(text) <= max) return text;
  std::size_t chars = 0;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    if (!is_continuation(text[i]) && chars++ == max - 1) break;
  }
  return text.substr(0, i) + std::string(kEllipsis);
}

std::string contents(const PushAnnouncement& push) {
  if (push.platforms > 0) return fmt::format("{} platform{}", push.platforms, push.platforms == 1 ? "" : "s");
  return fmt::format("{}, {} layer{}", util::format_size(push.bytes), push.layers, push.layers == 1 ? "" : "s");
}

}  // namespace

Value push_post(const PushAnnouncement& push, const std::string& created_at) {
  std::string prefix = "\U0001F4E6 ";  // 📦, four bytes in UTF-8
  std::string shown = shorten(push.tag.empty() ? push.name : push.name + ":" + push.tag, kMaxNameChars);
  std::string text = prefix + shown + " \u00B7 " + contents(push);
  // Facet offsets are UTF-8 byte offsets into text.
  auto start = static_cast<std::int64_t>(prefix.size());
  auto end = start + static_cast<std::int64_t>(shown.size());
  Value::Map link{{"$type", Value("app.bsky.richtext.facet#link")}, {"uri", Value(push.url)}};
  Value::Map facet{
      {"index", Value(Value::Map{{"byteStart", Value(start)}, {"byteEnd", Value(end)}})},
      {"features", Value(Value::Array{Value(std::move(link))})},
  };
  return Value(Value::Map{
      {"$type", Value(kPostCollection)},
      {"text", Value(std::move(text))},
      {"facets", Value(Value::Array{Value(std::move(facet))})},
      {"langs", Value(Value::Array{Value("en")})},
      {"createdAt", Value(created_at)},
  });
}

Avatar load_avatar(const std::filesystem::path& path) {
  constexpr std::string_view kKey = "registration.profile_avatar";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(std::string(kKey), fmt::format("{}: cannot read {}", kKey, path.string()));
  Avatar a;
  a.data.resize(kMaxAvatarBytes + 1);
  in.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(a.data.size()));
  a.data.resize(static_cast<std::size_t>(in.gcount()));
  if (a.data.size() > kMaxAvatarBytes)
    throw ConfigError(std::string(kKey), fmt::format("{}: {} is larger than {} bytes (the profile lexicon's limit)",
                                                     kKey, path.string(), kMaxAvatarBytes));
  auto starts_with = [&](std::initializer_list<std::uint8_t> magic) {
    return a.data.size() >= magic.size() && std::equal(magic.begin(), magic.end(), a.data.begin());
  };
  if (starts_with({0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}))
    a.mime_type = "image/png";
  else if (starts_with({0xFF, 0xD8, 0xFF}))
    a.mime_type = "image/jpeg";
  else
    throw ConfigError(std::string(kKey), fmt::format("{}: {} is neither a PNG nor a JPEG image", kKey, path.string()));
  return a;
}

Value hold_profile(const HoldConfig::Registration& registration, const std::string& handle,
                   const std::string& created_at, const Value* avatar) {
  Value::Map m{
      {"$type", Value(kProfileCollection)},
      {"displayName", Value(shorten(registration.profile_display_name.empty() ? handle
                                                                          : registration.profile_display_name,
                                    kMaxDisplayName))},
      {"createdAt", Value(created_at)},
  };
  if (!registration.profile_description.empty())
    m["description"] = Value(shorten(registration.profile_description, kMaxDescription));
  if (avatar) m["avatar"] = *avatar;
  return Value(std::move(m));
}

Value Hold::Impl::push_post_for(const std::string& user, const std::string& repository, const std::string& tag,
                                const oci::ManifestInfo& info) {
  std::string who = user;
  try {
    who = resolver->resolve(user).handle.value_or(user);
  } catch (const Error&) {
    // the DID names them
  }
  PushAnnouncement push;
  push.name = who + "/" + repository;
  push.tag = tag;
  for (const oci::Descriptor& layer : info.layers) push.bytes += static_cast<std::uint64_t>(layer.size);
  push.layers = info.layers.size();
  push.platforms = info.manifests.size();
  push.url = fmt::format("{}/r/{}/{}", config.registration.appview_url, net::url_encode(who), repository);
  return push_post(push, now_datetime());
}

}  // namespace atcr::hold

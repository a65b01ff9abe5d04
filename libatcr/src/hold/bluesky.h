// Internal: the hold's own Bluesky presence (registration.enable_bluesky_posts):
// a post per push from the hold's account, and its profile.
//
// Records are app.bsky.* as the Bluesky AppView reads them (checked against
// @atproto/api's lexicons in tests/e2e/admin_test.sh): a post's text is at
// most 300 graphemes, and its link facet's index counts UTF-8 bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "atcr/bytes.h"
#include "atcr/data/value.h"
#include "atcr/hold/config.h"

namespace atcr::hold {

inline constexpr std::string_view kPostCollection = "app.bsky.feed.post";
inline constexpr std::string_view kProfileCollection = "app.bsky.actor.profile";

struct PushAnnouncement {
  std::string name;  // "<handle or DID>/<repository>"
  std::string tag;   // "" for a push by digest
  std::uint64_t bytes = 0;
  std::size_t layers = 0;
  std::size_t platforms = 0;  // an index's manifests (then layers is 0)
  std::string url;            // the repository's page on the AppView
};

// "📦 <name>:<tag> · <size>, <n> layers" with a link facet on "<name>:<tag>"
// (shortened to fit the post).
Value push_post(const PushAnnouncement& push, const std::string& created_at);

// The profile the config asks for: displayName (default `handle`) and
// description, shortened to the lexicon's limits, and `avatar` (a blob
// ref: {$type: blob, ref, mimeType, size}) when not null.
Value hold_profile(const HoldConfig::Registration& registration, const std::string& handle,
                   const std::string& created_at, const Value* avatar = nullptr);

// The avatar image registration.profile_avatar names, as the profile
// lexicon accepts it: image/png or image/jpeg (told by its magic bytes), at
// most 1,000,000 bytes. Throws ConfigError (key registration.profile_avatar)
// for a file that is missing, unreadable, too large or not such an image.
struct Avatar {
  Bytes data;
  std::string mime_type;
};
inline constexpr std::size_t kMaxAvatarBytes = 1'000'000;
Avatar load_avatar(const std::filesystem::path& path);

}  // namespace atcr::hold

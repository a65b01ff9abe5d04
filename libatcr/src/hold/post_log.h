// Internal: which user each of the hold's Bluesky posts is about
// (<data_dir>/posts.sqlite), for exportUserData's blueskyPosts. A post
// names its user only in its text and link (by handle, which can change
// hands), so the hold notes the DID when it writes one. Thread-safe.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "util/sqlite.h"

namespace atcr::hold {

class PostLog {
 public:
  explicit PostLog(const std::filesystem::path& file);
  // After the post's commit: app.bsky.feed.post/<rkey> is about `user_did`.
  void add(const std::string& rkey, const std::string& user_did);
  // The keys of the posts about `user_did`, oldest first.
  std::vector<std::string> rkeys_of(const std::string& user_did) const;

 private:
  mutable std::mutex mu_;
  mutable sqlite::Database db_;
};

}  // namespace atcr::hold

// The hold's Bluesky records (hold/bluesky.h): a push post's text and its
// link facet's UTF-8 byte offsets, and the profile within the lexicon's
// limits. tests/e2e/admin_test.sh validates real ones against @atproto/api.
#include <doctest/doctest.h>

#include <fstream>

#include "hold/bluesky.h"
#include "temp_dir.h"

using namespace atcr;
using namespace atcr::hold;

namespace {

std::string linked_text(const Value& post) {
  const Value& index = post.at("facets").as_array().at(0).at("index");
  const std::string& text = post.at("text").as_string();
  auto start = static_cast<std::size_t>(index.at("byteStart").as_integer());
  auto end = static_cast<std::size_t>(index.at("byteEnd").as_integer());
  REQUIRE(start <= end);
  REQUIRE(end <= text.size());
  return text.substr(start, end - start);
}

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

TEST_CASE("a push post names the image, its size and layers, and links it by byte offsets") {
  PushAnnouncement push{"alice.test/team/app", "v1", 3 * 1000 * 1000, 4, 0, "https://atcr.io/r/alice.test/team/app"};
  Value post = push_post(push, "2026-12-03T07:00:00.000Z");
  CHECK(post.at("$type").as_string() == "app.bsky.feed.post");
  std::string text = post.at("text").as_string();
  CHECK(text.starts_with("\U0001F4E6 "));  // four bytes before the link: offsets are bytes, not characters
  CHECK(text.find("4 layers") != std::string::npos);
  CHECK(linked_text(post) == "alice.test/team/app:v1");
  const Value& feature = post.at("facets").as_array().at(0).at("features").as_array().at(0);
  CHECK(feature.at("$type").as_string() == "app.bsky.richtext.facet#link");
  CHECK(feature.at("uri").as_string() == push.url);
  CHECK(post.at("createdAt").as_string() == "2026-12-03T07:00:00.000Z");

  PushAnnouncement index{"did:plc:alicealicealicealice000/app", "", 0, 0, 2, "https://atcr.io/r/x/app"};
  Value multi = push_post(index, "2026-12-03T07:00:00.000Z");
  CHECK(multi.at("text").as_string().find("2 platforms") != std::string::npos);
  CHECK(linked_text(multi) == "did:plc:alicealicealicealice000/app");
}

TEST_CASE("a long name is shortened to fit the post's 300 graphemes, the link still on it") {
  PushAnnouncement push{std::string(250, 'a') + ".test/" + std::string(255, 'r'), "latest", 1, 1, 0,
                        "https://atcr.io/r/x/y"};
  Value post = push_post(push, "2026-12-03T07:00:00.000Z");
  CHECK(code_points(post.at("text").as_string()) <= 300);
  std::string linked = linked_text(post);
  CHECK(linked.ends_with("\u2026"));
  CHECK(code_points(linked) == 200);
}

TEST_CASE("the hold's profile: the configured name and description, within the lexicon's limits") {
  HoldConfig::Registration r;
  Value plain = hold_profile(r, "hold.example.com", "2026-12-03T07:00:00.000Z");
  CHECK(plain.at("$type").as_string() == "app.bsky.actor.profile");
  CHECK(plain.at("displayName").as_string() == "hold.example.com");
  CHECK(plain.find("description") == nullptr);
  r.profile_display_name = std::string(100, 'n');
  r.profile_description = "Blobs for the crew \u2693 " + std::string(300, 'd');
  Value long_one = hold_profile(r, "hold.example.com", "2026-12-03T07:00:00.000Z");
  CHECK(code_points(long_one.at("displayName").as_string()) == 64);
  CHECK(code_points(long_one.at("description").as_string()) == 256);
}

TEST_CASE("the hold's avatar: a PNG or JPEG file of at most 1,000,000 bytes, in the profile as a blob ref") {
  test::TempDir dir("atcr-avatar");
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir.path() / name, std::ios::binary) << bytes;
    return dir.path() / name;
  };
  Avatar png = load_avatar(write("a.png", std::string("\x89PNG\r\n\x1a\n", 8) + "pixels"));
  CHECK(png.mime_type == "image/png");
  CHECK(png.data.size() == 14);
  CHECK(load_avatar(write("a.jpg", "\xFF\xD8\xFF\xE0jfif")).mime_type == "image/jpeg");
  auto refused = [&](const std::filesystem::path& path, std::string_view why) {
    try {
      load_avatar(path);
      FAIL("accepted " << path);
    } catch (const ConfigError& e) {
      CHECK(e.key() == "registration.profile_avatar");
      CHECK_MESSAGE(std::string(e.what()).find(why) != std::string::npos, e.what());
    }
  };
  refused(write("a.gif", "GIF89a..."), "neither a PNG nor a JPEG");
  refused(write("empty.png", ""), "neither a PNG nor a JPEG");
  refused(write("big.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(kMaxAvatarBytes, 'x')), "larger than");
  refused(dir.path() / "missing.png", "cannot read");
  refused(dir.path(), "");  // a directory

  HoldConfig::Registration r;
  Value blob(Value::Map{{"$type", Value("blob")}, {"mimeType", Value("image/png")}, {"size", Value(14)}});
  Value with = hold_profile(r, "hold.example.com", "2026-12-03T07:00:00.000Z", &blob);
  CHECK(with.at("avatar") == blob);
}

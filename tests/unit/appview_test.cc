// The AppView's network-free parts: the upload state machine (Content-Range
// rules, parts, hashing), registry tokens, scopes and challenges,
// pagination, configuration.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "appview/appview_impl.h"
#include "appview/blob_upload.h"
#include "atcr/appview/config.h"
#include "appview/pagination.h"
#include "atcr/appview/registry_token.h"
#include "atcr/encoding/base64.h"
#include "atcr/error.h"
#include "atcr/oci/errors.h"
#include "temp_dir.h"
#include "warnings.h"

using namespace atcr;
using namespace atcr::appview;
using atcr::test::warned;

namespace {

struct RecordingSink : PartSink {
  std::vector<Bytes> parts;
  std::string put_part(int part_number, BytesView data) override {
    CHECK(part_number == static_cast<int>(parts.size()) + 1);
    parts.emplace_back(data.begin(), data.end());
    return "etag-" + std::to_string(part_number);
  }
  std::string put_part_stream(int part_number, std::uint64_t size, const Reader& read) override {
    Bytes data(size);
    std::size_t got = 0;
    while (got < size) got += read(std::span<std::uint8_t>(data).subspan(got));
    return put_part(part_number, data);
  }
};

struct FailingSink : PartSink {
  std::string put_part(int, BytesView) override { throw Error("the hold is down"); }
  std::string put_part_stream(int, std::uint64_t, const Reader&) override { throw Error("the hold is down"); }
};

// Reads from a string in pieces of at most 3 bytes, as a socket might.
PartSink::Reader reader_of(const std::string& text, std::size_t& pos) {
  return [&text, &pos](std::span<std::uint8_t> buffer) {
    std::size_t n = std::min({buffer.size(), text.size() - pos, std::size_t{3}});
    std::copy_n(text.data() + pos, n, buffer.data());
    pos += n;
    return n;
  };
}

oci::ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const oci::RegistryError& e) {
    return e.code();
  }
  FAIL("no RegistryError");
  return oci::ErrorCode::kUnknown;
}

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const oci::RegistryError& e) {
    return e.http_status();
  }
  return 0;
}

}  // namespace

TEST_CASE("Content-Range: the distribution form and tolerated variants") {
  auto r = parse_content_range("0-99");
  REQUIRE(r);
  CHECK(r->start == 0);
  CHECK(r->end == 99);
  CHECK(r->length() == 100);
  CHECK(parse_content_range("bytes 100-199/1000")->start == 100);
  CHECK(parse_content_range("bytes=5-5")->length() == 1);
  for (const char* bad : {"", "-", "5", "10-5", "a-b", "0-", "-5", "0-99999999999999999999999", "1 - 2"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_content_range(bad));
  }
}

TEST_CASE("BlobUpload: chunks in order, parts of part_size, a short last part") {
  BlobUpload up(10);
  RecordingSink sink;
  CHECK(up.range_header() == "0-0");
  up.check_chunk("0-6", 7);
  up.append(as_bytes(std::string_view("abcdefg")), sink);
  CHECK(up.offset() == 7);
  CHECK(up.range_header() == "0-6");
  CHECK(sink.parts.empty());  // still buffering

  // Out of order: the next chunk must start at 7.
  CHECK(code_of([&] { up.check_chunk("0-6", 7); }) == oci::ErrorCode::kRangeInvalid);
  CHECK(status_of([&] { up.check_chunk("8-9", 2); }) == 416);
  CHECK(status_of([&] { up.check_chunk("junk", 2); }) == 416);
  // Content-Length must match the range.
  CHECK(code_of([&] { up.check_chunk("7-9", 5); }) == oci::ErrorCode::kSizeInvalid);
  // A streamed chunk (no Content-Range) is taken at the offset.
  up.check_chunk("", std::nullopt);

  up.check_chunk("7-21", 15);
  up.append(as_bytes(std::string_view("hijklmnopqrstuv")), sink);
  CHECK(up.offset() == 22);
  REQUIRE(sink.parts.size() == 2);
  CHECK(to_string(sink.parts[0]) == "abcdefghij");
  CHECK(to_string(sink.parts[1]) == "klmnopqrst");

  up.finish(sink);
  CHECK(up.offset() == 22);
  REQUIRE(sink.parts.size() == 3);
  CHECK(to_string(sink.parts[2]) == "uv");
  REQUIRE(up.parts().size() == 3);
  CHECK(up.parts()[2].etag == "etag-3");
  CHECK(up.parts()[2].size == 2);
  CHECK(up.finished());
  CHECK(code_of([&] { up.finish(sink); }) == oci::ErrorCode::kBlobUploadInvalid);
  CHECK(code_of([&] { up.append(as_bytes(std::string_view("x")), sink); }) == oci::ErrorCode::kBlobUploadInvalid);
}

TEST_CASE("BlobUpload with a spill file: the part being filled waits on disk; resume() goes on from a saved state") {
  test::TempDir dir("atcr-spill");
  auto spill = dir / "up";
  auto size_of = [&] { return std::filesystem::exists(spill) ? std::filesystem::file_size(spill) : 0; };
  RecordingSink sink;
  {
    BlobUpload up(10, spill);
    up.append(as_bytes(std::string_view("abcdefg")), sink);
    CHECK(size_of() == 7);  // on disk, not in memory
    CHECK(sink.parts.empty());
    up.append(as_bytes(std::string_view("hijkl")), sink);
    REQUIRE(sink.parts.size() == 1);
    CHECK(to_string(sink.parts[0]) == "abcdefghij");
    CHECK(size_of() == 2);  // "kl"
    CHECK_FALSE(up.can_stream(10));
    // The saved state: offset 12, one part. A crash while a chunk was being
    // written leaves more bytes in the file than the state knows of.
    CHECK(up.offset() == 12);
  }
  {
    std::ofstream(spill, std::ios::app) << "XYZ";  // a chunk cut short by a crash
    BlobUpload up = BlobUpload::resume(10, spill, 12, {{1, "etag-1", 10}});
    CHECK(size_of() == 2);  // cut back to the saved offset
    CHECK(up.offset() == 12);
    CHECK(up.range_header() == "0-11");
    up.check_chunk("12-14", 3);
    up.append(as_bytes(std::string_view("mno")), sink);
    up.finish(sink);
    REQUIRE(sink.parts.size() == 2);
    CHECK(to_string(sink.parts[1]) == "klmno");
    REQUIRE(up.parts().size() == 2);
    CHECK(up.parts()[0].etag == "etag-1");
    CHECK(up.parts()[1].size == 5);
    up.discard();
    CHECK_FALSE(std::filesystem::exists(spill));
  }
  // Fewer bytes than the state says: the upload cannot go on.
  std::ofstream(spill) << "k";
  CHECK_THROWS_AS(BlobUpload::resume(10, spill, 12, {{1, "etag-1", 10}}), StorageError);
  CHECK_THROWS_AS(BlobUpload::resume(10, spill, 5, {{1, "etag-1", 10}}), StorageError);
  // No file and nothing buffered: fine (a part just went out).
  std::filesystem::remove(spill);
  CHECK(BlobUpload::resume(10, spill, 10, {{1, "etag-1", 10}}).can_stream(10));
}

TEST_CASE("BlobUpload: a sink that takes small parts gets each chunk from stream_min() up as it comes") {
  BlobUpload up(100);
  CHECK(up.stream_min() == 100);
  up.stream_parts_from(0);
  CHECK(up.stream_min() == 1);  // clamped to 1..part_size
  up.stream_parts_from(1000);
  CHECK(up.stream_min() == 100);
  up.stream_parts_from(4);
  RecordingSink sink;
  CHECK_FALSE(up.can_stream(3));  // below the floor: buffered
  CHECK(up.can_stream(4));
  std::string chunk = "abcde";
  std::size_t pos = 0;
  up.append_stream(chunk.size(), reader_of(chunk, pos), sink);  // a PATCH of its own
  up.append(as_bytes(std::string_view("xy")), sink);           // a small one waits
  CHECK_FALSE(up.can_stream(50));                              // something is buffered
  up.finish(sink);
  REQUIRE(sink.parts.size() == 2);
  CHECK(to_string(sink.parts[0]) == "abcde");
  CHECK(to_string(sink.parts[1]) == "xy");

  // Past kMaxSmallParts parts only full parts stream, so a blob still
  // fits in S3's 10,000.
  BlobUpload many(100);
  many.stream_parts_from(1);
  RecordingSink lots;
  std::string one = "z";
  for (std::size_t i = 0; i < BlobUpload::kMaxSmallParts; ++i) {
    REQUIRE(many.can_stream(1));
    std::size_t p = 0;
    many.append_stream(1, reader_of(one, p), lots);
  }
  CHECK_FALSE(many.can_stream(1));
  CHECK_FALSE(many.can_stream(99));
  CHECK(many.can_stream(100));
}

TEST_CASE("BlobUpload: an exact multiple of part_size sends no empty last part; an empty blob sends one") {
  {
    BlobUpload up(4);
    RecordingSink sink;
    up.append(as_bytes(std::string_view("12345678")), sink);
    up.finish(sink);
    CHECK(sink.parts.size() == 2);
  }
  {
    BlobUpload up(4);
    RecordingSink sink;
    up.finish(sink);
    REQUIRE(sink.parts.size() == 1);
    CHECK(sink.parts[0].empty());
  }
}

TEST_CASE("BlobUpload: a chunk of at least a part streams straight through as one part") {
  BlobUpload up(4);
  RecordingSink sink;
  CHECK_FALSE(up.can_stream(3));  // smaller than a part: buffered
  CHECK(up.can_stream(10));
  std::string first = "0123456789";
  std::size_t pos = 0;
  up.append_stream(first.size(), reader_of(first, pos), sink);
  CHECK(up.offset() == 10);
  up.append(as_bytes(std::string_view("ab")), sink);  // then buffered as usual
  CHECK_FALSE(up.can_stream(10));                     // something is buffered
  up.finish(sink);
  REQUIRE(sink.parts.size() == 2);
  CHECK(to_string(sink.parts[0]) == first);
  CHECK(to_string(sink.parts[1]) == "ab");
  CHECK(up.parts()[0].size == 10);

  // A body that ends before its Content-Length is a SIZE_INVALID.
  BlobUpload short_up(4);
  std::string truncated = "01234";
  std::size_t p2 = 0;
  CHECK(code_of([&] { short_up.append_stream(8, reader_of(truncated, p2), sink); }) ==
        oci::ErrorCode::kSizeInvalid);
}

TEST_CASE("BlobUpload: a sink failure propagates") {
  BlobUpload up(2);
  FailingSink sink;
  CHECK_THROWS_AS(up.append(as_bytes(std::string_view("abc")), sink), Error);
}

TEST_CASE("scopes: parsing, DIDs with colons, several per parameter") {
  auto s = parse_scope("repository:alice.test/app:pull,push");
  REQUIRE(s);
  CHECK(s->type == "repository");
  CHECK(s->name == "alice.test/app");
  CHECK(s->actions == std::vector<std::string>{"pull", "push"});

  auto did = parse_scope("repository:did:plc:abcdefghijklmnopqrstuvwx/team/app:pull");
  REQUIRE(did);
  CHECK(did->name == "did:plc:abcdefghijklmnopqrstuvwx/team/app");
  CHECK(did->actions == std::vector<std::string>{"pull"});

  CHECK(parse_scope("registry:catalog:*")->actions == std::vector<std::string>{"*"});
  CHECK(parse_scope("repository:a/b:pull,pull")->actions.size() == 1);
  for (const char* bad : {"", "repository", "repository:a/b", "repository::pull", ":a:pull", "repository:a/b:",
                          "repository:a/b:pu ll", "repository:a/b:pull,,push", "repository:a/b:PULL"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_scope(bad));
  }
  auto all = parse_scopes({"repository:a.test/x:pull repository:a.test/y:push", "bogus", "repository:b.test/z:pull"});
  REQUIRE(all.size() == 3);
  CHECK(all[1].name == "a.test/y");
  CHECK(format_scope(all[0]) == "repository:a.test/x:pull");
}

TEST_CASE("the Bearer challenge") {
  CHECK(bearer_challenge("http://127.0.0.1:5000/auth/token", "127.0.0.1:5000", "repository:a.test/b:pull,push") ==
        R"(Bearer realm="http://127.0.0.1:5000/auth/token",service="127.0.0.1:5000",scope="repository:a.test/b:pull,push")");
  CHECK(bearer_challenge("https://r.example/auth/token", "r.example", "") ==
        R"(Bearer realm="https://r.example/auth/token",service="r.example")");
  CHECK(bearer_challenge("r", "s", "x", true).ends_with(R"(,error="insufficient_scope")"));
}

TEST_CASE("registry tokens: mint, verify, and everything that must fail") {
  std::int64_t now = 1'700'000'000;
  auto clock = [&] { return now; };
  PrivateKey key = PrivateKey::generate(KeyType::kP256);
  RegistryTokenIssuer issuer(key, "http://127.0.0.1:5000", "127.0.0.1:5000", clock);
  std::vector<AccessEntry> access{{"repository", "alice.test/app", {"pull", "push"}},
                                  {"repository", "bob.test/lib", {"pull"}}};
  std::string token = issuer.mint("did:plc:alice", access, std::chrono::minutes(15));

  RegistryClaims c = issuer.verify(token);
  CHECK(c.subject == "did:plc:alice");
  CHECK(c.audience == "127.0.0.1:5000");
  CHECK(c.issuer == "http://127.0.0.1:5000");
  CHECK(c.expires_at == now + 900);
  CHECK(c.access == access);
  CHECK(c.allows("alice.test/app", "push"));
  CHECK(c.allows("bob.test/lib", "pull"));
  CHECK_FALSE(c.allows("bob.test/lib", "push"));
  CHECK_FALSE(c.allows("carol.test/x", "pull"));
  CHECK_FALSE(c.anonymous());

  CHECK(issuer.verify(issuer.mint("", {}, std::chrono::minutes(1))).anonymous());
  // Verified again (from the memo of good tokens): the same claims.
  CHECK(issuer.verify(token).access == access);
  CHECK(issuer.verify(token).expires_at == c.expires_at);

  SUBCASE("expired (beyond 30 s of skew), also when verified before") {
    now += 900 + 29;
    CHECK_NOTHROW(issuer.verify(token));
    now += 2;
    CHECK_THROWS_AS(issuer.verify(token), TokenError);
    CHECK_THROWS_AS(issuer.verify(token), TokenError);
  }
  SUBCASE("the memo stays bounded and keeps answering") {
    for (int i = 0; i < 4200; ++i)
      issuer.verify(issuer.mint("did:plc:x" + std::to_string(i), {}, std::chrono::minutes(5)));
    CHECK(issuer.verify(token).subject == "did:plc:alice");
  }
  SUBCASE("another key, another service, another issuer") {
    RegistryTokenIssuer other_key(PrivateKey::generate(KeyType::kP256), "http://127.0.0.1:5000", "127.0.0.1:5000", clock);
    CHECK_THROWS_AS(other_key.verify(token), TokenError);
    RegistryTokenIssuer other_service(key, "http://127.0.0.1:5000", "elsewhere", clock);
    CHECK_THROWS_AS(other_service.verify(token), TokenError);
    RegistryTokenIssuer other_issuer(key, "https://evil", "127.0.0.1:5000", clock);
    CHECK_THROWS_AS(other_issuer.verify(token), TokenError);
  }
  SUBCASE("tampering and garbage") {
    auto dot1 = token.find('.');
    auto dot2 = token.find('.', dot1 + 1);
    std::string payload = to_string(base64::decode_url(token.substr(dot1 + 1, dot2 - dot1 - 1)));
    auto pos = payload.find("\"pull\"]");
    REQUIRE(pos != std::string::npos);
    payload.replace(pos, 7, "\"push\"]");
    std::string forged = token.substr(0, dot1 + 1) + base64::encode_url(as_bytes(payload)) + token.substr(dot2);
    CHECK_THROWS_AS(issuer.verify(forged), TokenError);
    // alg "none" with the signature stripped.
    std::string none = base64::encode_url(as_bytes(std::string_view(R"({"alg":"none","typ":"JWT"})")));
    CHECK_THROWS_AS(issuer.verify(none + token.substr(dot1, dot2 - dot1) + "."), TokenError);
    for (const char* bad : {"", "a", "a.b", "a.b.c", "....", "eyJ.eyJ.xx"}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(issuer.verify(bad), TokenError);
    }
    CHECK_THROWS_AS(issuer.verify(std::string(20000, 'a')), TokenError);
  }
  CHECK_THROWS_AS(RegistryTokenIssuer(PrivateKey::generate(KeyType::kSecp256k1), "i", "s"), ParseError);
}

TEST_CASE("pagination: sorted, n and last, Link") {
  std::vector<std::string> tags{"v2", "latest", "v1", "alpha", "v10", "v1"};
  Page all = paginate(tags, std::nullopt, "");
  CHECK(all.items == std::vector<std::string>{"alpha", "latest", "v1", "v10", "v2"});
  CHECK_FALSE(all.more);

  Page first = paginate(tags, 2, "");
  CHECK(first.items == std::vector<std::string>{"alpha", "latest"});
  CHECK(first.more);
  Page second = paginate(tags, 2, first.items.back());
  CHECK(second.items == std::vector<std::string>{"v1", "v10"});
  CHECK(second.more);
  Page third = paginate(tags, 2, second.items.back());
  CHECK(third.items == std::vector<std::string>{"v2"});
  CHECK_FALSE(third.more);
  CHECK(paginate(tags, 0, "").items.empty());
  CHECK(paginate(tags, 5, "zzz").items.empty());
  CHECK(paginate(tags, 5, "b").items.front() == "latest");  // `last` need not be an item

  CHECK(next_link("/v2/a.test/b/tags/list", 2, "v1.0+x") == "</v2/a.test/b/tags/list?n=2&last=v1.0%2Bx>; rel=\"next\"");

  CHECK_FALSE(parse_page_size(std::nullopt));
  CHECK(*parse_page_size(std::string("10")) == 10);
  CHECK(*parse_page_size(std::string("99999999999999999999999")) == kMaxPageSize);
  for (const char* bad : {"", "-1", "ten", "1.5", " 1"}) {
    CAPTURE(bad);
    CHECK(code_of([&] { parse_page_size(std::string(bad)); }) == oci::ErrorCode::kPaginationNumberInvalid);
  }
}

TEST_CASE("configuration: defaults, the one required key, env over file") {
  test::TempDir dir("atcr-appview-config");
  std::map<std::string, std::string> env;
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  CHECK_THROWS_AS(AppviewConfig::load(std::nullopt, lookup), ConfigError);

  env["ATCR_DEFAULT_HOLD_DID"] = "did:web:hold.example.com";
  AppviewConfig c = AppviewConfig::load(std::nullopt, lookup);
  CHECK(c.server.default_hold_did == "did:web:hold.example.com");
  CHECK(c.server.host == "127.0.0.1");
  CHECK(c.server.port == 5000);
  CHECK(c.server.public_url == "http://127.0.0.1:5000");
  CHECK(c.server.service == "127.0.0.1:5000");
  CHECK(c.auth.token_lifetime == std::chrono::minutes(15));
  CHECK(c.uploads.part_size == (16u << 20));

  std::string file = (dir / "appview.toml").string();
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    std::fputs("[server]\nport = 5001\npublic_url = \"https://registry.example/\"\n[auth]\ntoken_lifetime = \"5m\"\n", f);
    std::fclose(f);
  }
  env["ATCR_SERVER_PORT"] = "6000";
  c = AppviewConfig::load(file, lookup);
  CHECK(c.server.port == 6000);  // env over file
  CHECK(c.server.public_url == "https://registry.example");
  CHECK(c.server.service == "registry.example");
  CHECK(c.auth.token_lifetime == std::chrono::minutes(5));

  env["ATCR_SERVER_PUBLIC_URL"] = "https://registry.example/path";
  CHECK_THROWS_AS(AppviewConfig::load(std::nullopt, lookup), ConfigError);
  env.erase("ATCR_SERVER_PUBLIC_URL");
  env["ATCR_UPLOADS_PART_SIZE"] = "1MiB";
  CHECK_THROWS_AS(AppviewConfig::load(std::nullopt, lookup), ConfigError);
  env.erase("ATCR_UPLOADS_PART_SIZE");
  // The OAuth scope is configurable (ATCR's granular scopes), atproto required.
  env["ATCR_AUTH_OAUTH_SCOPE"] = "atproto repo:io.atcr.manifest blob:*/*";
  CHECK(AppviewConfig::load(std::nullopt, lookup).auth.oauth_scope == "atproto repo:io.atcr.manifest blob:*/*");
  env["ATCR_AUTH_OAUTH_SCOPE"] = "transition:generic";
  CHECK_THROWS_AS(AppviewConfig::load(std::nullopt, lookup), ConfigError);
  env.erase("ATCR_AUTH_OAUTH_SCOPE");
  CHECK(AppviewConfig::load(std::nullopt, lookup).auth.oauth_scope == "atproto transition:generic");
  env["ATCR_DEFAULT_HOLD_DID"] = "not-a-did";
  CHECK_THROWS_AS(AppviewConfig::load(std::nullopt, lookup), ConfigError);

  std::string tmpl = AppviewConfig::template_toml();
  CHECK(tmpl.find("default_hold_did") != std::string::npos);
  CHECK(tmpl.find("ATCR_DEFAULT_HOLD_DID") != std::string::npos);
}

TEST_CASE("appview config: one source of defaults (a config built in code equals one loaded from an empty file)") {
  test::TempDir dir("atcr-appview-config");
  std::string file = (dir / "appview.toml").string();
  std::fclose(std::fopen(file.c_str(), "w"));
  auto lookup = [](const std::string& name) -> std::optional<std::string> {
    if (name == "ATCR_DEFAULT_HOLD_DID") return "did:web:hold.example.com";
    return std::nullopt;
  };
  AppviewConfig built;
  built.server.default_hold_did = "did:web:hold.example.com";
  built.server.service = built.service_name();  // load() and the Appview fill it in
  // Every setting, the keys added since included (operator== compares them all).
  CHECK(built == AppviewConfig::load(file, lookup));
  CHECK(built == AppviewConfig::load(std::nullopt, lookup));
  CHECK_NOTHROW(built.validate());
  AppviewConfig bad = built;
  bad.metrics.addr = "9100";
  CHECK_THROWS_AS(bad.validate(), ConfigError);
}

namespace {

AppviewConfig load_env_only(const std::map<std::string, std::string>& env,
                            const std::optional<std::filesystem::path>& file = std::nullopt) {
  std::vector<std::string> names;
  for (const auto& [name, value] : env) names.push_back(name);
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  return AppviewConfig::load(file, lookup, names);
}


}  // namespace

TEST_CASE("appview config: an ATCR .env.appview runs unchanged, as our own names would") {
  AppviewConfig a = load_env_only({
      {"ATCR_DEFAULT_HOLD_DID", "did:web:hold.example.com"},
      {"ATCR_HTTP_ADDR", "127.0.0.1:5123"},
      {"ATCR_SERVER_BASE_URL", "https://registry.example"},
      {"ATCR_SERVICE_NAME", "registry.example"},
      {"ATCR_TOKEN_EXPIRATION", "300"},
      {"ATCR_UI_ENABLED", "true"},
      {"ATCR_UI_DATABASE_PATH", "/var/lib/atcr/ui.db"},
      {"ATCR_JETSTREAM_BACKFILL_ENABLED", "false"},
      {"ATCR_RELAY_ENDPOINT", "https://relay.example.com"},
      {"JETSTREAM_URL", "wss://jetstream2.us-west.bsky.network/subscribe"},
  });
  AppviewConfig b = load_env_only({
      {"ATCR_SERVER_DEFAULT_HOLD_DID", "did:web:hold.example.com"},
      {"ATCR_SERVER_HOST", "127.0.0.1"},
      {"ATCR_SERVER_PORT", "5123"},
      {"ATCR_SERVER_PUBLIC_URL", "https://registry.example"},
      {"ATCR_SERVER_SERVICE", "registry.example"},
      {"ATCR_AUTH_TOKEN_LIFETIME", "5m"},
  });
  CHECK(a.server.default_hold_did == b.server.default_hold_did);
  CHECK(a.server.host == b.server.host);
  CHECK(a.server.port == b.server.port);
  CHECK(a.server.public_url == b.server.public_url);
  CHECK(a.server.service == b.server.service);
  CHECK(a.auth.token_lifetime == b.auth.token_lifetime);
  CHECK(b.warnings.empty());
  // What atcr does not implement is accepted and said once, not dropped silently.
  CHECK(warned(a, "$ATCR_UI_ENABLED (ui.*) is an ATCR setting atcr recognises but does not use yet"));
  CHECK(warned(a, "$ATCR_UI_DATABASE_PATH (ui.*)"));
  CHECK(warned(a, "$JETSTREAM_URL"));
  CHECK(a.warnings.size() == 3);
  // ATCR's relay and backfill settings drive the network index.
  CHECK(a.index.relays == std::vector<std::string>{"https://relay.example.com"});
  CHECK_FALSE(a.index.backfill);
}

TEST_CASE("appview config: ATCR's file keys, precedence, unknown ATCR_* names and the project's own variables") {
  test::TempDir dir("atcr-appview-config-alias");
  auto file = dir / "appview.toml";
  std::ofstream(file) << "[server]\ndefault_hold_did = \"did:web:hold.example.com\"\naddr = \"127.0.0.1:5300\"\n"
                         "base_url = \"https://registry.example\"\n"
                         "[jetstream]\nurls = [\"wss://jetstream1.us-east.bsky.network/subscribe\"]\n"
                         "[health]\ncheck_interval = \"15m\"\n";
  AppviewConfig c = load_env_only({}, file);
  CHECK(c.server.port == 5300);
  CHECK(c.server.public_url == "https://registry.example");
  CHECK(warned(c, "jetstream.* is an ATCR setting"));
  CHECK(warned(c, "health.* is an ATCR setting"));

  c = load_env_only({{"ATCR_SERVER_PUBLIC_URL", "https://ours.example"},
                     {"ATCR_SERVER_BASE_URL", "https://theirs.example"},
                     {"ATCR_SERVER_PROT", "1"},
                     {"ATCR_TOTALLY_NEW", "1"},
                     // Set by the project's scripts and tests for themselves: never warned about.
                     {"ATCR_CACHE", "/root/.cache/atcr"}, {"ATCR_E2E_APPVIEW_PORT", "5106"},
                     {"ATCR_PDS_PORT", "2853"}, {"ATCR_HOLD_PORT", "8206"}, {"ATCR_BUILD", "build"},
                     {"ATCR_REGISTRY_DIR", "/tmp/reg"}, {"ATCR_NODE", "node"}},
                    file);
  CHECK(c.server.public_url == "https://ours.example");
  CHECK(warned(c, "both ATCR_SERVER_PUBLIC_URL and ATCR's ATCR_SERVER_BASE_URL are set; using ATCR_SERVER_PUBLIC_URL"));
  CHECK(warned(c, "unknown environment variable ATCR_SERVER_PROT (ignored); did you mean ATCR_SERVER_PORT?"));
  CHECK(warned(c, "unknown environment variable ATCR_TOTALLY_NEW (ignored)"));
  for (const auto& w : c.warnings) {
    CAPTURE(w);
    for (const char* tooling : {"ATCR_CACHE", "ATCR_E2E", "ATCR_PDS", "ATCR_HOLD", "ATCR_BUILD", "ATCR_REGISTRY",
                                "ATCR_NODE"})
      CHECK(w.find(tooling) == std::string::npos);
  }

  std::string tmpl = AppviewConfig::template_toml();
  CHECK(tmpl.find("server.base_url / $ATCR_SERVER_BASE_URL") != std::string::npos);
  CHECK(tmpl.find("$ATCR_HTTP_ADDR (host:port)") != std::string::npos);
  CHECK(tmpl.find("jetstream.*") != std::string::npos);
  CHECK(tmpl.find("ATCR_E2E_*") != std::string::npos);
}

TEST_CASE("upstream failures as OCI errors: a full hold is a 507 saying so, not a bad gateway") {
  auto full = from_upstream(xrpc::XrpcError(507, "InsufficientStorage", "the hold's storage is full: /srv/blobs"));
  CHECK(full.http_status() == 507);
  CHECK(full.code() == oci::ErrorCode::kUnavailable);
  CHECK(full.message().find("storage is full") != std::string::npos);
  CHECK(full.message().find("/srv") == std::string::npos);  // the hold's words (and paths) are not echoed
  CHECK(oci::error_body(full).find("\"code\":\"UNAVAILABLE\"") != std::string::npos);
  CHECK(from_upstream(xrpc::XrpcError(500, "InternalServerError", "x")).http_status() == 502);
  CHECK(from_upstream(xrpc::XrpcError(403, "Forbidden", "x")).code() == oci::ErrorCode::kDenied);
}

#include "hold/part_urls.h"

#include <fmt/core.h>

#include <fstream>
#include <sstream>

#include "atcr/crypto/hmac.h"
#include "atcr/crypto/random.h"
#include "atcr/encoding/base64.h"
#include "atcr/encoding/hex.h"
#include "atcr/error.h"
#include "atcr/net/http_client.h"
#include "util/private_file.h"

namespace atcr::hold {

namespace {

constexpr std::size_t kKeyBytes = 32;

Bytes load_or_create_key(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) {
    util::write_private_file(file, hex::encode(random_bytes(kKeyBytes)) + "\n");
  }
  util::check_private_file(file);
  std::ifstream in(file);
  std::string text;
  in >> text;
  Bytes key;
  try {
    key = hex::decode(text);
  } catch (const ParseError&) {
  }
  if (key.size() != kKeyBytes)
    throw StorageError(fmt::format("{} does not hold a {}-byte hex key", file.string(), kKeyBytes));
  return key;
}

}  // namespace

PartUrlSigner::PartUrlSigner(const std::filesystem::path& key_file) : key_(load_or_create_key(key_file)) {}

std::string PartUrlSigner::sign(std::string_view upload_id, int part, std::string_view did,
                                std::int64_t expires) const {
  // Newline-separated: none of the fields may contain one (ids and DIDs
  // cannot), so no two tuples share a message.
  std::string message = fmt::format("io.atcr.hold.uploadPart\n{}\n{}\n{}\n{}", upload_id, part, did, expires);
  Sha256Digest mac = hmac_sha256(key_, as_bytes(message));
  return base64::encode_url(BytesView(mac.data(), mac.size()));
}

std::string PartUrlSigner::query(std::string_view upload_id, int part, std::string_view did,
                                 std::int64_t expires) const {
  return fmt::format("uploadId={}&partNumber={}&did={}&expires={}&sig={}", net::url_encode(upload_id), part,
                     net::url_encode(did), expires, sign(upload_id, part, did, expires));
}

PartUrlSigner::Check PartUrlSigner::check(std::string_view upload_id, int part, std::string_view did,
                                          std::int64_t expires, std::string_view signature,
                                          std::int64_t now) const {
  if (upload_id.find('\n') != std::string_view::npos || did.find('\n') != std::string_view::npos)
    return Check::kBadSignature;
  if (!equal_constant_time(signature, sign(upload_id, part, did, expires))) return Check::kBadSignature;
  if (now > expires) return Check::kExpired;
  return Check::kValid;
}

}  // namespace atcr::hold

#include "atcr/s3/sigv4.h"

#include <algorithm>
#include <ctime>

#include "atcr/crypto/hmac.h"
#include "atcr/crypto/sha256.h"
#include "atcr/encoding/hex.h"
#include "atcr/error.h"
#include "atcr/net/http_client.h"
#include "util/text.h"

namespace atcr::s3 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

// Header values: trimmed, inner runs of spaces folded to one.
std::string canonical_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string canonical_query(const Params& query) {
  Params encoded;
  for (const auto& [k, v] : query) encoded.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

struct HeaderBlock {
  std::string canonical;  // "name:value\n" lines
  std::string signed_names;
};

HeaderBlock canonical_headers(const CanonicalRequest& r, const Params& extra) {
  Params all{{"host", r.host}};
  for (const auto& [k, v] : r.headers) all.emplace_back(util::ascii_lower(k), canonical_value(v));
  for (const auto& [k, v] : extra) all.emplace_back(util::ascii_lower(k), canonical_value(v));
  std::sort(all.begin(), all.end());
  HeaderBlock out;
  for (const auto& [k, v] : all) {
    out.canonical += k + ":" + v + "\n";
    if (!out.signed_names.empty()) out.signed_names += ';';
    out.signed_names += k;
  }
  return out;
}

std::string sha256_hex(std::string_view s) { return hex::encode(sha256(as_bytes(s))); }

std::string scope_of(const std::string& date, const SigningContext& ctx) {
  return date.substr(0, 8) + "/" + ctx.region + "/" + ctx.service + "/aws4_request";
}

std::string signature(const SigningContext& ctx, const std::string& date, const std::string& canonical_request) {
  std::string to_sign = std::string(kAlgorithm) + "\n" + date + "\n" + scope_of(date, ctx) + "\n" +
                        sha256_hex(canonical_request);
  auto k = hmac_sha256(as_bytes("AWS4" + ctx.credentials.secret_access_key), as_bytes(date.substr(0, 8)));
  k = hmac_sha256(k, as_bytes(ctx.region));
  k = hmac_sha256(k, as_bytes(ctx.service));
  k = hmac_sha256(k, as_bytes("aws4_request"));
  return hex::encode(hmac_sha256(k, as_bytes(to_sign)));
}

std::string canonical_request(const CanonicalRequest& r, const std::string& query, const HeaderBlock& headers) {
  return r.method + "\n" + uri_encode(r.path, true) + "\n" + query + "\n" + headers.canonical + "\n" +
         headers.signed_names + "\n" + r.payload_sha256;
}

void check(const CanonicalRequest& r, const SigningContext& ctx) {
  if (r.path.empty() || r.path[0] != '/') throw Error("sigv4: path must start with '/'");
  if (ctx.credentials.access_key_id.empty() || ctx.credentials.secret_access_key.empty())
    throw Error("sigv4: missing credentials");
}

}  // namespace

// SigV4's encoding is RFC 3986's (net::url_encode); paths keep their
// slashes, so each segment is encoded on its own.
std::string uri_encode(std::string_view text, bool keep_slash) {
  if (!keep_slash) return net::url_encode(text);
  std::string out;
  out.reserve(text.size());
  for (std::size_t start = 0;;) {
    std::size_t slash = text.find('/', start);
    out += net::url_encode(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return out;
    out += '/';
    start = slash + 1;
  }
}

std::string amz_date(TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Params sign_headers(const CanonicalRequest& r, const SigningContext& ctx, TimePoint now) {
  check(r, ctx);
  std::string date = amz_date(now);
  Params added{{"x-amz-content-sha256", r.payload_sha256}, {"x-amz-date", date}};
  if (!ctx.credentials.session_token.empty()) added.emplace_back("x-amz-security-token", ctx.credentials.session_token);
  HeaderBlock headers = canonical_headers(r, added);
  std::string sig = signature(ctx, date, canonical_request(r, canonical_query(r.query), headers));
  added.emplace_back("authorization", std::string(kAlgorithm) + " Credential=" + ctx.credentials.access_key_id + "/" +
                                          scope_of(date, ctx) + ",SignedHeaders=" + headers.signed_names +
                                          ",Signature=" + sig);
  return added;
}

std::string presign_query(const CanonicalRequest& r, const SigningContext& ctx, TimePoint now,
                          std::chrono::seconds expires) {
  check(r, ctx);
  if (expires.count() < 1 || expires.count() > 7 * 24 * 3600)
    throw Error("sigv4: presigned URL lifetime must be between 1 second and 7 days");
  std::string date = amz_date(now);
  HeaderBlock headers = canonical_headers(r, {});
  Params query = r.query;
  query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  query.emplace_back("X-Amz-Credential", ctx.credentials.access_key_id + "/" + scope_of(date, ctx));
  query.emplace_back("X-Amz-Date", date);
  query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
  if (!ctx.credentials.session_token.empty()) query.emplace_back("X-Amz-Security-Token", ctx.credentials.session_token);
  query.emplace_back("X-Amz-SignedHeaders", headers.signed_names);
  std::string canonical = canonical_query(query);
  std::string sig = signature(ctx, date, canonical_request(r, canonical, headers));
  return canonical + "&X-Amz-Signature=" + sig;
}

}  // namespace atcr::s3

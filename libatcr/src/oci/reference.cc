#include "atcr/oci/reference.h"

#include <fmt/core.h>

#include "atcr/data/syntax.h"
#include "atcr/error.h"
#include "atcr/oci/errors.h"

namespace atcr::oci {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// For messages: the input quoted and truncated, with control and
// non-ASCII bytes shown as '?' so hostile names cannot put control bytes
// into logs or invalid UTF-8 into error bodies.
std::string shown(std::string_view s) {
  std::string out(s.substr(0, 140));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return "'" + out + "'";
}

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool path_component(std::string_view c) {
  std::size_t i = 0;
  while (true) {
    std::size_t run = i;
    while (i < c.size() && lower_alnum(c[i])) ++i;
    if (i == run) return false;  // every separator sits between alphanumerics
    if (i == c.size()) return true;
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      i += (i + 1 < c.size() && c[i + 1] == '_') ? 2 : 1;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
  }
}

[[noreturn]] void name_invalid(std::string message) {
  throw RegistryError(ErrorCode::kNameInvalid, std::move(message));
}

bool plc_identifier(std::string_view id) {
  if (id.size() != 24) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  return true;
}

// did:web's method-specific id limited to a lowercase host and an optional
// "%3A<port>". Returns the normalised id or "" when refused.
std::string web_identifier(std::string_view id) {
  std::string_view host = id;
  std::string_view port;
  auto pct = id.find('%');
  if (pct != std::string_view::npos) {
    std::string_view escape = id.substr(pct, 3);
    if (escape != "%3A" && escape != "%3a") return {};
    host = id.substr(0, pct);
    port = id.substr(pct + 3);
    if (port.empty() || port.size() > 5) return {};
    for (char c : port)
      if (c < '0' || c > '9') return {};
  }
  if (host.empty() || host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos)
    return {};
  for (char c : host)
    if (!lower_alnum(c) && c != '.' && c != '-') return {};
  return port.empty() ? std::string(host) : fmt::format("{}%3A{}", host, port);
}

}  // namespace

bool is_valid_repository(std::string_view repository) noexcept {
  if (repository.empty() || repository.size() > kMaxRepositoryLength) return false;
  std::size_t start = 0;
  while (true) {
    auto slash = repository.find('/', start);
    std::string_view part = repository.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!path_component(part)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

void validate_repository(std::string_view repository) {
  if (repository.empty()) name_invalid("repository name is empty");
  if (repository.size() > kMaxRepositoryLength)
    name_invalid(fmt::format("repository name is {} characters, over the limit of {}", repository.size(),
                             kMaxRepositoryLength));
  if (!is_valid_repository(repository))
    name_invalid(fmt::format(
        "repository name {} must be lowercase path components of [a-z0-9] joined by '.', '_', '__' or '-', "
        "separated by '/'",
        shown(repository)));
}

bool is_valid_tag(std::string_view tag) noexcept {
  if (tag.empty() || tag.size() > kMaxTagLength) return false;
  auto word = [](char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!word(tag[0])) return false;
  for (char c : tag.substr(1))
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

void validate_tag(std::string_view tag) {
  if (!is_valid_tag(tag))
    throw RegistryError(ErrorCode::kTagInvalid,
                        fmt::format("tag {} must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}", shown(tag)));
}

Reference Reference::parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    try {
      return Reference(Digest::parse(text));
    } catch (const ParseError& e) {
      throw RegistryError(ErrorCode::kDigestInvalid, e.what());
    }
  }
  if (!is_valid_tag(text))
    throw RegistryError(ErrorCode::kManifestInvalid, fmt::format("reference {} is neither a tag nor a digest", shown(text)));
  return Reference(std::string(text));
}

Reference Reference::tag(std::string_view tag) {
  validate_tag(tag);
  return Reference(std::string(tag));
}

const std::string& Reference::tag_name() const {
  if (!is_tag()) throw Error("reference: " + digest_->str() + " is a digest, not a tag");
  return tag_;
}

const Digest& Reference::digest_value() const {
  if (!is_digest()) throw Error("reference: '" + tag_ + "' is a tag, not a digest");
  return *digest_;
}

std::string Reference::str() const { return is_digest() ? digest_->str() : tag_; }

std::string normalize_identity(std::string_view identity) {
  if (identity.starts_with("did:")) {
    if (identity.starts_with("did:plc:") && plc_identifier(identity.substr(8))) return std::string(identity);
    if (identity.starts_with("did:web:")) {
      std::string id = web_identifier(identity.substr(8));
      if (!id.empty()) return "did:web:" + id;
    }
    name_invalid(fmt::format("identity {} must be did:plc:<24 base32 chars> or did:web:<lowercase host>[%3A<port>]",
                             shown(identity)));
  }
  if (!syntax::is_valid_handle(identity))
    name_invalid(fmt::format("identity {} is neither a handle nor a DID", shown(identity)));
  return syntax::normalize_handle(identity);
}

ImageName ImageName::parse(std::string_view name) {
  auto slash = name.find('/');
  if (slash == std::string_view::npos)
    name_invalid(fmt::format("image name {} must be <handle-or-DID>/<repository>", shown(name)));
  // Checked before anything can echo or normalise it.
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\')
      name_invalid("image name contains control characters or a backslash");
  std::string identity = normalize_identity(name.substr(0, slash));
  std::string_view repository = name.substr(slash + 1);
  validate_repository(repository);
  return ImageName{std::move(identity), std::string(repository)};
}

}  // namespace atcr::oci

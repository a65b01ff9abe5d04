// Names and references in registry paths (distribution-spec "Pulling",
// "Pushing") and ATCR image names.
//
// Repository (the distribution-spec <name> grammar, at most 255 chars):
//   [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
// Tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
// Reference: a tag or a digest (digest.h).
//
// ATCR image names are "<identity>/<repository>" (atcr.io/alice.bsky.social/app,
// atcr.io/did:plc:abc.../app). The first path segment is the identity and is
// NOT held to the <name> grammar, which forbids ':' and so every DID; the
// rest must satisfy it. The identity is either
//  - a handle (atproto handle syntax), lowercased, or
//  - a DID: did:plc:<24 chars of [a-z2-7]>, or did:web:<host> in lowercase
//    whose only percent-escape is "%3A" (the port separator did:web
//    prescribes; "%3a" is accepted and written as "%3A"). Other methods,
//    uppercase and any other escape (%2F, %2E, ...) are refused.
// The parse works on the raw (not percent-decoded) path, and refuses what
// could make two spellings of one name or escape a path: empty and "."/".."
// segments, uppercase in the repository, NUL and other control bytes,
// '%' outside the did:web port escape, and backslashes.
//
// Failures are RegistryErrors: NAME_INVALID for names, TAG_INVALID for
// tags, MANIFEST_INVALID for a reference that is neither tag nor digest,
// DIGEST_INVALID for digests.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "atcr/oci/digest.h"

namespace atcr::oci {

inline constexpr std::size_t kMaxRepositoryLength = 255;
inline constexpr std::size_t kMaxTagLength = 128;

bool is_valid_repository(std::string_view repository) noexcept;
void validate_repository(std::string_view repository);  // throws NAME_INVALID
bool is_valid_tag(std::string_view tag) noexcept;
void validate_tag(std::string_view tag);                // throws TAG_INVALID

// A manifest reference: a tag or a digest.
class Reference {
 public:
  // Anything containing ':' is read as a digest (tags cannot contain one).
  // Throws RegistryError.
  static Reference parse(std::string_view text);
  static Reference tag(std::string_view tag);  // validated
  static Reference digest(Digest digest) { return Reference(std::move(digest)); }

  bool is_tag() const noexcept { return !digest_.has_value(); }
  bool is_digest() const noexcept { return digest_.has_value(); }
  const std::string& tag_name() const;  // throws unless is_tag()
  const Digest& digest_value() const;   // throws unless is_digest()
  std::string str() const;

  friend bool operator==(const Reference&, const Reference&) = default;

 private:
  explicit Reference(std::string tag) : tag_(std::move(tag)) {}
  explicit Reference(Digest digest) : digest_(std::move(digest)) {}
  std::string tag_;
  std::optional<Digest> digest_;
};

// "<identity>/<repository>".
struct ImageName {
  std::string identity;    // lowercased handle or DID, as described above
  std::string repository;  // satisfies the <name> grammar
  bool identity_is_did() const noexcept { return identity.starts_with("did:"); }
  std::string str() const { return identity + "/" + repository; }

  // Throws RegistryError(NAME_INVALID) naming what is wrong.
  static ImageName parse(std::string_view name);
  friend bool operator==(const ImageName&, const ImageName&) = default;
};

// The identity rules above, alone: returns the normalised identity
// (lowercased handle, "%3A" spelled uppercase) or throws NAME_INVALID.
std::string normalize_identity(std::string_view identity);

}  // namespace atcr::oci

// ATCR records as a user's PDS holds them, for index and ingestion tests.
#pragma once

#include <string>

#include "atcr/data/value.h"
#include "atcr/oci/digest.h"

namespace atcr::test {

// A distinct sha256 digest per seed.
inline std::string digest_of(const std::string& seed) { return oci::Digest::of(std::string_view(seed)).str(); }

inline Value descriptor_value(const std::string& media_type, const std::string& digest, std::int64_t size) {
  return Value(Value::Map{{"mediaType", Value(media_type)}, {"digest", Value(digest)}, {"size", Value(size)}});
}

// io.atcr.manifest of an image (config of 100 bytes, one layer) whose
// digest is digest_of(seed), on hold did:web:hold.example.com.
inline Value manifest_value(const std::string& repository, const std::string& seed,
                            const std::string& created = "2026-12-03T07:00:00.000Z", std::int64_t layer_size = 1000,
                            const std::string& description = "", const std::string& hold = "did:web:hold.example.com") {
  Value::Map m{{"$type", Value("io.atcr.manifest")},
               {"repository", Value(repository)},
               {"digest", Value(digest_of(seed))},
               {"mediaType", Value("application/vnd.oci.image.manifest.v1+json")},
               {"schemaVersion", Value(2)},
               {"createdAt", Value(created)},
               {"holdDid", Value(hold)},
               {"config", descriptor_value("application/vnd.oci.image.config.v1+json", digest_of(seed + "c"), 100)},
               {"layers", Value(Value::Array{descriptor_value("application/vnd.oci.image.layer.v1.tar+gzip",
                                                              digest_of(seed + "l"), layer_size)})}};
  if (!description.empty())
    m.emplace("annotations", Value(Value::Map{{"org.opencontainers.image.description", Value(description)}}));
  return Value(std::move(m));
}

// io.atcr.tag pointing at at://<did>/io.atcr.manifest/<manifest_rkey>.
inline Value tag_value(const std::string& did, const std::string& repository, const std::string& tag,
                       const std::string& manifest_rkey, const std::string& updated = "2026-12-03T07:00:00.000Z") {
  return Value(Value::Map{{"$type", Value("io.atcr.tag")},
                          {"repository", Value(repository)},
                          {"tag", Value(tag)},
                          {"manifest", Value("at://" + did + "/io.atcr.manifest/" + manifest_rkey)},
                          {"updatedAt", Value(updated)}});
}

}  // namespace atcr::test

// Internal: what an EmbeddedPds remembers between boots besides its keys
// and databases (data_dir/identity.json): its DID, what identity it last
// announced on the firehose, and for did:plc the genesis operation.
#pragma once

#include <filesystem>
#include <string>

namespace atcr::pds {

struct PdsState {
  std::string did;
  std::string announced_handle;  // handle of the last #identity event
  std::string announced_key;     // signing did:key at the last #identity event
  bool account_announced = false;
  std::string plc_genesis;  // the signed genesis op as JSON ("" if not ours)

  // An empty state if the file does not exist. Throws ParseError for a
  // malformed file, StorageError if it cannot be read.
  static PdsState load(const std::filesystem::path& path);
  // Atomically: a temporary file, fsync, rename over the old one.
  void save(const std::filesystem::path& path) const;
};

}  // namespace atcr::pds

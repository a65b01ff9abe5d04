// Reading image layers (tar, optionally gzip / zstd / xz / bzip2
// compressed) for the few files a scanner needs, in memory.
//
// Layers are hostile input: whoever pushes an image chooses their bytes.
// So this reader
//   - never writes to disk and never follows links: symlinks, hardlinks and
//     devices are ignored, only regular files are read;
//   - normalises every path and drops those that escape ("../x", "a/../../x")
//     or are absurd (NUL, over 4096 bytes); absolute paths are read relative
//     to the image root, as a container runtime would;
//   - bounds everything: unpacked bytes and entries per layer (a tar or
//     gzip bomb fails with LimitError after max_unpacked_bytes of work, not
//     after exhausting memory or time), the size of each kept file (larger
//     ones are skipped, noted), and the bytes and count of files kept in all.
// Compression filters are libarchive's built-in ones only (no external
// programs).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "atcr/bytes.h"
#include "atcr/error.h"

namespace atcr::scan {

// A layer (or database archive) exceeded one of its limits.
class LimitError : public Error {
 public:
  using Error::Error;
};

struct LayerLimits {
  std::uint64_t max_unpacked_bytes = 8ULL << 30;  // per layer, all entries' data
  std::uint64_t max_entries = 1'000'000;          // per layer
  std::uint64_t max_file_bytes = 32ULL << 20;     // one kept file
  std::uint64_t max_kept_bytes = 512ULL << 20;    // all kept files of an image
  std::size_t max_kept_files = 100'000;
};

// "var/lib/dpkg/status" for "./var/lib/dpkg/status" or "/var//lib/dpkg/status/";
// nullopt for a path that leaves the root, is empty or absurd.
std::optional<std::string> clean_path(std::string_view path);

// Reads up to buffer.size() bytes; 0 at the end. May throw.
using ReadFn = std::function<std::size_t(std::span<std::uint8_t> buffer)>;

// The image's filesystem as far as the scanner cares: the files `wanted`
// chooses, after each layer's whiteouts (".wh.<name>" removes a lower
// layer's <name>, ".wh..wh..opq" empties a directory of lower layers).
class ImageFiles {
 public:
  using Wanted = std::function<bool(std::string_view path)>;
  explicit ImageFiles(Wanted wanted, LayerLimits limits = {});

  // Applies one layer on top of those applied before (the manifest's order,
  // bottom first). Throws ParseError for a malformed archive and LimitError
  // past a limit; the files of earlier layers stay.
  void apply_layer(const ReadFn& read);
  void apply_layer(BytesView layer);

  // Kept files by path, as of the layers applied.
  const std::map<std::string, std::string>& files() const { return files_; }
  std::vector<std::pair<std::string, std::string>> file_list() const;
  // What was skipped and why ("usr/lib/x/METADATA: 40000000 bytes, over the 33554432-byte limit").
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  Wanted wanted_;
  LayerLimits limits_;
  std::map<std::string, std::string> files_;
  std::uint64_t kept_bytes_ = 0;
  std::vector<std::string> notes_;
};

// Every regular file of an archive (any format libarchive reads with its
// built-in filters: tar, zip, ...) that `wanted` chooses, read whole in
// memory within `limits` (max_file_bytes each; larger ones skipped), for
// operator-supplied data such as a vulnerability database zip. Calls
// visit(path, content) for each.
void read_archive_files(const ReadFn& read, const LayerLimits& limits, const ImageFiles::Wanted& wanted,
                        const std::function<void(const std::string& path, std::string content)>& visit);

// A ReadFn over bytes in memory.
ReadFn memory_reader(BytesView data);

}  // namespace atcr::scan

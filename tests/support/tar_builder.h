// Builds tar archives (optionally gzip-compressed) in memory with
// libarchive's writer, for tests and fuzz seeds that need layers, including
// hostile ones: libarchive writes whatever path or link it is given.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "atcr/bytes.h"

namespace atcr::test {

struct TarEntry {
  enum Type { kFile, kDir, kSymlink, kHardlink } type = kFile;
  std::string path{};
  std::string content{};  // kFile
  std::string link{};     // kSymlink / kHardlink target
  std::size_t zeros = 0;  // kFile: this many zero bytes after content (bombs)
};

inline Bytes make_tar(const std::vector<TarEntry>& entries, bool gzip = false) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  std::vector<std::uint8_t> buffer(16 << 20);
  std::size_t used = 0;
  if (archive_write_open_memory(a, buffer.data(), buffer.size(), &used) != ARCHIVE_OK)
    throw std::runtime_error("archive_write_open_memory");
  std::string zero_chunk(64 * 1024, '\0');
  for (const TarEntry& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_perm(e, 0644);
    switch (t.type) {
      case TarEntry::kFile:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(t.content.size() + t.zeros));
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, t.link.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, t.link.c_str());
        break;
    }
    if (archive_write_header(a, e) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
    if (t.type == TarEntry::kFile) {
      archive_write_data(a, t.content.data(), t.content.size());
      for (std::size_t left = t.zeros; left > 0;) {
        std::size_t n = std::min(left, zero_chunk.size());
        archive_write_data(a, zero_chunk.data(), n);
        left -= n;
      }
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(used));
}

}  // namespace atcr::test

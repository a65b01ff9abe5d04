// The layer reader on libarchive. Every entry's data is read (never
// skipped) in bounded chunks and counted, so a bomb costs at most
// max_unpacked_bytes of decompression, whatever its headers claim.
#include "atcr/scan/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/core.h>

#include <cstring>
#include <exception>
#include <memory>
#include <set>

namespace atcr::scan {

namespace {

constexpr std::size_t kMaxPath = 4096;
constexpr std::size_t kChunk = 64 * 1024;

enum class Format { kTar, kAny };

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

// The libarchive read callback over a ReadFn; an exception from it is kept
// and rethrown once libarchive has returned (it must not cross C frames).
struct Source {
  const ReadFn* read = nullptr;
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(kChunk);
  std::exception_ptr error;

  static la_ssize_t callback(archive*, void* self, const void** out) {
    auto* s = static_cast<Source*>(self);
    try {
      std::size_t n = (*s->read)(std::span<std::uint8_t>(s->buffer.data(), s->buffer.size()));
      *out = s->buffer.data();
      return static_cast<la_ssize_t>(n);
    } catch (...) {
      s->error = std::current_exception();
      return -1;
    }
  }
};

struct Entry {
  std::string raw_path;
  bool regular = false;
  std::int64_t size = 0;
};

// A new reader for `format` with the built-in decoders only: a filter
// libarchive would run as an external program (when built without its
// library) reports ARCHIVE_WARN and is not enabled at all.
std::unique_ptr<archive, ArchiveDeleter> new_reader(Format format) {
  std::unique_ptr<archive, ArchiveDeleter> a(archive_read_new());
  if (!a) throw Error("libarchive: out of memory");
  for (auto support : {archive_read_support_filter_gzip, archive_read_support_filter_zstd,
                       archive_read_support_filter_xz, archive_read_support_filter_bzip2}) {
    std::unique_ptr<archive, ArchiveDeleter> probe(archive_read_new());
    if (support(probe.get()) == ARCHIVE_OK) support(a.get());
  }
  archive_read_support_format_tar(a.get());
  if (format == Format::kAny) archive_read_support_format_zip_streamable(a.get());
  return a;
}

// One pass over an archive, entry by entry, within the limits: every
// entry's data is read and counted, kept only when wanted.
class ArchiveWalk {
 public:
  ArchiveWalk(const ReadFn& read, Format format, const LayerLimits& limits, std::vector<std::string>* notes)
      : limits_(limits), notes_(notes), a_(new_reader(format)) {
    source_.read = &read;
    if (archive_read_open(a_.get(), &source_, nullptr, &Source::callback, nullptr) != ARCHIVE_OK)
      fail("opening the archive");
  }

  // The next entry's header; nullopt at the end.
  std::optional<Entry> next() {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a_.get(), &e);
    if (r == ARCHIVE_EOF) return std::nullopt;
    if (r < ARCHIVE_WARN) fail("reading an entry header");
    if (++entries_ > limits_.max_entries) throw LimitError(fmt::format("more than {} entries", limits_.max_entries));
    Entry entry;
    const char* path = archive_entry_pathname(e);
    entry.raw_path = path ? path : "";
    entry.regular = archive_entry_filetype(e) == AE_IFREG && archive_entry_hardlink(e) == nullptr;
    entry.size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    return entry;
  }

  // Whether the entry's declared size is within max_file_bytes (noted when not).
  bool fits(const Entry& entry) {
    if (entry.size >= 0 && static_cast<std::uint64_t>(entry.size) <= limits_.max_file_bytes) return true;
    note(fmt::format("{}: {} bytes, over the {}-byte limit", clean_path(entry.raw_path).value_or("?"), entry.size,
                     limits_.max_file_bytes));
    return false;
  }

  // The current entry's data, read whole; returned only when `wanted` and
  // within max_file_bytes, whatever the header declared.
  std::optional<std::string> data(const Entry& entry, bool wanted) {
    std::string data;
    for (;;) {
      la_ssize_t n = archive_read_data(a_.get(), chunk_.data(), chunk_.size());
      if (n == 0) break;
      if (n < 0) {
        if (n == ARCHIVE_WARN) continue;
        fail("reading an entry's data");
      }
      unpacked_ += static_cast<std::uint64_t>(n);
      if (unpacked_ > limits_.max_unpacked_bytes)
        throw LimitError(fmt::format("more than {} bytes unpacked", limits_.max_unpacked_bytes));
      if (!wanted) continue;
      if (data.size() + static_cast<std::size_t>(n) > limits_.max_file_bytes) {
        // The header under-declared the size.
        note(fmt::format("{}: over the {}-byte limit", clean_path(entry.raw_path).value_or("?"),
                         limits_.max_file_bytes));
        wanted = false;
        data.clear();
        data.shrink_to_fit();
        continue;
      }
      data.append(chunk_.data(), static_cast<std::size_t>(n));
    }
    if (!wanted) return std::nullopt;
    return data;
  }

  // A failure of the source's read surfaces here at the latest.
  void finish() const {
    if (source_.error) std::rethrow_exception(source_.error);
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    finish();
    const char* why = archive_error_string(a_.get());
    throw ParseError(fmt::format("{}: {}", what, why ? why : "malformed archive"));
  }

  void note(std::string text) {
    if (notes_) notes_->push_back(std::move(text));
  }

  const LayerLimits& limits_;
  std::vector<std::string>* notes_;
  Source source_;  // outlives the reader that calls it
  std::unique_ptr<archive, ArchiveDeleter> a_;
  std::uint64_t entries_ = 0;
  std::uint64_t unpacked_ = 0;
  std::vector<char> chunk_ = std::vector<char>(kChunk);
};

// Walks the archive: for each entry, keep(entry) says whether its data is
// wanted (a regular file within max_file_bytes); got(entry, data) then
// receives it. Every entry's data is read and counted either way.
void walk(const ReadFn& read, Format format, const LayerLimits& limits, const std::function<bool(const Entry&)>& keep,
          const std::function<void(const Entry&, std::string)>& got, std::vector<std::string>* notes) {
  ArchiveWalk archive(read, format, limits, notes);
  while (std::optional<Entry> entry = archive.next()) {
    bool wanted = keep(*entry) && archive.fits(*entry);
    if (std::optional<std::string> data = archive.data(*entry, wanted)) got(*entry, std::move(*data));
  }
  archive.finish();
}

}  // namespace

std::optional<std::string> clean_path(std::string_view path) {
  if (path.empty() || path.size() > kMaxPath || path.find('\0') != std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    // A path that climbs at all is refused (even "a/../b": no runtime needs it).
    if (part == "..") return std::nullopt;
    parts.push_back(part);
  }
  if (parts.empty()) return std::nullopt;
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

ReadFn memory_reader(BytesView data) {
  return [data, offset = std::size_t{0}](std::span<std::uint8_t> buffer) mutable {
    std::size_t n = std::min(buffer.size(), data.size() - offset);
    std::memcpy(buffer.data(), data.data() + offset, n);
    offset += n;
    return n;
  };
}

ImageFiles::ImageFiles(Wanted wanted, LayerLimits limits) : wanted_(std::move(wanted)), limits_(limits) {}

void ImageFiles::apply_layer(BytesView layer) { apply_layer(memory_reader(layer)); }

void ImageFiles::apply_layer(const ReadFn& read) {
  std::map<std::string, std::string> added;
  std::set<std::string> removed;  // whiteouts, and kept paths replaced by a non-file
  std::set<std::string> opaque;   // directories whose lower contents go
  auto keep = [&](const Entry& e) {
    auto path = clean_path(e.raw_path);
    if (!path) return false;
    std::size_t slash = path->rfind('/');
    std::string dir = slash == std::string::npos ? "" : path->substr(0, slash);
    std::string_view base = std::string_view(*path).substr(slash == std::string::npos ? 0 : slash + 1);
    if (base == ".wh..wh..opq") {
      opaque.insert(dir);
      return false;
    }
    if (base.starts_with(".wh.")) {
      removed.insert((dir.empty() ? "" : dir + "/") + std::string(base.substr(4)));
      return false;
    }
    if (!e.regular) {
      if (files_.contains(*path)) removed.insert(*path);
      return false;
    }
    return wanted_(*path);
  };
  auto got = [&](const Entry& e, std::string data) { added[*clean_path(e.raw_path)] = std::move(data); };
  walk(read, Format::kTar, limits_, keep, got, &notes_);

  // Paths under "dir/" sort in ["dir/", "dir0"): '0' follows '/'.
  auto erase_range = [&](auto first, auto last) {
    for (auto it = first; it != last; ++it) kept_bytes_ -= it->second.size();
    files_.erase(first, last);
  };
  auto erase_under = [&](const std::string& dir) {
    if (dir.empty()) return erase_range(files_.begin(), files_.end());
    erase_range(files_.lower_bound(dir + "/"), files_.lower_bound(dir + "0"));
  };
  for (const std::string& r : removed) {
    if (auto it = files_.find(r); it != files_.end()) erase_range(it, std::next(it));
    erase_under(r);
  }
  for (const std::string& d : opaque) erase_under(d);
  for (auto& [path, data] : added) {
    if (auto old = files_.find(path); old != files_.end()) kept_bytes_ -= old->second.size();
    kept_bytes_ += data.size();
    files_[path] = std::move(data);
  }
  if (kept_bytes_ > limits_.max_kept_bytes)
    throw LimitError(fmt::format("the image's package databases exceed {} bytes", limits_.max_kept_bytes));
  if (files_.size() > limits_.max_kept_files)
    throw LimitError(fmt::format("the image has more than {} package databases", limits_.max_kept_files));
}

std::vector<std::pair<std::string, std::string>> ImageFiles::file_list() const {
  return {files_.begin(), files_.end()};
}

void read_archive_files(const ReadFn& read, const LayerLimits& limits, const ImageFiles::Wanted& wanted,
                        const std::function<void(const std::string& path, std::string content)>& visit) {
  std::uint64_t kept = 0;
  std::size_t count = 0;
  auto keep = [&](const Entry& e) {
    auto path = clean_path(e.raw_path);
    return e.regular && path && wanted(*path);
  };
  auto got = [&](const Entry& e, std::string data) {
    kept += data.size();
    if (kept > limits.max_kept_bytes || ++count > limits.max_kept_files)
      throw LimitError(
          fmt::format("the archive's files exceed {} bytes or {} files", limits.max_kept_bytes, limits.max_kept_files));
    visit(*clean_path(e.raw_path), std::move(data));
  };
  walk(read, Format::kAny, limits, keep, got, nullptr);
}

}  // namespace atcr::scan

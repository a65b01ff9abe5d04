// libFuzzer target: image layers and the package databases in them. The
// first input byte picks how the rest is read: as a layer (tar, any of the
// supported compressions) through ImageFiles, as an archive through
// read_archive_files (the OSV zip path), or as each database format
// directly. Reading may only throw ParseError or LimitError; whatever is
// kept has a clean path (no "..", no leading "/") within the size limits.
#include <cstdlib>
#include <string_view>

#include "atcr/error.h"
#include "atcr/scan/layer.h"
#include "atcr/scan/packages.h"

using namespace atcr;
using namespace atcr::scan;

namespace {

LayerLimits small_limits() {
  LayerLimits l;
  l.max_unpacked_bytes = 4 << 20;
  l.max_entries = 2000;
  l.max_file_bytes = 256 << 10;
  l.max_kept_bytes = 1 << 20;
  l.max_kept_files = 500;
  return l;
}

void check_path(const std::string& path) {
  if (clean_path(path) != path) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0] % 3;
  BytesView body(data + 1, size - 1);
  std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
  LayerLimits limits = small_limits();
  try {
    if (mode == 0) {
      ImageFiles files([](std::string_view p) { return database_kind(p).has_value() || p.size() < 4; }, limits);
      files.apply_layer(body);
      std::uint64_t total = 0;
      for (const auto& [path, content] : files.files()) {
        check_path(path);
        if (content.size() > limits.max_file_bytes) std::abort();
        total += content.size();
      }
      if (total > limits.max_kept_bytes) std::abort();
      (void)packages_in(files.file_list());
    } else if (mode == 1) {
      read_archive_files(
          memory_reader(body), limits, [](std::string_view) { return true; },
          [&](const std::string& path, std::string content) {
            check_path(path);
            if (content.size() > limits.max_file_bytes) std::abort();
          });
    } else {
      for (const Package& p : parse_dpkg_status(text, "var/lib/dpkg/status")) (void)p.purl();
      for (const Package& p : parse_apk_installed(text, "lib/apk/db/installed")) (void)p.purl();
      if (auto p = parse_python_metadata(text, "x.dist-info/METADATA")) (void)p->purl();
      if (auto p = parse_npm_package_json(text, "node_modules/x/package.json")) (void)p->purl();
      (void)clean_path(text);
      (void)database_kind(text);
    }
  } catch (const ParseError&) {
  } catch (const LimitError&) {
  }
  return 0;
}

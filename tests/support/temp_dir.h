// A directory under the system temp dir, removed with everything in it when
// the object goes away. Each test that touches disk gets its own.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace atcr::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "atcr-test") {
    static std::atomic<unsigned> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace atcr::test

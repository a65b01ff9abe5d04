// The curl program as an outside client: tests of presigned URLs use it so
// that nothing of ours (signing, HTTP client) sits on the client side.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace atcr::test {

// A file under the temp dir, removed with the object; optionally filled.
struct TempFile {
  std::string path;
  TempFile() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "atcr-test-XXXXXX").string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    path = tmpl;
  }
  explicit TempFile(std::string_view contents) : TempFile() {
    std::ofstream(path, std::ios::binary).write(contents.data(), static_cast<std::streamsize>(contents.size()));
  }
  explicit TempFile(const std::vector<std::uint8_t>& contents)
      : TempFile(std::string_view(reinterpret_cast<const char*>(contents.data()), contents.size())) {}
  ~TempFile() { std::remove(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  std::string read() const {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
};

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CurlResult {
  int status = 0;
  std::string body, headers;

  // The first response header with this (case-insensitive) name, or "".
  std::string header(std::string_view name) const {
    std::istringstream in(headers);
    for (std::string line; std::getline(in, line);) {
      if (line.size() <= name.size() || line[name.size()] != ':') continue;
      bool match = true;
      for (std::size_t i = 0; i < name.size(); ++i) match = match && std::tolower(line[i]) == std::tolower(name[i]);
      if (!match) continue;
      std::string v = line.substr(name.size() + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
      return v;
    }
    return "";
  }
};

// Runs /usr/bin/curl with `args` (e.g. {"-T", file, url}); the status, body
// and headers of its answer.
inline CurlResult curl(const std::vector<std::string>& args) {
  TempFile body, headers;
  std::string cmd = "/usr/bin/curl -s -S --max-time 120 -o " + shell_quote(body.path) + " -D " +
                    shell_quote(headers.path) + " -w '%{http_code}'";
  for (const auto& a : args) cmd += " " + shell_quote(a);
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[64] = {};
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
  int rc = ::pclose(p);
  INFO("command: " << cmd);
  REQUIRE(rc == 0);
  return CurlResult{std::atoi(std::string(buf, n).c_str()), body.read(), headers.read()};
}

}  // namespace atcr::test

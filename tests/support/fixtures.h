// Helpers for reading the atproto interop fixtures under tests/fixtures.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace atcr::test {

inline std::string fixture_path(const std::string& relative) {
  return std::string(ATCR_FIXTURE_DIR) + "/" + relative;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string read_fixture(const std::string& relative) {
  return read_file(fixture_path(relative));
}

// One case per line; '#' comments and empty lines skipped; lines are NOT
// trimmed (some invalid cases differ only by whitespace).
inline std::vector<std::string> fixture_lines(const std::string& relative) {
  std::istringstream in(read_fixture(relative));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    out.push_back(line);
  }
  return out;
}

}  // namespace atcr::test

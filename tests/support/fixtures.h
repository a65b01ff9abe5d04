// Helpers for reading the atproto interop fixtures under tests/fixtures.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

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

// Parses a JSON fixture file into a RapidJSON document.
inline rapidjson::Document json_fixture(const std::string& relative) {
  rapidjson::Document doc;
  doc.Parse(read_fixture(relative).c_str());
  if (doc.HasParseError()) throw std::runtime_error("fixture is not JSON: " + relative);
  return doc;
}

// Re-serialises a JSON fragment of a fixture (e.g. a case's "json" member).
inline std::string to_json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace atcr::test

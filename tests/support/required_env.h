// An environment variable a fixture script sets (with-s3.sh, with-pds.sh):
// its value, or a failure that says how the test is meant to be run.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace atcr::test {

inline std::string required_env(const char* name, std::string_view run_through) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    throw std::runtime_error(std::string(name) + " is not set: run this test through " + std::string(run_through));
  return v;
}

}  // namespace atcr::test

// What a loaded config (HoldConfig, AppviewConfig: anything with a
// `warnings` list of strings) said at load, for the config tests.
#pragma once

#include <string>
#include <string_view>

namespace atcr::test {

// Whether any of the config's load warnings contains `part`.
template <class Config>
bool warned(const Config& config, std::string_view part) {
  for (const std::string& w : config.warnings)
    if (w.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace atcr::test

#include "atcr/log.h"

#include <cstdio>
#include <mutex>

#include "atcr/data/datetime.h"

namespace atcr::log {

namespace detail {
std::atomic<int> current_level{static_cast<int>(Level::kInfo)};
}

void set_level(Level level) { detail::current_level.store(static_cast<int>(level)); }

Level level() { return static_cast<Level>(detail::current_level.load()); }

std::optional<Level> parse_level(std::string_view n) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError})
    if (name(l) == n) return l;
  return std::nullopt;
}

std::string_view name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  return out;
}

void write(Level level, std::string_view component, std::string_view message) {
  std::string line =
      fmt::format("{} {} {}: {}\n", now_datetime(), name(level), escape(component), escape(message));
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace atcr::log

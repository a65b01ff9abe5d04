// Process-wide logging for the servers: one line per event on stderr,
//   2026-11-23T21:07:07.123Z info hold: listening on 127.0.0.1:8080
// with a level that can change at run time (the apps flip it on SIGUSR1).
//
//   log::info("hold", "listening on {}:{}", host, port);
//
// Messages below the level cost one atomic load: arguments are formatted
// only when the line is written.
#pragma once

#include <fmt/core.h>

#include <atomic>
#include <optional>
#include <string>
#include <string_view>

namespace atcr::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_level(Level level);
Level level();
// "debug" | "info" | "warn" | "error"; nullopt for anything else.
std::optional<Level> parse_level(std::string_view name);
std::string_view name(Level level);

// `text` with every control character (bytes below 0x20, and DEL) written
// as an escape: "\r", "\n", "\t", else "\xHH". What a client chose (a
// request path, a header, a name in an error) goes through this before it
// is logged, so it cannot start a line of its own or hide one (NUL, ESC).
// Other bytes, UTF-8 included, pass through; it keeps lines whole, it is
// not a reversible encoding.
std::string escape(std::string_view text);

// Writes one line (thread-safe; lines never interleave). The component and
// message are escape()d: a message never spans lines.
void write(Level level, std::string_view component, std::string_view message);

namespace detail {
extern std::atomic<int> current_level;
}

inline bool enabled(Level level) {
  return static_cast<int>(level) >= detail::current_level.load(std::memory_order_relaxed);
}

template <typename... Args>
void at(Level level, std::string_view component, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(level)) write(level, component, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(std::string_view component, fmt::format_string<Args...> format, Args&&... args) {
  at(Level::kDebug, component, format, std::forward<Args>(args)...);
}
template <typename... Args>
void info(std::string_view component, fmt::format_string<Args...> format, Args&&... args) {
  at(Level::kInfo, component, format, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(std::string_view component, fmt::format_string<Args...> format, Args&&... args) {
  at(Level::kWarn, component, format, std::forward<Args>(args)...);
}
template <typename... Args>
void error(std::string_view component, fmt::format_string<Args...> format, Args&&... args) {
  at(Level::kError, component, format, std::forward<Args>(args)...);
}

}  // namespace atcr::log

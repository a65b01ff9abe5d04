#include "atcr/data/datetime.h"

#include <fmt/core.h>

#include <ctime>

namespace atcr {

std::string format_datetime(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(when.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {  // before 1970: floor, not truncate
    millis += 1000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

namespace {

// `n` digits at text[pos...]; -1 when they are not all digits.
int digits(std::string_view text, std::size_t pos, std::size_t n) {
  if (pos + n > text.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_datetime(std::string_view text) {
  using namespace std::chrono;
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
      text[13] != ':' || text[16] != ':')
    return std::nullopt;
  int y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2);
  int h = digits(text, 11, 2), mi = digits(text, 14, 2), s = digits(text, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) return std::nullopt;
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  system_clock::time_point when = sys_days(ymd) + hours(h) + minutes(mi) + seconds(s);
  std::size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    std::int64_t micros = 0, scale = 100000;
    std::size_t start = ++pos;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, scale /= 10)
      if (scale > 0) micros += (text[pos] - '0') * scale;
    if (pos == start) return std::nullopt;
    when += microseconds(micros);
  }
  std::string_view zone = text.substr(pos);
  if (zone.empty() || zone == "Z" || zone == "z") return when;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') return std::nullopt;
  int zh = digits(zone, 1, 2), zm = digits(zone, 4, 2);
  if (zh < 0 || zh > 23 || zm < 0 || zm > 59) return std::nullopt;
  auto offset = hours(zh) + minutes(zm);
  return zone[0] == '+' ? when - offset : when + offset;
}

}  // namespace atcr

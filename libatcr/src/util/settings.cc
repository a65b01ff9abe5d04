#include "util/settings.h"
#include "util/text.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <set>
#include <toml++/toml.h>
#include <unistd.h>

namespace atcr::settings {

namespace {

std::string env_name(std::string_view prefix, std::string_view key) {
  std::string name(prefix);
  for (char c : key) name += (c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

// An option's environment names: ours (<PREFIX>SECTION_KEY) first, then its
// aliases, each once (an alias may spell ours again: ATCR's HOLD_SCANNER_SECRET).
std::vector<std::string> option_env_names(std::string_view prefix, const Option& option) {
  std::vector<std::string> names{env_name(prefix, option.key)};
  for (const auto& alias : option.env_aliases)
    if (std::find(names.begin(), names.end(), alias) == names.end()) names.push_back(alias);
  return names;
}

// Splits "15m" into 15 and "m"; throws when there is no leading number.
std::pair<std::uint64_t, std::string> number_and_unit(std::string_view text, std::string_view what) {
  std::string t(util::trim(text));
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || end == t.data())
    throw ParseError(fmt::format("'{}' is not a {}", text, what));
  return {n, util::ascii_lower(util::trim(std::string_view(end, t.data() + t.size() - end)))};
}

std::uint64_t checked_multiply(std::uint64_t n, std::uint64_t unit, std::string_view text) {
  if (unit != 0 && n > std::numeric_limits<std::uint64_t>::max() / unit)
    throw ParseError(fmt::format("'{}' is too large", text));
  return n * unit;
}

Value parse_text(const Option& option, const std::string& text) {
  switch (option.kind) {
    case Kind::kString:
      return text;
    case Kind::kBool: {
      std::string t = util::ascii_lower(util::trim(text));
      if (t == "true" || t == "1" || t == "yes") return true;
      if (t == "false" || t == "0" || t == "no" || t.empty()) return false;
      throw ParseError(fmt::format("'{}' is not a boolean (true or false)", text));
    }
    case Kind::kInt: {
      std::string t(util::trim(text));
      std::int64_t n = 0;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
      if (ec != std::errc() || end != t.data() + t.size() || t.empty())
        throw ParseError(fmt::format("'{}' is not an integer", text));
      return n;
    }
    case Kind::kBytes:
      return parse_bytes(text);
    case Kind::kDuration:
      return parse_duration(text);
    case Kind::kSizeMap:
      break;
  }
  throw ParseError("a table of sizes cannot be given as text");
}

// A TOML node as the option's kind. Numbers and booleans may be given
// natively or as strings ("5GB", "15m").
Value parse_node(const Option& option, const toml::node& node) {
  if (option.kind == Kind::kSizeMap) {
    const toml::table* table = node.as_table();
    if (!table) throw ParseError("expected a table of name = size");
    std::map<std::string, std::uint64_t> sizes;
    for (const auto& [name, value] : *table) {
      std::string tier(name.str());
      if (auto n = value.value<std::int64_t>(); n && value.is_integer()) {
        if (*n < 0) throw ParseError(fmt::format("{}: a size cannot be negative", tier));
        sizes[tier] = static_cast<std::uint64_t>(*n);
      } else if (auto s = value.value<std::string>()) {
        try {
          sizes[tier] = parse_bytes(*s);
        } catch (const ParseError& e) {
          throw ParseError(fmt::format("{}: {}", tier, e.what()));
        }
      } else {
        throw ParseError(fmt::format("{}: expected a size such as \"5GB\"", tier));
      }
    }
    return sizes;
  }
  if (auto s = node.as_string()) return parse_text(option, s->get());
  if (auto b = node.as_boolean()) {
    if (option.kind != Kind::kBool) throw ParseError("a boolean is not allowed here");
    return b->get();
  }
  if (auto i = node.as_integer()) {
    std::int64_t n = i->get();
    switch (option.kind) {
      case Kind::kInt:
        return n;
      case Kind::kBytes:
        if (n < 0) throw ParseError("a size cannot be negative");
        return static_cast<std::uint64_t>(n);
      case Kind::kDuration:
        if (n < 0) throw ParseError("a duration cannot be negative");
        return std::chrono::seconds(n);
      default:
        throw ParseError("an integer is not allowed here");
    }
  }
  throw ParseError("unsupported TOML value (expected a string, boolean or integer)");
}

void check_choices(const Option& option, const Value& value) {
  if (option.choices.empty()) return;
  const auto* s = std::get_if<std::string>(&value);
  if (s && std::find(option.choices.begin(), option.choices.end(), *s) == option.choices.end()) {
    std::string allowed;
    for (const auto& c : option.choices) allowed += (allowed.empty() ? "" : ", ") + ("\"" + c + "\"");
    throw ParseError(fmt::format("'{}' is not one of {}", *s, allowed));
  }
}

const Option* find_option(const std::vector<Option>& schema, std::string_view key) {
  for (const auto& o : schema)
    if (o.key == key) return &o;
  return nullptr;
}

// Visits every leaf of the file's table as (dotted key, node); a key that
// is no option goes to `other`, which returns false to reject it.
void flatten(const toml::table& table, const std::string& prefix, const std::vector<Option>& schema,
             const std::function<void(const Option&, const toml::node&)>& visit,
             const std::function<bool(const std::string&, const toml::node&)>& other,
             const std::filesystem::path& file) {
  for (const auto& [name, node] : table) {
    std::string key = prefix.empty() ? std::string(name.str()) : prefix + "." + std::string(name.str());
    if (const Option* option = find_option(schema, key)) {
      visit(*option, node);
    } else if (other(key, node)) {
      continue;
    } else if (const toml::table* sub = node.as_table()) {
      flatten(*sub, key, schema, visit, other, file);
    } else {
      throw ConfigError(key, fmt::format("{}: unknown setting '{}'", file.string(), key));
    }
  }
}

bool is_empty(const Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return s->empty();
  return false;
}

std::string toml_default(const Option& option) {
  switch (option.kind) {
    case Kind::kBool:
    case Kind::kInt:
      return option.default_value.empty() ? "0" : option.default_value;
    case Kind::kSizeMap:
      return "{ " + option.default_value + " }";
    default: {
      std::string quoted = "\"";
      for (char c : option.default_value) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
      }
      return quoted + "\"";
    }
  }
}


// The environment variable an ATCR name reads from ("" for a wildcard,
// which env_section_prefix covers).
std::string alias_env(std::string_view prefix, const Alias& alias) {
  if (alias.name.find('.') == std::string::npos) return alias.name;
  if (alias.name.ends_with(".*")) return "";
  return env_name(prefix, alias.name);
}

// "ATCR_JETSTREAM_" for "jetstream.*"; "" for any other alias.
std::string env_section_prefix(std::string_view prefix, const Alias& alias) {
  if (!alias.name.ends_with(".*")) return "";
  return env_name(prefix, alias.name.substr(0, alias.name.size() - 1));
}

bool matches_file_key(const Alias& alias, std::string_view key) {
  if (alias.name.ends_with(".*")) return key.starts_with(std::string_view(alias.name).substr(0, alias.name.size() - 1));
  return alias.name.find('.') != std::string::npos && alias.name == key;
}

const Alias* find_file_alias(const Compat& compat, std::string_view key) {
  for (const auto& a : compat.aliases)
    if (matches_file_key(a, key)) return &a;
  return nullptr;
}

// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// A Go listen address "host:port" or ":port" as (host, port).
std::pair<std::string, std::string> split_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    throw ParseError(fmt::format("'{}' is not a listen address (host:port or :port)", text));
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, text.substr(colon + 1)};
}

std::string not_used_yet(const std::string& name) {
  return fmt::format("{} is an ATCR setting atcr recognises but does not use yet; ignored", name);
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

std::vector<std::string> process_env_names() {
  std::vector<std::string> names;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    names.emplace_back(entry.substr(0, entry.find('=')));
  }
  return names;
}

void invalid(const std::string& key, const std::string& message) {
  throw ConfigError(key, fmt::format("{}: {}", key, message));
}

std::string base_url(const std::string& key, std::string url, std::string* authority) {
  url = std::string(util::strip_trailing_slashes(url));
  if (url.empty()) return url;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) invalid(key, fmt::format("'{}' is not an http(s) URL", url));
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https")
    invalid(key, fmt::format("'{}': the scheme must be http or https", url));
  std::string rest = url.substr(scheme_end + 3);
  if (rest.empty()) invalid(key, fmt::format("'{}' has no host", url));
  if (rest.find_first_of("/?#@ \"\\") != std::string::npos)
    invalid(key, fmt::format("'{}' must be scheme://host[:port] only (no path, query or user)", url));
  if (authority) *authority = rest;
  return url;
}

std::vector<Option> with_metrics(std::vector<Option> options) {
  static const MetricsSettings defaults;
  static const std::vector<Option> metrics = {
      {"metrics.enabled", Kind::kBool, format_bool(defaults.enabled),
       "Serve Prometheus metrics at GET /metrics (requests by route and status,\n"
       "latencies, bytes in and out, uploads in flight, ...)."},
      {"metrics.addr", Kind::kString, defaults.addr,
       "Serve /metrics on this host:port of its own (e.g. \"127.0.0.1:9100\")\n"
       "instead of the main listener, to keep it off the public address."},
  };
  options.insert(options.end(), metrics.begin(), metrics.end());
  return options;
}

MetricsSettings metrics_settings(const Settings& settings) {
  MetricsSettings m{settings.boolean("metrics.enabled"), settings.str("metrics.addr")};
  check_metrics_addr(m.addr);
  return m;
}

void check_metrics_addr(const std::string& addr) {
  if (!addr.empty() && addr.rfind(':') == std::string::npos) invalid("metrics.addr", "must be host:port");
}

int port(const Settings& settings, const std::string& key) {
  std::int64_t p = settings.integer(key);
  if (p < 0 || p > 65535) invalid(key, fmt::format("{} is not a port (0-65535)", p));
  return static_cast<int>(p);
}

std::uint64_t parse_bytes(std::string_view text) {
  auto [n, unit] = number_and_unit(text, "size (e.g. 512MB, 5GB, 1GiB)");
  static const std::pair<const char*, std::uint64_t> kUnits[] = {
      {"", 1},         {"b", 1},
      {"kb", 1000ULL}, {"mb", 1000ULL * 1000},  {"gb", 1000ULL * 1000 * 1000},  {"tb", 1000ULL * 1000 * 1000 * 1000},
      {"pb", 1000ULL * 1000 * 1000 * 1000 * 1000},
      {"kib", 1ULL << 10}, {"mib", 1ULL << 20}, {"gib", 1ULL << 30}, {"tib", 1ULL << 40}, {"pib", 1ULL << 50},
  };
  for (const auto& [name, factor] : kUnits)
    if (unit == name) return checked_multiply(n, factor, text);
  throw ParseError(fmt::format("'{}': unknown size unit '{}' (B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB)", text, unit));
}

std::string format_bytes(std::uint64_t bytes) {
  static const std::pair<const char*, std::uint64_t> kUnits[] = {
      {"TiB", 1ULL << 40}, {"TB", 1000ULL * 1000 * 1000 * 1000}, {"GiB", 1ULL << 30}, {"GB", 1000ULL * 1000 * 1000},
      {"MiB", 1ULL << 20}, {"MB", 1000ULL * 1000},  {"KiB", 1ULL << 10}, {"KB", 1000ULL},
  };
  for (const auto& [name, factor] : kUnits)
    if (bytes != 0 && bytes % factor == 0) return fmt::format("{}{}", bytes / factor, name);
  return std::to_string(bytes);
}

std::string format_duration(std::chrono::seconds duration) {
  std::int64_t s = duration.count();
  if (s != 0 && s % 3600 == 0) return fmt::format("{}h", s / 3600);
  if (s != 0 && s % 60 == 0) return fmt::format("{}m", s / 60);
  return fmt::format("{}s", s);
}

std::string format_size_map(const std::map<std::string, std::uint64_t>& sizes) {
  std::string out;
  for (const auto& [name, bytes] : sizes) out += fmt::format("{}{} = \"{}\"", out.empty() ? "" : ", ", name, format_bytes(bytes));
  return out;
}

std::chrono::seconds parse_duration(std::string_view text) {
  auto [n, unit] = number_and_unit(text, "duration (e.g. 90s, 15m, 24h, 7d)");
  static const std::pair<const char*, std::uint64_t> kUnits[] = {
      {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400},
  };
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) continue;
    std::uint64_t seconds = checked_multiply(n, factor, text);
    if (seconds > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw ParseError(fmt::format("'{}' is too large", text));
    return std::chrono::seconds(static_cast<std::int64_t>(seconds));
  }
  throw ParseError(fmt::format("'{}': unknown duration unit '{}' (s, m, h, d)", text, unit));
}

const Settings::Entry& Settings::entry(std::string_view key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) throw std::logic_error(fmt::format("settings: no option '{}'", key));
  return it->second;
}

const std::string& Settings::str(std::string_view key) const { return std::get<std::string>(entry(key).value); }
bool Settings::boolean(std::string_view key) const { return std::get<bool>(entry(key).value); }
std::int64_t Settings::integer(std::string_view key) const { return std::get<std::int64_t>(entry(key).value); }
std::uint64_t Settings::bytes(std::string_view key) const { return std::get<std::uint64_t>(entry(key).value); }
std::chrono::seconds Settings::duration(std::string_view key) const {
  return std::get<std::chrono::seconds>(entry(key).value);
}
const std::map<std::string, std::uint64_t>& Settings::size_map(std::string_view key) const {
  return std::get<std::map<std::string, std::uint64_t>>(entry(key).value);
}
const std::string& Settings::source(std::string_view key) const { return entry(key).source; }

// load(), layer by layer: defaults, the file, the environment (our names,
// then ATCR's), then unknown variables and required options are checked.
class Loader {
 public:
  Loader(const std::vector<Option>& schema, std::string_view env_prefix, const EnvLookup& env, const Compat& compat)
      : schema_(schema), env_prefix_(env_prefix), env_(env), compat_(compat) {}

  void defaults() {
    for (const auto& option : schema_) {
      if (option.kind == Kind::kSizeMap) {
        set(option,
            [&] { return parse_node(option, *toml::parse("x = { " + option.default_value + " }")["x"].node()); },
            "default");
      } else {
        set(option, [&] { return parse_text(option, option.default_value); }, "default");
      }
    }
  }

  // The file's keys, then ATCR's spellings in it (ours win).
  void file(const std::filesystem::path& path) {
    toml::table table;
    try {
      table = toml::parse_file(path.string());
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      throw ConfigError("", fmt::format("{}:{}:{}: {}", path.string(), where.line, where.column, e.description()));
    }
    std::map<std::string, std::string> own;
    std::vector<std::pair<const Alias*, std::string>> aliased;  // applied after our own keys
    flatten(
        table, "", schema_,
        [&](const Option& option, const toml::node& node) {
          own[option.key] = option.key;
          set(option, [&] { return parse_node(option, node); }, "file " + path.string());
        },
        [&](const std::string& key, const toml::node& node) { return file_alias(path, key, node, aliased); }, path);
    for (const auto& [alias, text] : aliased)
      set_alias(*alias, alias->name, text, fmt::format("file {} (ATCR key {})", path.string(), alias->name), own);
  }

  // Our variables (one per option; a second name set is reported), then
  // ATCR's (ours win).
  void environment() {
    std::map<std::string, std::string> own;
    for (const auto& option : schema_) {
      if (option.kind == Kind::kSizeMap) continue;
      std::string used;
      for (const auto& name : option_env_names(env_prefix_, option)) {
        auto value = env_(name);
        if (!value) continue;
        if (!used.empty()) {
          warn(fmt::format("environment: both {} and {} are set; using {}", used, name, used));
          continue;
        }
        used = name;
        own[option.key] = name;
        set(option, [&] { return parse_text(option, *value); }, "env " + name);
      }
    }
    for (const auto& alias : compat_.aliases) {
      std::string name = alias_env(env_prefix_, alias);
      if (name.empty()) continue;
      auto value = env_(name);
      if (!value) continue;
      if (alias.key.empty()) warn(not_used_yet("$" + name));
      else set_alias(alias, name, *value, "env " + name, own);
    }
  }

  // <PREFIX>* variables set that nothing reads: reported (with the nearest
  // known name), unless they are the project's tooling's or a section of
  // ATCR's not used yet.
  void unknown_environment(const std::vector<std::string>& env_names) {
    const std::set<std::string> known = known_env_names();
    for (const auto& name : env_names) {
      if (!name.starts_with(env_prefix_) || known.contains(name)) continue;
      auto tooling = [&](const std::string& p) { return name.starts_with(p); };
      if (std::any_of(compat_.tooling_prefixes.begin(), compat_.tooling_prefixes.end(), tooling)) continue;
      const Alias* section = nullptr;
      for (const auto& alias : compat_.aliases) {
        std::string p = env_section_prefix(env_prefix_, alias);
        if (!p.empty() && name.starts_with(p)) section = &alias;
      }
      if (section) {
        warn(not_used_yet("$" + name + " (" + section->name + ")"));
        continue;
      }
      std::string nearest = nearest_name(name, known);
      warn(nearest.empty() ? fmt::format("unknown environment variable {} (ignored)", name)
                           : fmt::format("unknown environment variable {} (ignored); did you mean {}?", name, nearest));
    }
  }

  Settings finish() {
    for (const auto& option : schema_) {
      if (option.required && is_empty(settings_.entries_[option.key].value))
        throw ConfigError(option.key, fmt::format("{} must be set (in the config file, or ${})", option.key,
                                                  env_name(env_prefix_, option.key)));
    }
    return std::move(settings_);
  }

 private:
  void warn(std::string message) {
    if (warned_.insert(message).second) settings_.warnings_.push_back(std::move(message));
  }

  template <typename Parse>
  void set(const Option& option, const Parse& parse, const std::string& source) {
    try {
      settings::Value value = parse();
      check_choices(option, value);
      settings_.entries_[option.key] = Settings::Entry{std::move(value), source};
    } catch (const ParseError& e) {
      throw ConfigError(option.key, fmt::format("{} (from {}): {}", option.key, source, e.what()));
    }
  }

  // An ATCR key in the file: collected in `aliased` (as text), or reported
  // when not used yet; false when it is no ATCR key either.
  bool file_alias(const std::filesystem::path& path, const std::string& key, const toml::node& node,
                  std::vector<std::pair<const Alias*, std::string>>& aliased) {
    const Alias* alias = find_file_alias(compat_, key);
    if (!alias) return false;
    if (alias->key.empty()) {
      warn(not_used_yet(fmt::format("{}: {}", path.string(), alias->name)));
    } else if (auto text = node.value<std::string>(); text && node.is_string()) {
      aliased.emplace_back(alias, *text);
    } else if (auto b = node.as_boolean()) {
      aliased.emplace_back(alias, b->get() ? "true" : "false");
    } else if (auto i = node.as_integer()) {
      aliased.emplace_back(alias, std::to_string(i->get()));
    } else {
      throw ConfigError(alias->key,
                        fmt::format("{}: {}: expected a string, boolean or integer", path.string(), key));
    }
    return true;
  }

  // Sets an alias's value (text) on its option(s), unless our own spelling
  // in the same layer (`own`) already set them.
  void set_alias(const Alias& alias, const std::string& spelling, const std::string& text, const std::string& source,
                 const std::map<std::string, std::string>& own) {
    for (const auto& [key, value] : alias_targets(alias, text, source)) {
      const Option* option = find_option(schema_, key);
      if (!option) throw std::logic_error(fmt::format("settings: alias {} of no option '{}'", alias.name, key));
      if (auto it = own.find(key); it != own.end()) {
        warn(fmt::format("both {} and ATCR's {} are set; using {}", it->second, spelling, it->second));
        continue;
      }
      const std::string& text_value = value;  // a named reference: clang 14 cannot capture bindings
      set(*option, [&] { return parse_text(*option, text_value); }, source);
    }
  }

  // (option key, text) pairs an alias's value sets: itself, or a Go
  // listen address's host and port (no host: the option's own default).
  std::vector<std::pair<std::string, std::string>> alias_targets(const Alias& alias, const std::string& text,
                                                                 const std::string& source) {
    if (alias.port_key.empty()) return {{alias.key, text}};
    std::pair<std::string, std::string> address;
    try {
      address = split_address(text);
    } catch (const ParseError& e) {
      throw ConfigError(alias.key, fmt::format("{} (from {}): {}", alias.name, source, e.what()));
    }
    std::vector<std::pair<std::string, std::string>> targets;
    if (address.first.empty())
      warn(fmt::format("{} '{}' names no host: listening on {} ({} unless set); write 0.0.0.0{} to listen "
                       "on every interface",
                       source, text, alias.key, find_option(schema_, alias.key)->default_value, text));
    else targets.emplace_back(alias.key, address.first);
    targets.emplace_back(alias.port_key, address.second);
    return targets;
  }

  std::set<std::string> known_env_names() const {
    std::set<std::string> known;
    for (const auto& option : schema_) {
      known.insert(env_name(env_prefix_, option.key));
      known.insert(option.env_aliases.begin(), option.env_aliases.end());
    }
    for (const auto& alias : compat_.aliases)
      if (std::string name = alias_env(env_prefix_, alias); !name.empty()) known.insert(name);
    return known;
  }

  // The known name a few edits away from `name`, if any.
  static std::string nearest_name(const std::string& name, const std::set<std::string>& known) {
    std::string nearest;
    std::size_t best = 4;  // suggest only names a few edits away
    for (const auto& k : known) {
      std::size_t d = edit_distance(name, k);
      if (d < best) best = d, nearest = k;
    }
    return nearest;
  }

  const std::vector<Option>& schema_;
  std::string_view env_prefix_;
  const EnvLookup& env_;
  const Compat& compat_;
  Settings settings_;
  std::set<std::string> warned_;
};

Settings load(const std::vector<Option>& schema, std::string_view env_prefix,
              const std::optional<std::filesystem::path>& file, const EnvLookup& env, const Compat& compat,
              const std::vector<std::string>& env_names) {
  Loader loader(schema, env_prefix, env, compat);
  loader.defaults();
  if (file) loader.file(*file);
  loader.environment();
  loader.unknown_environment(env_names);
  return loader.finish();
}

Settings load_program(const std::vector<Option>& schema, std::string_view env_prefix, const Compat& compat,
                      const std::optional<std::filesystem::path>& file, const EnvLookup& env,
                      const std::vector<std::string>& env_names) {
  if (env) return load(schema, env_prefix, file, env, compat, env_names);
  return load(schema, env_prefix, file, process_env(), compat, process_env_names());
}

namespace {

// The template's opening comment: what it is and how values resolve.
std::string template_header(std::string_view env_prefix, std::string_view title, const Compat& compat) {
  std::string out = fmt::format("# {}\n", title);
  out +=
      "#\n# Every setting is shown at its default. Values resolve in layers:\n"
      "# built-in defaults, then this file, then environment variables.\n";
  out += fmt::format(
      "# ATCR's spellings of a setting (file keys and environment names) are\n"
      "# accepted too; where both are set, ours wins. An unknown {}* variable\n"
      "# is reported at start",
      env_prefix);
  if (compat.tooling_prefixes.empty()) {
    out += ".\n";
  } else {
    std::string tooling;
    for (const auto& p : compat.tooling_prefixes) tooling += (tooling.empty() ? "" : " ") + p + "*";
    out += ", except the project's script variables:\n# " + tooling + "\n";
  }
  return out;
}

// ATCR's spellings of an option: "name / $ENV", or "$ENV" for an
// environment-only one.
std::string atcr_spellings(const Option& option, std::string_view env_prefix, const Compat& compat) {
  std::string atcr;
  for (const auto& alias : compat.aliases) {
    if (alias.key != option.key && alias.port_key != option.key) continue;
    std::string env = alias_env(env_prefix, alias);
    std::string spelling = alias.name.find('.') == std::string::npos ? "$" + env : alias.name + " / $" + env;
    if (!alias.port_key.empty()) spelling += " (host:port)";
    atcr += (atcr.empty() ? "" : ", ") + spelling;
  }
  return atcr;
}

// One option as the template writes it: its help, choices, variables and
// ATCR spellings as comments, then `name = default` (commented out when
// required).
std::string template_option(const Option& option, const std::string& name, std::string_view env_prefix,
                            const Compat& compat) {
  std::string out = "\n";
  std::string_view help = option.help;
  while (!help.empty()) {
    auto nl = help.find('\n');
    out += fmt::format("# {}\n", help.substr(0, nl));
    help = nl == std::string_view::npos ? std::string_view{} : help.substr(nl + 1);
  }
  if (!option.choices.empty()) {
    std::string allowed;
    for (const auto& c : option.choices) allowed += (allowed.empty() ? "" : ", ") + c;
    out += fmt::format("# One of: {}.\n", allowed);
  }
  if (option.kind != Kind::kSizeMap) {
    std::string vars;
    for (const auto& env : option_env_names(env_prefix, option)) vars += (vars.empty() ? "" : ", ") + env;
    out += fmt::format("# Environment: {}\n", vars);
  }
  if (std::string atcr = atcr_spellings(option, env_prefix, compat); !atcr.empty())
    out += fmt::format("# ATCR spelling (also accepted): {}\n", atcr);
  std::string value = toml_default(option);
  if (option.required) out += fmt::format("# REQUIRED\n#{} = {}\n", name, value);
  else out += fmt::format("{} = {}\n", name, value);
  return out;
}

}  // namespace

std::string render_template(const std::vector<Option>& schema, std::string_view env_prefix,
                            std::string_view title, const Compat& compat) {
  std::string out = template_header(env_prefix, title, compat);
  std::string section;
  for (const auto& option : schema) {
    auto dot = option.key.rfind('.');
    std::string opt_section = dot == std::string::npos ? "" : option.key.substr(0, dot);
    std::string name = dot == std::string::npos ? option.key : option.key.substr(dot + 1);
    if (opt_section != section) {
      section = opt_section;
      out += fmt::format("\n[{}]\n", section);
    }
    out += template_option(option, name, env_prefix, compat);
  }
  std::string unused;
  for (const auto& alias : compat.aliases)
    if (alias.key.empty()) unused += (unused.empty() ? "" : ", ") + alias.name;
  if (!unused.empty()) {
    out += "\n# ATCR settings recognised but not used yet (accepted, reported at start):\n";
    out += fmt::format("# {}\n", unused);
  }
  return out;
}

}  // namespace atcr::settings

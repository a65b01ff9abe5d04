// Internal: layered configuration from one declarative schema.
//
// A program describes its options once (key, kind, default, help); from
// that table come the commented TOML template (`config init`), loading and
// validation of a TOML file, environment overrides and error messages that
// name the key. Values resolve in layers, each overriding the one before:
//
//   defaults -> TOML file -> environment
//
// An option "server.public_url" is read from the environment as
// <PREFIX>SERVER_PUBLIC_URL (dots become '_', upper case), then from any
// aliases it lists (AWS_REGION, ...). Deriving names from the schema, not
// splitting variable names on '_', is what lets keys themselves contain '_'.
//
// Unknown keys in the file are errors, not warnings: a typo in a security
// setting ("pubic = false") must not silently fall back to a default.
//
// ATCR compatibility: a program also lists the names ATCR (the Go
// implementation) gives its settings (Alias), so an ATCR config or .env runs
// unchanged. Our own spelling wins when both are set (with a warning). An
// alias of something we do not implement is accepted and reported once as
// "recognised, not used yet". A set <PREFIX>* variable that names nothing is
// a warning naming the nearest known name, except names under the program's
// tooling prefixes (variables the project's scripts set for themselves, e.g.
// ATCR_E2E_*, ATCR_PDS_PORT), which the programs ignore.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "atcr/error.h"

namespace atcr::settings {

enum class Kind {
  kString,
  kBool,
  kInt,
  kBytes,     // 1048576, "512MB", "5 GB", "1GiB" (KB = 1000, KiB = 1024)
  kDuration,  // seconds as an integer, or "90s", "15m", "24h", "7d"
  kSizeMap,   // a TOML table of name = size (quota tiers); not from the env
};

struct Option {
  Option(std::string key, Kind kind, std::string default_value, std::string help, bool required = false,
         std::vector<std::string> env_aliases = {}, std::vector<std::string> choices = {})
      : key(std::move(key)),
        kind(kind),
        default_value(std::move(default_value)),
        help(std::move(help)),
        required(required),
        env_aliases(std::move(env_aliases)),
        choices(std::move(choices)) {}

  std::string key;  // "section.name"
  Kind kind = Kind::kString;
  std::string default_value;  // as it would be written in TOML, unquoted
  std::string help;           // comment lines for the template ('\n' separated)
  bool required = false;      // must be non-empty after all layers
  std::vector<std::string> env_aliases;
  std::vector<std::string> choices;  // kString: the allowed values, if limited
};

// A name ATCR gives a setting. A dotted name ("storage.access_key") is a
// file key and also, as Viper derives it, the environment variable
// <PREFIX>STORAGE_ACCESS_KEY; "jetstream.*" covers a whole section. An
// undotted name ("STORAGE_ROOT_DIR") is an environment variable only.
struct Alias {
  Alias(std::string name, std::string key, std::string port_key = "")
      : name(std::move(name)), key(std::move(key)), port_key(std::move(port_key)) {}

  std::string name;
  std::string key;       // our option; "" = recognised, not used yet
  std::string port_key;  // set: the value is a Go listen address "host:port"
                         // or ":port", split into key (host) and port_key
};

// What a program declares besides its options.
struct Compat {
  std::vector<Alias> aliases;
  std::vector<std::string> tooling_prefixes;  // env names the programs ignore
};

// Errors are atcr::ConfigError: the message names the key and where the
// value came from.

using Value = std::variant<std::string, bool, std::int64_t, std::uint64_t, std::chrono::seconds,
                           std::map<std::string, std::uint64_t>>;

// Reads an environment variable; nullopt when unset. Replaceable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_env();

class Settings {
 public:
  const std::string& str(std::string_view key) const;
  bool boolean(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  std::uint64_t bytes(std::string_view key) const;
  std::chrono::seconds duration(std::string_view key) const;
  const std::map<std::string, std::uint64_t>& size_map(std::string_view key) const;
  // "default", "file", or "env NAME": for `config show` and error messages.
  const std::string& source(std::string_view key) const;
  // Things to log once at start: aliases overridden or not used yet,
  // unknown environment variables.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  friend class Loader;  // load()'s layers (settings.cc)
  struct Entry {
    Value value;
    std::string source;
  };
  const Entry& entry(std::string_view key) const;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::string> warnings_;
};

// The names of the process's environment variables.
std::vector<std::string> process_env_names();

// Throws atcr::ConfigError for an unreadable or malformed file, an unknown key, a
// value of the wrong kind or out of its choices, or a missing required one.
// `env_names` are the variables set, checked for unknown <PREFIX>* names.
Settings load(const std::vector<Option>& schema, std::string_view env_prefix,
              const std::optional<std::filesystem::path>& file, const EnvLookup& env,
              const Compat& compat = {}, const std::vector<std::string>& env_names = {});

// load() as a program's config does it: from the process's environment
// and its variables' names, or, when `env` is given (tests), from `env`
// and `env_names`.
Settings load_program(const std::vector<Option>& schema, std::string_view env_prefix, const Compat& compat,
                      const std::optional<std::filesystem::path>& file, const EnvLookup& env,
                      const std::vector<std::string>& env_names);

// A TOML file with every option at its default, each preceded by its help
// and the environment variables that override it. Required options are
// written commented-out so an unedited file fails loudly at load.
// Each option also lists its ATCR spellings.
std::string render_template(const std::vector<Option>& schema, std::string_view env_prefix,
                            std::string_view title, const Compat& compat = {});

// Checks shared by the programs' configs, each throwing ConfigError("key: ...").
[[noreturn]] void invalid(const std::string& key, const std::string& message);
// The URL without trailing slashes, checked to be http(s)://host[:port] and
// nothing more: these values become DIDs, token realms and Location
// headers, where a path or credentials would break every client. ""
// passes through. `authority`, when given, receives "host[:port]".
std::string base_url(const std::string& key, std::string url, std::string* authority = nullptr);
// An integer setting that must be a TCP port (0 = any free one).
int port(const Settings& settings, const std::string& key);

// A schema written as one function per [section], each given the
// default-constructed config whose values are the defaults: their options
// in order.
template <class Config>
std::vector<Option> sections(const Config& defaults,
                             std::initializer_list<std::vector<Option> (*)(const Config&)> section_options) {
  std::vector<Option> all;
  for (auto options_of : section_options) {
    std::vector<Option> some = options_of(defaults);
    all.insert(all.end(), std::make_move_iterator(some.begin()), std::make_move_iterator(some.end()));
  }
  return all;
}

// The [metrics] section both servers have (metrics.enabled, metrics.addr),
// appended to a program's options.
std::vector<Option> with_metrics(std::vector<Option> options);
struct MetricsSettings {
  bool enabled = true;
  std::string addr;  // "host:port" of a listener of its own; "" = the main one
};
// Throws ConfigError for an addr that is not host:port.
MetricsSettings metrics_settings(const Settings& settings);
void check_metrics_addr(const std::string& addr);
// Defaults as a schema writes them, from the config struct's own values (the
// one source of truth): "16MiB", "5GB", "15m", "deckhand = \"5GB\", ...".
std::string format_bytes(std::uint64_t bytes);
std::string format_duration(std::chrono::seconds duration);
std::string format_size_map(const std::map<std::string, std::uint64_t>& sizes);
inline std::string format_bool(bool b) { return b ? "true" : "false"; }

// Parsers behind kBytes and kDuration (exposed for tests).
std::uint64_t parse_bytes(std::string_view text);           // throws ParseError
std::chrono::seconds parse_duration(std::string_view text);  // throws ParseError

}  // namespace atcr::settings

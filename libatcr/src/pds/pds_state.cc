#include "pds/pds_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "atcr/data/json.h"
#include "atcr/data/value.h"
#include "atcr/error.h"
#include "util/private_file.h"

namespace atcr::pds {

namespace {

std::string string_field(const Value& v, std::string_view key) {
  const Value* f = v.find(key);
  return f ? f->as_string() : std::string();
}

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw StorageError("pds state: " + what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

PdsState PdsState::load(const std::filesystem::path& path) {
  PdsState s;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return s;
    fail("cannot read", path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    Value v = json::parse_record(text.str());
    s.did = string_field(v, "did");
    s.announced_handle = string_field(v, "announcedHandle");
    s.announced_key = string_field(v, "announcedKey");
    const Value* account = v.find("accountAnnounced");
    s.account_announced = account && account->as_bool();
    s.plc_genesis = string_field(v, "plcGenesis");
  } catch (const ParseError& e) {
    throw ParseError("pds state " + path.string() + ": " + e.what());
  }
  return s;
}

void PdsState::save(const std::filesystem::path& path) const {
  Value::Map m{{"did", Value(did)},
               {"announcedHandle", Value(announced_handle)},
               {"announcedKey", Value(announced_key)},
               {"accountAnnounced", Value(account_announced)}};
  if (!plc_genesis.empty()) m.emplace("plcGenesis", Value(plc_genesis));
  std::string text = json::serialize(Value(std::move(m))) + "\n";

  util::write_private_file(path, text);
}

}  // namespace atcr::pds

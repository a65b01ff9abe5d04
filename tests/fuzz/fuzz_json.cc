// libFuzzer target: atproto JSON. Whatever parses must survive a
// serialise/parse round trip and a DAG-CBOR round trip unchanged.
#include <cstdlib>
#include <string_view>

#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    atcr::Value v = atcr::json::parse(std::string_view(reinterpret_cast<const char*>(data), size));
    if (atcr::json::parse(atcr::json::serialize(v)) != v) std::abort();
    if (atcr::cbor::decode(atcr::cbor::encode(v)) != v) std::abort();
  } catch (const atcr::ParseError&) {
  }
  return 0;
}

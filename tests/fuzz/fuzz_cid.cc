// libFuzzer target: CID parsing from binary and from text. A parsed CID must
// round-trip through both forms.
#include <cstdlib>
#include <string>

#include "atcr/data/cid.h"
#include "atcr/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    atcr::Cid c = atcr::Cid::from_bytes(atcr::BytesView(data, size));
    if (atcr::Cid::parse(c.to_string()) != c) std::abort();
    (void)c.is_blessed();
    (void)c.digest();
  } catch (const atcr::ParseError&) {
  }
  try {
    std::string text(reinterpret_cast<const char*>(data), size);
    atcr::Cid c = atcr::Cid::parse(text);
    if (c.to_string() != text) std::abort();
  } catch (const atcr::ParseError&) {
  }
  return 0;
}

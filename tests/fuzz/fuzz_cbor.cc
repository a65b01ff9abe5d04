// libFuzzer target: the strict DAG-CBOR decoder. Whatever it accepts must
// re-encode to exactly the same bytes (canonical form is unique).
#include <cstdlib>

#include "atcr/data/cbor.h"
#include "atcr/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  atcr::BytesView in(data, size);
  try {
    atcr::Value v = atcr::cbor::decode(in);
    atcr::Bytes again = atcr::cbor::encode(v);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  } catch (const atcr::ParseError&) {
  }
  return 0;
}

// libFuzzer target: the CAR reader (header, framing, CID parsing, block
// verification). It must only ever throw atcr errors.
#include "atcr/data/car.h"
#include "atcr/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    atcr::car::Limits limits;
    limits.max_block_bytes = 1 << 20;
    auto contents = atcr::car::read(atcr::BytesView(data, size), limits);
    (void)contents.blocks.size();
  } catch (const atcr::Error&) {
  }
  return 0;
}

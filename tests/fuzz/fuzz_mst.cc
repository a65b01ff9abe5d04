// libFuzzer target: loading and walking an MST from untrusted blocks. The
// input is a CAR whose first root is taken as an MST root node; a hostile
// tree must be rejected with an atcr error, never crash or loop.
#include "atcr/data/car.h"
#include "atcr/error.h"
#include "atcr/repo/mst.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto contents = atcr::car::read(atcr::BytesView(data, size));
    if (contents.roots.empty()) return 0;
    atcr::mst::Tree tree(contents.blocks, contents.roots.front());
    tree.verify();
    (void)tree.size();
    (void)tree.get("com.example.record/3jzfcijpj2z2a");
  } catch (const atcr::Error&) {
  }
  return 0;
}

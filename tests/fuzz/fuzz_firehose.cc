// libFuzzer target: a firehose frame as the network index takes it: the
// event-stream frame decoder, then #commit / #sync verification (CAR,
// commit block, signature, ops against the MST, inversion to prevData).
// It must only ever throw atcr errors.
#include "atcr/error.h"
#include "atcr/pds/event_stream.h"
#include "fuzz_key.h"
#include "index/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace atcr;
  static const PublicKey key = fuzz::firehose_key().public_key();
  try {
    pds::Frame frame = pds::decode_frame(BytesView(data, size));
    if (frame.type == "#commit") (void)index::verify_commit(frame.body, key);
    if (frame.type == "#sync") (void)index::verify_sync(frame.body, key);
  } catch (const Error&) {
  }
  return 0;
}

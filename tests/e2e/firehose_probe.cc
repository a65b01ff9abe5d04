// firehose_probe HOLD_URL PATH SECONDS: reads the hold's firehose
// (com.atproto.sync.subscribeRepos from cursor 0, so events already sent
// count too) and exits 0 once a #commit has an op on PATH
// ("<collection>/<rkey>"), 1 if none comes within SECONDS, 2 on errors.
// For e2e scripts that must see a record reach the firehose.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "atcr/error.h"
#include "atcr/pds/event_stream.h"
#include "atcr/xrpc/websocket_client.h"

using namespace atcr;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: firehose_probe HOLD_URL COLLECTION/RKEY SECONDS\n";
    return 2;
  }
  std::string url = std::string(argv[1]) + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0";
  std::string path = argv[2];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[3]));
  try {
    auto ws = xrpc::WebSocketClient::connect(url);
    while (std::chrono::steady_clock::now() < deadline) {
      auto message = ws->receive(std::chrono::seconds(1));
      if (!message) break;
      if (message->kind != xrpc::WebSocketMessage::kBinary) continue;
      pds::Frame frame = pds::decode_frame(message->data);
      if (frame.type != "#commit") continue;
      const Value* ops = frame.body.find("ops");
      if (!ops || !ops->is_array()) continue;
      for (const Value& op : ops->as_array()) {
        const Value* p = op.find("path");
        if (p && p->is_string() && p->as_string() == path) {
          std::cout << "firehose: #commit seq " << frame.body.find("seq")->as_integer() << " "
                    << op.find("action")->as_string() << " " << path << "\n";
          return 0;
        }
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "firehose_probe: " << e.what() << "\n";
    return 2;
  }
  std::cerr << "firehose_probe: no commit on " << path << "\n";
  return 1;
}

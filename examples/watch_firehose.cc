// watch_firehose: a PDS's or a hold's event stream
// (com.atproto.sync.subscribeRepos, from its first event), printing the
// io.atcr.* record operations of each #commit with its commit's signature
// checked against the author's DID document. Bounded: stops after
// MAX_EVENTS such operations or SECONDS seconds, whichever comes first.
//
//   watch_firehose https://pds.example.com [MAX_EVENTS [SECONDS]]   (defaults: 10, 30)
#include <chrono>
#include <iostream>
#include <map>
#include <string>

#include "atcr/data/car.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/pds/event_stream.h"
#include "atcr/repo/commit.h"
#include "atcr/xrpc/websocket_client.h"
#include "common.h"

namespace {

using namespace atcr;

// Whether the #commit's CAR holds a commit by `did` signed with its current key.
bool signed_by_author(const Value& body, identity::Resolver& resolver, std::map<std::string, PublicKey>& keys) {
  const std::string& did = body.at("repo").as_string();
  if (!keys.contains(did)) {
    auto key = resolver.resolve_did(did).signing_key();
    if (!key) return false;
    keys.emplace(did, *key);
  }
  car::Contents car = car::read(body.at("blocks").as_bytes());
  const Bytes* block = car.roots.empty() ? nullptr : car.blocks.find(car.roots.front());
  if (!block) return false;
  Commit commit = Commit::decode(*block);
  return commit.did == did && commit.verify(keys.at(did));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::cerr << "usage: watch_firehose SERVICE_URL [MAX_EVENTS [SECONDS]]\n";
    return 2;
  }
  const int max_events = argc > 2 ? std::stoi(argv[2]) : 10;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(argc > 3 ? std::stoi(argv[3]) : 30);
  try {
    identity::DirectoryResolver resolver(examples::resolver_options());
    std::map<std::string, PublicKey> keys;
    auto ws = xrpc::WebSocketClient::connect(std::string(argv[1]) + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0");
    int events = 0;
    while (events < max_events && std::chrono::steady_clock::now() < deadline) {
      auto message = ws->receive(std::chrono::milliseconds(500));
      if (!message) break;  // the service closed the stream
      if (message->kind != xrpc::WebSocketMessage::kBinary) continue;
      pds::Frame frame = pds::decode_frame(message->data);
      if (frame.op == -1) throw Error("the stream answered an error: " + frame.body.at("error").as_string());
      if (frame.type != "#commit") continue;
      bool printed_signature = false;
      for (const Value& op : frame.body.at("ops").as_array()) {
        const std::string& path = op.at("path").as_string();
        if (!path.starts_with("io.atcr.") || events >= max_events) continue;
        if (!printed_signature) {
          std::cout << "#" << frame.body.at("seq").as_integer() << " " << frame.body.at("repo").as_string() << " rev "
                    << frame.body.at("rev").as_string()
                    << (signed_by_author(frame.body, resolver, keys) ? " (signature ok)" : " (BAD SIGNATURE)") << "\n";
          printed_signature = true;
        }
        std::cout << "  " << op.at("action").as_string() << " " << path << "\n";
        ++events;
      }
    }
    ws->close();
    std::cout << events << " io.atcr.* events\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "watch_firehose: " << e.what() << "\n";
    return 1;
  }
}

// atcr_pds_tool: an EmbeddedPds on loopback for the reference implementation
// to check (tests/interop/pds-check.mjs drives it).
//
//   atcr_pds_tool <data_dir>
//
// Opens a PDS in <data_dir>, makes three commits (creates; an update, a
// delete and a create; a delete), serves it on 127.0.0.1 (ephemeral port)
// and prints one JSON line:
//   {"url", "did", "signingKey" (did:key), "head", "seq"}
// or {"skip": "<why>"} if this build's XRPC server has no subscriptions.
// Then reads commands from stdin, one per line, answering each with a JSON
// line: "write" makes another commit (an update, a create, a delete) and
// prints {"head", "seq"}; "quit" or end of input stops.
#include <iostream>
#include <stdexcept>
#include <string>

#include "atcr/data/json.h"
#include "atcr/pds/embedded_pds.h"
#include "atcr/pds/endpoints.h"
#include "atcr/xrpc/server.h"

using namespace atcr;

namespace {

Value record(const std::string& text, int n) {
  return Value(Value::Map{{"$type", Value("io.atcr.hold.layer")},
                          {"text", Value(text)},
                          {"n", Value(n)},
                          {"createdAt", Value("2025-01-01T00:00:00.000Z")}});
}

std::string line(Value::Map m) { return json::serialize(Value(std::move(m))); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: atcr_pds_tool <data_dir>\n";
    return 2;
  }
  try {
    pds::PdsConfig config;
    config.data_dir = argv[1];
    config.public_url = "http://localhost:2583";
    auto pds = pds::EmbeddedPds::open(config);

    const std::string coll = "io.atcr.hold.layer";
    std::vector<RecordWrite> creates;
    for (int i = 0; i < 30; ++i) creates.push_back(RecordWrite::create(coll, "r" + std::to_string(i), record("v", i)));
    pds->apply_writes(creates);
    pds->apply_writes({RecordWrite::update(coll, "r3", record("updated", 3)), RecordWrite::remove(coll, "r5"),
                       RecordWrite::create(coll, "s0", record("new", 100))});
    pds->apply_writes({RecordWrite::remove(coll, "r11")});

    xrpc::ServerOptions options;
    options.logger = nullptr;
    xrpc::XrpcServer server(options);
    pds::EndpointOptions endpoint_options;
    endpoint_options.firehose_poll = std::chrono::milliseconds(100);
    try {
      pds::register_endpoints(server, *pds, endpoint_options);
    } catch (const std::logic_error& e) {
      std::cout << line({{"skip", Value(std::string("no XRPC subscriptions: ") + e.what())}}) << std::endl;
      return 0;
    }
    server.start();
    std::cout << line({{"url", Value(server.url())},
                       {"did", Value(pds->did())},
                       {"signingKey", Value(pds->signing_key().did_key())},
                       {"head", Value(pds->head().to_string())},
                       {"seq", Value(pds->sequencer().current_seq())}})
              << std::endl;

    int round = 0;
    for (std::string command; std::getline(std::cin, command);) {
      if (command == "quit") break;
      if (command != "write") {
        std::cerr << "atcr_pds_tool: unknown command \"" << command << "\"\n";
        return 2;
      }
      ++round;
      std::string r = std::to_string(round);
      pds->apply_writes({RecordWrite::update(coll, "r" + std::to_string(20 + round), record("live", round)),
                         RecordWrite::create(coll, "live" + r, record("live", round)),
                         RecordWrite::remove(coll, "r" + std::to_string(round))});
      std::cout << line({{"head", Value(pds->head().to_string())}, {"seq", Value(pds->sequencer().current_seq())}})
                << std::endl;
    }
    server.stop();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "atcr_pds_tool: " << e.what() << "\n";
    return 1;
  }
}

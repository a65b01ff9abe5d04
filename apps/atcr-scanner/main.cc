// atcr-scanner: a vulnerability scanner for ATCR holds (library: atcr/scan).
//
//   atcr-scanner serve          take jobs from a hold until SIGTERM / SIGINT
//   atcr-scanner scan LAYER...  scan local layer tars; print the report
//   atcr-scanner job FILE       one job as the hold sends it (a scan_job JSON
//                               message), read from the hold; print
//                               {"summary", "sbom", "report"}, send nothing
//
// Settings come from the environment (ATCR's names) or flags:
//   SCANNER_HOLD_URL       --hold URL       the hold (http(s)://...)
//   SCANNER_SHARED_SECRET  --secret-file F  the hold's scanner.secret
//   SCANNER_OSV_DB         --db PATH        OSV database: a directory of JSON files or a zip
//   SCANNER_PLC_URL        --plc URL        where users' DIDs resolve, for jobs that list no
//                                           layers (default https://plc.directory)
//   SCANNER_DEVELOPMENT=true --development  users' PDS may be on loopback
//   --jobs N               serve: exit after N jobs (tests)
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "atcr/data/json.h"
#include "atcr/error.h"
#include "atcr/log.h"
#include "atcr/scan/scanner.h"
#include "service_cli.h"
#include "util/text.h"

using namespace atcr;

namespace {

const char* const kUsage = R"(usage: atcr-scanner <command> [options] [LAYER...]

commands:
  serve        take scan jobs from a hold until SIGTERM / SIGINT
  scan LAYER...  scan local layer tars; print the vulnerability report (exit 3 if any match)
  job FILE     scan one scan_job message from the hold by hand; print summary, SBOM and report
  version      print the version

options (or the environment, in ATCR's names):
  --hold URL        SCANNER_HOLD_URL       the hold (http(s)://...)
  --secret-file F   SCANNER_SHARED_SECRET  the hold's scanner.secret
  --db PATH         SCANNER_OSV_DB         OSV database: a directory of JSON files or a zip
  --plc URL         SCANNER_PLC_URL        where users' DIDs resolve, for jobs without layers
  --development     SCANNER_DEVELOPMENT    users' PDS may be on loopback
  --jobs N                                 serve: exit after N jobs
)";

struct Flags {
  std::string command;
  std::string hold_url;
  std::string secret;
  std::string db;
  std::string plc_url;
  bool development = false;
  std::optional<std::size_t> jobs;
  std::vector<std::string> files;
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("", "cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

Flags parse(int argc, char** argv) {
  Flags f;
  f.hold_url = env("SCANNER_HOLD_URL");
  f.secret = env("SCANNER_SHARED_SECRET");
  f.db = env("SCANNER_OSV_DB");
  f.plc_url = env("SCANNER_PLC_URL");
  f.development = env("SCANNER_DEVELOPMENT") == "true";
  if (argc < 2)
    throw ConfigError(
        "", "usage: atcr-scanner serve|scan|job [--hold URL] [--secret-file F] [--db PATH] [--plc URL] [--development]"
            " [--jobs N] [LAYER... | JOB]");
  f.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ConfigError(a, a + " needs a value");
      return argv[++i];
    };
    if (a == "--hold")
      f.hold_url = value();
    else if (a == "--secret-file")
      f.secret = read_file(value());
    else if (a == "--db")
      f.db = value();
    else if (a == "--plc")
      f.plc_url = value();
    else if (a == "--development")
      f.development = true;
    else if (a == "--jobs")
      f.jobs = std::stoul(value());
    else
      f.files.push_back(a);
  }
  f.secret = std::string(util::trim(f.secret, "\r\n"));
  if (f.db.empty()) throw ConfigError("SCANNER_OSV_DB", "set SCANNER_OSV_DB or --db to an OSV database");
  return f;
}

// The hold's scanner, as the flags describe it.
scan::Scanner hold_scanner(const Flags& f) {
  if (f.hold_url.empty()) throw ConfigError("SCANNER_HOLD_URL", "set SCANNER_HOLD_URL or --hold");
  if (f.secret.empty()) throw ConfigError("SCANNER_SHARED_SECRET", "set SCANNER_SHARED_SECRET or --secret-file");
  scan::OsvDatabase db = scan::OsvDatabase::load(f.db);
  log::info("scanner", "{} OSV entries loaded from {} ({} skipped)", db.size(), f.db, db.skipped());
  scan::ScannerOptions options;
  options.hold_url = f.hold_url;
  options.secret = f.secret;
  if (!f.plc_url.empty()) options.plc_url = f.plc_url;
  options.development = f.development;
  return scan::Scanner(options, std::move(db));
}

int scan_job(const Flags& f) {
  if (f.files.size() != 1) throw ConfigError("", "usage: atcr-scanner job FILE (a scan_job message)");
  scan::ScanJob job = scan::ScanJob::from_json(read_file(f.files[0]));
  scan::Scanner scanner = hold_scanner(f);
  scan::ScanResult r = scanner.scan(job);
  if (!r.error.empty()) throw Error("the scan failed: " + r.error);
  Value::Map summary{{"critical", Value(r.summary.critical)}, {"high", Value(r.summary.high)},
                     {"medium", Value(r.summary.medium)},     {"low", Value(r.summary.low)},
                     {"total", Value(r.summary.total)}};
  std::cout << json::serialize(Value(Value::Map{{"summary", Value(std::move(summary))},
                                                 {"sbom", json::parse(to_string(r.sbom))},
                                                 {"report", json::parse(to_string(r.vuln_report))}}))
            << "\n";
  return 0;
}

int serve(const Flags& f) {
  cli::block_signals();
  scan::Scanner scanner = hold_scanner(f);
  std::thread signals([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    scanner.stop();
  });
  signals.detach();
  if (f.jobs) {
    std::size_t done = 0;
    while (done < *f.jobs) done += scanner.serve_connection(*f.jobs - done);
    return 0;
  }
  scanner.run();
  return 0;
}

int scan_files(const Flags& f) {
  scan::OsvDatabase db = scan::OsvDatabase::load(f.db);
  std::vector<scan::LayerRef> layers;
  for (const std::string& path : f.files) layers.push_back({path, 0, ""});
  scan::ImageScan found = scan::scan_layers(
      layers,
      [](const scan::LayerRef& l) {
        std::string s = read_file(l.digest);
        return Bytes(s.begin(), s.end());
      },
      db, scan::LayerLimits{});
  for (const std::string& note : found.notes) log::info("scanner", "{}", note);
  scan::ImageRef image{"local", "local", "did:web:localhost"};
  std::cout << json::serialize(scan::vulnerability_report(image, found.matches, scan::kScannerVersion, db.size()))
            << "\n";
  return found.matches.empty() ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::guarded_main("atcr-scanner", [&] {
    std::string first = argc > 1 ? argv[1] : "";
    if (first == "--help" || first == "-h" || first == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (first == "--version" || first == "version") {
      std::printf("%.*s\n", static_cast<int>(scan::kScannerVersion.size()), scan::kScannerVersion.data());
      return 0;
    }
    Flags f = parse(argc, argv);
    if (f.command == "serve") return serve(f);
    if (f.command == "scan") return scan_files(f);
    if (f.command == "job") return scan_job(f);
    throw ConfigError("", "unknown command " + f.command + " (serve, scan, job)");
  });
}

// atcr: a command line for ATCR users.
//
//   atcr verify REGISTRY/IDENTITY/REPOSITORY[:TAG]
//       proves the tag is what its owner signed (atcr/verify/verify.h) and
//       prints what was proven;
//   atcr resolve HANDLE|DID
//       the identity, checked both ways: DID, handle, PDS, signing key.
//
// Exit status: 0 proven; 1 the evidence does not check out (a signature,
// proof, record or digest that does not match, a missing record, an
// identity that does not resolve); 2 a mistake on the command line; 3 a
// service could not be reached or refused to answer.
//
// The logic lives in libatcr; this file parses arguments and prints.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "atcr/data/datetime.h"
#include "atcr/data/json.h"
#include "atcr/data/tid.h"
#include "atcr/error.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/errors.h"
#include "atcr/verify/verify.h"
#include "atcr/version.h"
#include "atcr/xrpc/error.h"

namespace {

using atcr::Value;

constexpr const char* kUsage = R"(atcr: check ATCR images and identities

usage: atcr <command> [options] ARGUMENT

  verify REGISTRY/IDENTITY/REPOSITORY[:TAG]
                       prove that the tag is what its owner signed: the io.atcr.tag and
                       io.atcr.manifest records in their PDS (signed commit, MST proofs,
                       checked against the DID's current key) and the sha256 of the
                       manifest the registry serves (TAG defaults to latest)
  resolve HANDLE|DID   the identity, checked both ways: DID, handle, PDS, signing key
  version              print the version

options:
  --json                     print the result as one JSON object
  --creds USER:PASSWORD      credentials for the registry's token (verify; anonymous by default)
  --plc URL                  PLC directory (ATCR_IDENTITY_PLC_URL; default https://plc.directory)
  --handle-resolver URL      a PDS to ask com.atproto.identity.resolveHandle when DNS and
                             HTTPS find nothing (ATCR_IDENTITY_HANDLE_RESOLVER)
  --dev                      development: .test handles, did:web on localhost over http
                             (ATCR_IDENTITY_DEVELOPMENT=true)

exit status: 0 proven, 1 the evidence does not check out, 2 usage, 3 a service could not be
reached or refused.
)";

// A mistake on the command line.
struct CliError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

struct Args {
  std::string command;
  std::string argument;
  bool json = false;
  std::optional<atcr::verify::Credentials> creds;
  atcr::identity::ResolverOptions resolver;
};

atcr::verify::Credentials parse_creds(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) throw CliError("--creds takes USER:PASSWORD");
  return {text.substr(0, colon), text.substr(colon + 1)};
}

Args parse_args(int argc, char** argv) {
  Args a;
  if (std::string plc = env("ATCR_IDENTITY_PLC_URL"); !plc.empty()) a.resolver.plc_directory = plc;
  a.resolver.handles.resolver_service = env("ATCR_IDENTITY_HANDLE_RESOLVER");
  bool dev = env("ATCR_IDENTITY_DEVELOPMENT") == "true";
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw CliError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") positional.insert(positional.begin(), "help");
    else if (arg == "--json") a.json = true;
    else if (arg == "--dev") dev = true;
    else if (arg == "--creds") a.creds = parse_creds(value());
    else if (arg == "--plc") a.resolver.plc_directory = value();
    else if (arg == "--handle-resolver") a.resolver.handles.resolver_service = value();
    else if (arg.starts_with("--")) throw CliError("unknown option " + arg);
    else positional.push_back(arg);
  }
  a.resolver.handles.allow_test_handles = dev;
  a.resolver.did_web.allow_http_localhost = dev;
  if (positional.empty()) throw CliError("no command (atcr --help)");
  a.command = positional[0];
  if (a.command == "help" || a.command == "version") return a;
  if (positional.size() != 2) throw CliError(a.command + " takes one argument (atcr --help)");
  a.argument = positional[1];
  return a;
}

// A commit's rev is a TID: the time it was signed, as its signer's clock said.
std::string signed_at(const std::string& rev) {
  auto micros = std::chrono::microseconds(atcr::Tid::parse(rev).timestamp_us());
  return atcr::format_datetime(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(micros)));
}

Value record_json(const atcr::verify::ProvenRecord& r) {
  return Value(Value::Map{{"uri", Value(r.uri)},
                          {"cid", Value(r.cid.to_string())},
                          {"commit", Value(r.commit_cid.to_string())},
                          {"rev", Value(r.commit.rev)},
                          {"signedAt", Value(signed_at(r.commit.rev))}});
}

void print_provenance(const atcr::verify::Provenance& p, bool json) {
  if (json) {
    Value::Map out{{"verified", Value(p.ref.str())},
                   {"did", Value(p.did)},
                   {"handle", p.handle ? Value(*p.handle) : Value()},
                   {"pds", Value(p.pds)},
                   {"signingKey", Value(p.signing_key)},
                   {"tag", record_json(p.tag)},
                   {"manifest", record_json(p.manifest)},
                   {"digest", Value(p.digest.str())},
                   {"mediaType", Value(p.media_type)},
                   {"size", Value(static_cast<std::int64_t>(p.manifest_size))}};
    std::cout << atcr::json::serialize(Value(std::move(out))) << "\n";
    return;
  }
  std::cout << "verified " << p.ref.str() << "\n"
            << "  did:       " << p.did << "\n"
            << "  handle:    " << (p.handle ? *p.handle + " (resolves to the DID and back)" : "(none verified)")
            << "\n"
            << "  pds:       " << p.pds << "\n"
            << "  key:       " << p.signing_key << " (the DID's current #atproto key)\n"
            << "  tag:       " << p.tag.uri << "\n"
            << "             record " << p.tag.cid.to_string() << "\n"
            << "  manifest:  " << p.manifest.uri << "\n"
            << "             record " << p.manifest.cid.to_string() << "\n"
            << "  commit:    rev " << p.manifest.commit.rev << " (" << p.manifest.commit_cid.to_string()
            << "), signed " << signed_at(p.manifest.commit.rev) << "\n"
            << "  digest:    " << p.digest.str() << " = sha256 of the " << p.manifest_size << " bytes "
            << p.ref.registry << " serves (" << p.media_type << ")\n";
}

int verify(const Args& a) {
  auto ref = [&] {
    try {
      return atcr::verify::ImageRef::parse(a.argument);
    } catch (const atcr::Error& e) {
      throw CliError(e.what());
    }
  }();
  atcr::identity::DirectoryResolver resolver(a.resolver);
  atcr::net::HttpClient http;
  atcr::verify::Options options;
  options.credentials = a.creds;
  print_provenance(atcr::verify::verify_image(ref, resolver, http, options), a.json);
  return 0;
}

int resolve(const Args& a) {
  atcr::identity::DirectoryResolver resolver(a.resolver);
  atcr::identity::Identity id = resolver.resolve(a.argument, true);
  auto pds = id.document.pds_endpoint();
  auto key = id.document.signing_key();
  if (a.json) {
    Value::Map out{{"did", Value(id.did)},
                   {"handle", id.handle ? Value(*id.handle) : Value()},
                   {"pds", pds ? Value(*pds) : Value()},
                   {"signingKey", key ? Value(key->did_key()) : Value()}};
    std::cout << atcr::json::serialize(Value(std::move(out))) << "\n";
    return 0;
  }
  std::cout << "did:     " << id.did << "\n"
            << "handle:  " << (id.handle ? *id.handle + " (resolves to the DID and back)" : "(none verified)") << "\n"
            << "pds:     " << pds.value_or("(none)") << "\n"
            << "key:     " << (key ? key->did_key() : "(none)") << "\n";
  return 0;
}

int run(const Args& a) {
  if (a.command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (a.command == "version") {
    std::cout << "atcr " << ATCR_VERSION << "\n";
    return 0;
  }
  if (a.command == "verify") return verify(a);
  if (a.command == "resolve") return resolve(a);
  throw CliError("unknown command " + a.command + " (atcr --help)");
}

int fail(const std::string& command, int status, const char* what) {
  std::fprintf(stderr, "atcr %s: FAILED: %s\n", command.c_str(), what);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse_args(argc, argv);
    return run(args);
  } catch (const CliError& e) {
    std::fprintf(stderr, "atcr: %s\n", e.what());
    return 2;
  } catch (const atcr::net::HttpError& e) {
    return fail(args.command, 3, e.what());
  } catch (const atcr::xrpc::XrpcError& e) {
    return fail(args.command, 3, e.what());
  } catch (const atcr::oci::RegistryError& e) {
    return fail(args.command, 3, e.what());
  } catch (const std::exception& e) {
    return fail(args.command, 1, e.what());
  }
}

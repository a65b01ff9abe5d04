// Provenance of an image tag: proof that what a registry serves as
// <identity>/<repository>:<tag> is what the identity's owner signed in
// their own repo. No other registry can offer this: ATCR's manifests are
// records in a signed atproto repository.
//
//   DirectoryResolver resolver;
//   net::HttpClient http;
//   Provenance p = verify_image(ImageRef::parse("atcr.io/alice.example.com/app:v1"), resolver, http);
//   p.did, p.tag.commit.rev, p.digest ...
//
// verify_image() checks, in order:
//  1. the identity: a handle resolves to a DID whose document names the
//     handle back (a DID's handle is reported only when it does); the
//     document gives the PDS and the #atproto key. It is resolved fresh:
//     the key checked is the DID's current one.
//  2. the io.atcr.tag record <repository with / as ~>:<tag>, fetched from
//     the PDS with com.atproto.sync.getRecord: a CAR holding the signed
//     commit and the MST path to the record. The commit must be the DID's
//     and signed by its current key, the path must lead to the record.
//  3. the io.atcr.manifest record the tag names: by its `manifest` AT-URI
//     (a TID key, this DID's io.atcr.manifest collection), or, for tags an
//     older atcr wrote with only `manifestDigest`, by the legacy key
//     <repository>:<digest hex>. Proven as in 2.
//  4. that the records agree: the tag's repository and tag are the ones
//     asked for, the manifest record's repository too, its digest is the
//     tag's manifestDigest (when the tag has one) and the legacy key's
//     digest (when found by it), and its manifestBlob, if any, is a CID of
//     the same sha256.
//  5. that the registry serves those bytes: GET /v2/<name>/manifests/<tag>
//     (following its token challenge, anonymously unless credentials are
//     given), and the sha256 of the body must be the record's digest.
//     What the registry claims (Docker-Content-Digest) is not trusted.
//
// The steps are public too, for tools that fetch the evidence another way.
//
// Errors: every check that fails throws VerifyError saying which evidence
// contradicts which. A missing record (the PDS proves absence, or has no
// such record) is a NotFoundError; an identity that does not resolve, or
// a handle its DID document does not name, an identity::ResolutionError;
// services that cannot be reached or refuse: net::HttpError,
// xrpc::XrpcError, oci::RegistryError; malformed answers: ParseError. All
// derive from atcr::Error. Nothing is cached; the functions are
// thread-safe as far as the resolver and client given are.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "atcr/bytes.h"
#include "atcr/crypto/keys.h"
#include "atcr/data/cid.h"
#include "atcr/data/value.h"
#include "atcr/identity/resolver.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/digest.h"
#include "atcr/oci/records.h"
#include "atcr/oci/reference.h"
#include "atcr/repo/commit.h"

namespace atcr::verify {

// "<registry>/<identity>/<repository>[:<tag>]": the registry is always the
// first segment (host[:port], or with a scheme: "https://atcr.io"), the
// identity a handle or DID, the repository the rest; the tag defaults to
// "latest". Digest references (@sha256:...) are refused: a tag is what an
// owner signs a pointer for.
struct ImageRef {
  std::string registry;
  oci::ImageName name;
  std::string tag = "latest";

  // Throws ParseError (or oci::RegistryError for an invalid name or tag),
  // naming what is wrong.
  static ImageRef parse(std::string_view text);
  std::string str() const { return registry + "/" + name.str() + ":" + tag; }
};

// A record proven by a sync.getRecord CAR.
struct ProvenRecord {
  std::string uri;  // at://<did>/<collection>/<rkey>
  Cid cid;          // the record's CID, as the MST names it
  Value value;
  Commit commit;    // the signed commit the proof was made under
  Cid commit_cid;
};

struct Provenance {
  ImageRef ref;
  std::string did;
  std::optional<std::string> handle;  // verified both ways; absent if it does not
  std::string pds;                    // the DID document's #atproto_pds endpoint
  std::string signing_key;            // the #atproto key checked, as did:key
  ProvenRecord tag;
  ProvenRecord manifest;
  oci::Digest digest;                 // the manifest record's, = sha256 of the served bytes
  std::string media_type;             // as the registry served it
  std::size_t manifest_size = 0;      // bytes served
};

struct Credentials {
  std::string username;  // handle or DID
  std::string password;  // app password or device secret
};

struct Options {
  // For the registry's token realm; none: anonymous (public images).
  std::optional<Credentials> credentials;
};

// Runs steps 1-5 above. `http` is used for the PDS and the registry;
// identities go through `resolver` (fresh). Throws as described above.
Provenance verify_image(const ImageRef& ref, identity::Resolver& resolver, const net::HttpClient& http,
                        const Options& options = {});

// ---- the steps ------------------------------------------------------------

// Step 2/3's check of one sync.getRecord CAR for <collection>/<rkey> of
// `did` against `key`. Throws VerifyError (bad signature, another DID, a
// broken path), ParseError (not a CAR), NotFoundError when the proof shows
// the record absent.
ProvenRecord prove_record(BytesView car, std::string_view did, const PublicKey& key, std::string_view collection,
                          std::string_view rkey);

// Step 3: the record key of the manifest record `tag` names in `did`'s
// repo. Throws VerifyError when its AT-URI names another repo or
// collection, ParseError when it names neither a URI nor a digest.
std::string manifest_rkey_for(const oci::TagRecord& tag, std::string_view did);

// Step 4, given the two proven records and the manifest record's key.
// Returns the manifest record, read. Throws VerifyError / ParseError.
oci::ManifestRecord check_records(const ImageRef& ref, const ProvenRecord& tag, const ProvenRecord& manifest,
                                  std::string_view manifest_rkey);

// Step 5: the sha256 of `served` must be `digest`. Throws VerifyError
// naming both digests otherwise.
void check_served_manifest(BytesView served, const oci::Digest& digest);

}  // namespace atcr::verify

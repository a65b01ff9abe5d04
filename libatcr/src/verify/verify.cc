#include "atcr/verify/verify.h"

#include <fmt/core.h>

#include <memory>

#include "atcr/data/syntax.h"
#include "atcr/error.h"
#include "atcr/log.h"
#include "atcr/oci/registry_login.h"
#include "atcr/repo/repository.h"
#include "atcr/xrpc/client.h"

namespace atcr::verify {

namespace {

constexpr std::string_view kGetRecord = "com.atproto.sync.getRecord";

std::string record_uri(std::string_view did, std::string_view collection, std::string_view rkey) {
  return fmt::format("at://{}/{}/{}", did, collection, rkey);
}

// What a record's key says about its digest when it is not a TID: the
// legacy "<repository>:<hex>", or a bare hex from older writers.
bool legacy_key_names(std::string_view rkey, std::string_view repository, const oci::Digest& digest) {
  return rkey == oci::legacy_manifest_rkey(repository, digest) || rkey == digest.hex();
}

}  // namespace

ImageRef ImageRef::parse(std::string_view text) {
  ImageRef ref;
  std::string_view rest = text;
  std::string scheme;
  if (auto s = rest.find("://"); s != std::string_view::npos) {
    scheme = std::string(rest.substr(0, s + 3));
    if (scheme != "http://" && scheme != "https://")
      throw ParseError(fmt::format("'{}': the registry's scheme must be http or https", log::escape(text.substr(0, 80))));
    rest.remove_prefix(s + 3);
  }
  if (rest.find('@') != std::string_view::npos)
    throw ParseError("verify takes a tag (registry/identity/repository:tag), not a digest: a tag is the pointer "
                     "its owner signs");
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || rest.find('/', slash + 1) == std::string_view::npos)
    throw ParseError(fmt::format("'{}' is not registry/identity/repository[:tag]", log::escape(text.substr(0, 200))));
  ref.registry = scheme + std::string(rest.substr(0, slash));
  std::string_view name = rest.substr(slash + 1);
  std::size_t last_slash = name.rfind('/');
  if (auto colon = name.rfind(':'); colon != std::string_view::npos && colon > last_slash) {
    ref.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
  }
  oci::validate_tag(ref.tag);
  ref.name = oci::ImageName::parse(name);
  return ref;
}

ProvenRecord prove_record(BytesView car, std::string_view did, const PublicKey& key, std::string_view collection,
                          std::string_view rkey) {
  std::string uri = record_uri(did, collection, rkey);
  RecordProof proof = [&] {
    try {
      return check_record_proof(car, did, key, collection, rkey);
    } catch (const VerifyError& e) {
      throw VerifyError(fmt::format("the PDS's proof of {} does not verify: {}", uri, e.what()));
    } catch (const ParseError& e) {
      throw ParseError(fmt::format("the PDS's proof of {} is malformed: {}", uri, e.what()));
    }
  }();
  if (!proof.record)
    throw NotFoundError(fmt::format("{} does not exist: the PDS proves it absent at rev {}", uri, proof.commit.rev));
  return ProvenRecord{std::move(uri), proof.record->cid, std::move(proof.record->value), std::move(proof.commit),
                      proof.commit_cid};
}

std::string manifest_rkey_for(const oci::TagRecord& tag, std::string_view did) {
  if (!tag.manifest_uri.empty()) {
    auto rkey = oci::manifest_rkey_of(tag.manifest_uri, did);
    if (!rkey)
      throw VerifyError(fmt::format("the tag points at {}, which is not a record in {}'s {}",
                                    log::escape(tag.manifest_uri.substr(0, 300)), did, oci::kManifestCollection));
    return *rkey;
  }
  if (tag.manifest_digest) return oci::legacy_manifest_rkey(tag.repository, *tag.manifest_digest);
  throw ParseError("the tag record names no manifest (neither `manifest` nor `manifestDigest`)");
}

oci::ManifestRecord check_records(const ImageRef& ref, const ProvenRecord& tag_record,
                                  const ProvenRecord& manifest_record, std::string_view manifest_rkey) {
  oci::TagRecord tag = oci::TagRecord::from_value(tag_record.value);
  const std::string& repository = ref.name.repository;
  if (tag.repository != repository || tag.tag != ref.tag)
    throw VerifyError(fmt::format("the tag record {} says it is {}:{}, not {}:{}", tag_record.uri,
                                  log::escape(tag.repository.substr(0, 300)), log::escape(tag.tag.substr(0, 130)),
                                  repository, ref.tag));
  oci::ManifestRecord manifest = oci::ManifestRecord::from_value(manifest_record.value);
  if (manifest.repository != repository)
    throw VerifyError(fmt::format("the manifest record {} is for repository {}, not {}", manifest_record.uri,
                                  log::escape(manifest.repository.substr(0, 300)), repository));
  if (auto claimed = tag.digest(); claimed && *claimed != manifest.digest)
    throw VerifyError(fmt::format("the tag says {} but its manifest record {} says {}", claimed->str(),
                                  manifest_record.uri, manifest.digest.str()));
  if (!syntax::is_valid_tid(manifest_rkey) && !legacy_key_names(manifest_rkey, repository, manifest.digest))
    throw VerifyError(fmt::format("the manifest record's key {} is neither a TID nor the key of {}",
                                  log::escape(std::string(manifest_rkey).substr(0, 300)), manifest.digest.str()));
  if (manifest.manifest_blob) {
    const Cid& blob = *manifest.manifest_blob;
    bool same = blob.hash_code() == Cid::kSha256 && manifest.digest.algorithm() == "sha256" &&
                oci::Digest::from_sha256(blob.digest()) == manifest.digest;
    if (!same)
      throw VerifyError(fmt::format("the manifest record {} says {} but its manifestBlob is {}", manifest_record.uri,
                                    manifest.digest.str(), blob.to_string()));
  }
  return manifest;
}

void check_served_manifest(BytesView served, const oci::Digest& digest) {
  if (digest.algorithm() != "sha256")
    throw VerifyError(fmt::format("the record's digest {} is not sha256, which is all ATCR writes", digest.str()));
  oci::Digest actual = oci::Digest::of(served);
  if (actual != digest)
    throw VerifyError(fmt::format("the registry serves a manifest whose sha256 is {}, but the signed record says {}",
                                  actual.str(), digest.str()));
}

namespace {

// sync.getRecord's CAR; a record the PDS does not have is NotFoundError.
Bytes fetch_proof(const xrpc::XrpcClient& pds, std::string_view did, std::string_view collection,
                  std::string_view rkey) {
  try {
    return pds.query_raw(kGetRecord, xrpc::Params().add("did", did).add("collection", collection).add("rkey", rkey))
        .body;
  } catch (const xrpc::XrpcError& e) {
    if (e.error() == "RecordNotFound" || e.status() == 404)
      throw NotFoundError(fmt::format("{} does not exist: {} answered {} {}", record_uri(did, collection, rkey),
                                      pds.service_url(), e.error(), e.message()));
    throw;
  }
}

}  // namespace

Provenance verify_image(const ImageRef& ref, identity::Resolver& resolver, const net::HttpClient& http,
                        const Options& options) {
  // 1. The identity, fresh: the current key, and a handle confirmed both ways.
  identity::Identity id = resolver.resolve(ref.name.identity, true);
  auto pds_url = id.document.pds_endpoint();
  if (!pds_url) throw identity::ResolutionError(fmt::format("{}'s DID document names no PDS", id.did));
  auto key = id.document.signing_key();
  if (!key) throw identity::ResolutionError(fmt::format("{}'s DID document has no #atproto key", id.did));
  // A client over `http` without owning it (the caller keeps it alive).
  xrpc::XrpcClient pds(*pds_url, std::shared_ptr<const net::HttpClient>(std::shared_ptr<void>(), &http));

  // 2. The tag record.
  std::string tag_rkey = oci::tag_rkey(ref.name.repository, ref.tag);
  Bytes tag_car = fetch_proof(pds, id.did, oci::kTagCollection, tag_rkey);
  ProvenRecord tag = prove_record(tag_car, id.did, *key, oci::kTagCollection, tag_rkey);

  // 3. The manifest record it names.
  std::string manifest_rkey = manifest_rkey_for(oci::TagRecord::from_value(tag.value), id.did);
  Bytes manifest_car = fetch_proof(pds, id.did, oci::kManifestCollection, manifest_rkey);
  ProvenRecord manifest = prove_record(manifest_car, id.did, *key, oci::kManifestCollection, manifest_rkey);

  // 4. The records agree.
  oci::ManifestRecord record = check_records(ref, tag, manifest, manifest_rkey);

  // 5. The registry serves exactly those bytes.
  std::string user = options.credentials ? options.credentials->username : std::string();
  std::string password = options.credentials ? options.credentials->password : std::string();
  oci::ServedManifest served =
      oci::fetch_manifest(http, oci::registry_base_url(ref.registry), ref.name.str(), ref.tag, user, password);
  check_served_manifest(served.body, record.digest);

  return Provenance{ref,
                    id.did,
                    id.handle,
                    *pds_url,
                    key->did_key(),
                    std::move(tag),
                    std::move(manifest),
                    record.digest,
                    served.media_type,
                    served.body.size()};
}

}  // namespace atcr::verify

// The C interface (atcr.h) over the C++ API: each function catches every
// exception and turns it into an *errptr message.
#include "atcr.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atcr/crypto/keys.h"
#include "atcr/data/cbor.h"
#include "atcr/data/json.h"
#include "atcr/identity/directory_resolver.h"
#include "atcr/net/http_client.h"
#include "atcr/oci/digest.h"
#include "atcr/oci/manifest.h"
#include "atcr/oci/reference.h"
#include "atcr/oci/registry_login.h"
#include "atcr/repo/repository.h"
#include "atcr/repo/storage.h"
#include "atcr/s3/client.h"
#include "atcr/version.h"

using namespace atcr;

struct atcr_reference_t {
  std::string registry, identity, repository, tag, digest;
};
struct atcr_manifest_t {
  oci::Manifest m;
  std::string config_digest;
  std::vector<oci::Descriptor> children;
};
struct atcr_resolver_t {
  std::unique_ptr<identity::DirectoryResolver> r;
};
struct atcr_identity_t {
  std::string did, handle, pds, signing_key, document_json;
};
struct atcr_repo_t {
  VerifiedRepo repo;
  std::string commit_cid, rev, did;
  std::vector<std::string> cids;
};
struct atcr_key_t {
  PrivateKey key;
};
struct atcr_repo_builder_t {
  MemoryRepoStorage storage;
  const PrivateKey* key;
  std::optional<Repository> repo;
  std::string did;
};

namespace {

char* copy(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

unsigned char* copy_bytes(BytesView b, size_t* len) {
  auto* out = static_cast<unsigned char*>(std::malloc(b.empty() ? 1 : b.size()));
  if (!out) return nullptr;
  if (!b.empty()) std::memcpy(out, b.data(), b.size());
  *len = b.size();
  return out;
}

void set_error(char** errptr, const char* message) {
  if (!errptr) return;
  std::free(*errptr);
  *errptr = copy(message);
}

// Runs `f`; an exception becomes *errptr and `fallback` is returned.
template <class F, class R = std::invoke_result_t<F>>
R guarded(char** errptr, R fallback, F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    set_error(errptr, e.what());
  } catch (...) {
    set_error(errptr, "unknown error");
  }
  return fallback;
}

std::string str(const char* s) { return s ? std::string(s) : std::string(); }
BytesView view(const unsigned char* data, size_t len) { return BytesView(data, len); }

// oci::fetch_manifest with the caller's token; the bytes must hash to the
// digest the registry names, and to `reference` when it is a digest.
oci::ServedManifest fetch_checked(const char* registry_url, const char* name, const char* reference,
                                  const char* token) {
  oci::ServedManifest m = oci::fetch_manifest(net::HttpClient(), oci::registry_base_url(str(registry_url)), str(name),
                                              str(reference), oci::PullAuth{{}, {}, str(token)});
  std::string actual = oci::Digest::of(BytesView(m.body)).str();
  if (!m.digest.empty() && m.digest != actual)
    throw VerifyError("the registry names digest " + m.digest + " but the bytes hash to " + actual);
  if (oci::Digest::valid(str(reference)) && str(reference) != actual)
    throw VerifyError("asked for " + str(reference) + " but the bytes hash to " + actual);
  m.digest = actual;
  return m;
}

}  // namespace

extern "C" {

int atcr_abi_version(void) { return ATCR_C_ABI_VERSION; }
const char* atcr_version(void) { return ATCR_VERSION; }
void atcr_free(void* ptr) { std::free(ptr); }

char* atcr_digest_of(const unsigned char* data, size_t len) {
  return guarded(nullptr, static_cast<char*>(nullptr), [&] { return copy(oci::Digest::of(view(data, len)).str()); });
}

int atcr_digest_validate(const char* digest, char** errptr) {
  return guarded(errptr, 0, [&] {
    oci::Digest::parse(str(digest));
    return 1;
  });
}

atcr_reference_t* atcr_reference_parse(const char* text, char** errptr) {
  return guarded(errptr, static_cast<atcr_reference_t*>(nullptr), [&] {
    std::string t = str(text);
    auto ref = std::make_unique<atcr_reference_t>();
    // A registry host is a first component with a '.' or ':' that is
    // followed by two more components (<host>/<identity>/<repo>).
    std::string_view rest = t;
    if (auto at = rest.find('@'); at != std::string_view::npos) {
      ref->digest = oci::Digest::parse(rest.substr(at + 1)).str();
      rest = rest.substr(0, at);
    }
    auto last_slash = rest.rfind('/');
    if (auto colon = rest.rfind(':'); colon != std::string_view::npos &&
                                      (last_slash == std::string_view::npos || colon > last_slash)) {
      if (!ref->digest.empty()) throw ParseError("a reference has a tag or a digest, not both");
      ref->tag = oci::Reference::tag(rest.substr(colon + 1)).tag_name();
      rest = rest.substr(0, colon);
    }
    auto first = rest.find('/');
    if (first != std::string_view::npos && rest.find('/', first + 1) != std::string_view::npos &&
        !rest.starts_with("did:")) {
      std::string_view host = rest.substr(0, first);
      if (host.find('.') != std::string_view::npos || host.find(':') != std::string_view::npos ||
          host == "localhost") {
        // "<registry>/<handle>/<repo>": the handle has a dot too, so a
        // registry is only split off when a handle still follows it.
        std::string_view after = rest.substr(first + 1);
        std::string_view second = after.substr(0, after.find('/'));
        if (second.find('.') != std::string_view::npos || second.starts_with("did:")) {
          ref->registry = std::string(host);
          rest = after;
        }
      }
    }
    oci::ImageName name = oci::ImageName::parse(rest);
    ref->identity = name.identity;
    ref->repository = name.repository;
    if (ref->tag.empty() && ref->digest.empty()) ref->tag = "latest";
    return ref.release();
  });
}

void atcr_reference_destroy(atcr_reference_t* ref) { delete ref; }
const char* atcr_reference_registry(const atcr_reference_t* ref) { return ref->registry.c_str(); }
const char* atcr_reference_identity(const atcr_reference_t* ref) { return ref->identity.c_str(); }
const char* atcr_reference_repository(const atcr_reference_t* ref) { return ref->repository.c_str(); }
const char* atcr_reference_tag(const atcr_reference_t* ref) { return ref->tag.c_str(); }
const char* atcr_reference_digest(const atcr_reference_t* ref) { return ref->digest.c_str(); }

atcr_manifest_t* atcr_manifest_parse(const unsigned char* data, size_t len, const char* content_type,
                                     char** errptr) {
  return guarded(errptr, static_cast<atcr_manifest_t*>(nullptr), [&] {
    auto out = std::make_unique<atcr_manifest_t>(
        atcr_manifest_t{oci::Manifest::parse(view(data, len), str(content_type)), {}, {}});
    if (out->m.config) out->config_digest = out->m.config->digest.str();
    out->children = out->m.is_index() ? out->m.manifests : out->m.layers;
    return out.release();
  });
}

void atcr_manifest_destroy(atcr_manifest_t* manifest) { delete manifest; }
const char* atcr_manifest_digest(const atcr_manifest_t* m) { return m->m.digest.str().c_str(); }
const char* atcr_manifest_media_type(const atcr_manifest_t* m) { return m->m.media_type.c_str(); }
int atcr_manifest_is_index(const atcr_manifest_t* m) { return m->m.is_index() ? 1 : 0; }
const char* atcr_manifest_config_digest(const atcr_manifest_t* m) { return m->config_digest.c_str(); }
size_t atcr_manifest_child_count(const atcr_manifest_t* m) { return m->children.size(); }
const char* atcr_manifest_child_digest(const atcr_manifest_t* m, size_t i) {
  return i < m->children.size() ? m->children[i].digest.str().c_str() : "";
}
uint64_t atcr_manifest_child_size(const atcr_manifest_t* m, size_t i) {
  return i < m->children.size() ? m->children[i].size : 0;
}

atcr_resolver_t* atcr_resolver_create(const char* plc_url, int development, char** errptr) {
  return guarded(errptr, static_cast<atcr_resolver_t*>(nullptr), [&] {
    identity::ResolverOptions o;
    if (plc_url && *plc_url) o.plc_directory = plc_url;
    if (development) {
      o.handles.allow_test_handles = true;
      o.did_web.allow_http_localhost = true;
    }
    return new atcr_resolver_t{std::make_unique<identity::DirectoryResolver>(o)};
  });
}

void atcr_resolver_destroy(atcr_resolver_t* resolver) { delete resolver; }

atcr_identity_t* atcr_resolve(atcr_resolver_t* resolver, const char* handle_or_did, char** errptr) {
  return guarded(errptr, static_cast<atcr_identity_t*>(nullptr), [&] {
    identity::Identity id = resolver->r->resolve(str(handle_or_did));
    auto out = std::make_unique<atcr_identity_t>();
    out->did = id.did;
    out->handle = id.handle.value_or("");
    out->pds = id.document.pds_endpoint().value_or("");
    if (auto key = id.document.signing_key()) out->signing_key = key->did_key();
    out->document_json = id.document.to_json();
    return out.release();
  });
}

void atcr_identity_destroy(atcr_identity_t* identity) { delete identity; }
const char* atcr_identity_did(const atcr_identity_t* id) { return id->did.c_str(); }
const char* atcr_identity_handle(const atcr_identity_t* id) { return id->handle.c_str(); }
const char* atcr_identity_pds(const atcr_identity_t* id) { return id->pds.c_str(); }
const char* atcr_identity_signing_key(const atcr_identity_t* id) { return id->signing_key.c_str(); }
char* atcr_identity_document_json(const atcr_identity_t* id) { return copy(id->document_json); }

atcr_repo_t* atcr_repo_read_car(const unsigned char* car, size_t len, const char* did_key, char** errptr) {
  return guarded(errptr, static_cast<atcr_repo_t*>(nullptr), [&] {
    auto out = std::make_unique<atcr_repo_t>(atcr_repo_t{
        did_key && *did_key ? verify_repo_car(view(car, len), "", PublicKey::from_did_key(did_key))
                            : read_repo_car(view(car, len)),
        {}, {}, {}, {}});
    out->commit_cid = out->repo.commit_cid.to_string();
    out->rev = out->repo.commit.rev;
    out->did = out->repo.commit.did;
    for (const RecordEntry& r : out->repo.records) out->cids.push_back(r.cid.to_string());
    return out.release();
  });
}

void atcr_repo_destroy(atcr_repo_t* repo) { delete repo; }
const char* atcr_repo_did(const atcr_repo_t* r) { return r->did.c_str(); }
const char* atcr_repo_rev(const atcr_repo_t* r) { return r->rev.c_str(); }
const char* atcr_repo_commit_cid(const atcr_repo_t* r) { return r->commit_cid.c_str(); }
size_t atcr_repo_record_count(const atcr_repo_t* r) { return r->repo.records.size(); }
const char* atcr_repo_record_collection(const atcr_repo_t* r, size_t i) {
  return i < r->repo.records.size() ? r->repo.records[i].collection.c_str() : "";
}
const char* atcr_repo_record_rkey(const atcr_repo_t* r, size_t i) {
  return i < r->repo.records.size() ? r->repo.records[i].rkey.c_str() : "";
}
const char* atcr_repo_record_cid(const atcr_repo_t* r, size_t i) { return i < r->cids.size() ? r->cids[i].c_str() : ""; }

char* atcr_repo_record_json(const atcr_repo_t* r, size_t i, char** errptr) {
  return guarded(errptr, static_cast<char*>(nullptr), [&] {
    if (i >= r->repo.records.size()) throw NotFoundError("no record at that index");
    const Bytes* bytes = r->repo.blocks.find(r->repo.records[i].cid);
    if (!bytes) throw VerifyError("the CAR lacks the record's block");
    return copy(json::serialize(cbor::decode(*bytes)));
  });
}

char* atcr_verify_record_proof(const unsigned char* car, size_t len, const char* did, const char* did_key,
                               const char* collection, const char* rkey, char** errptr) {
  return guarded(errptr, static_cast<char*>(nullptr), [&] {
    std::optional<Record> record = verify_record_proof(view(car, len), str(did), PublicKey::from_did_key(str(did_key)),
                                                       str(collection), str(rkey));
    if (!record) throw NotFoundError("absent: the proof shows no such record");
    return copy(json::serialize(record->value));
  });
}

atcr_key_t* atcr_key_generate(const char* type, char** errptr) {
  return guarded(errptr, static_cast<atcr_key_t*>(nullptr), [&] {
    std::string t = str(type);
    if (t != "p256" && t != "k256") throw ParseError("key type must be \"p256\" or \"k256\"");
    return new atcr_key_t{PrivateKey::generate(t == "p256" ? KeyType::kP256 : KeyType::kSecp256k1)};
  });
}

void atcr_key_destroy(atcr_key_t* key) { delete key; }
char* atcr_key_did_key(const atcr_key_t* key) { return copy(key->key.public_key().did_key()); }

atcr_repo_builder_t* atcr_repo_builder_create(const char* did, const atcr_key_t* key, char** errptr) {
  return guarded(errptr, static_cast<atcr_repo_builder_t*>(nullptr), [&] {
    auto b = std::make_unique<atcr_repo_builder_t>();
    b->key = &key->key;
    b->did = str(did);
    b->repo.emplace(Repository::create(b->storage, b->did, *b->key));
    return b.release();
  });
}

void atcr_repo_builder_destroy(atcr_repo_builder_t* builder) { delete builder; }

char* atcr_repo_builder_put(atcr_repo_builder_t* b, const char* collection, const char* rkey,
                            const char* record_json, char** errptr) {
  return guarded(errptr, static_cast<char*>(nullptr), [&] {
    Value record = json::parse_record(str(record_json));
    bool exists = b->repo->get_record(str(collection), str(rkey)).has_value();
    b->repo->apply_writes({exists ? RecordWrite::update(str(collection), str(rkey), std::move(record))
                                  : RecordWrite::create(str(collection), str(rkey), std::move(record))},
                          *b->key);
    return copy(b->repo->get_record(str(collection), str(rkey))->cid.to_string());
  });
}

unsigned char* atcr_repo_builder_export_car(const atcr_repo_builder_t* b, size_t* len, char** errptr) {
  return guarded(errptr, static_cast<unsigned char*>(nullptr), [&] { return copy_bytes(b->repo->export_car(), len); });
}

char* atcr_s3_presign(const char* endpoint, const char* bucket, const char* region, const char* access_key_id,
                      const char* secret_access_key, int path_style, const char* method, const char* key,
                      int64_t expires_seconds, char** errptr) {
  return guarded(errptr, static_cast<char*>(nullptr), [&] {
    s3::S3Config c;
    c.endpoint = str(endpoint);
    c.bucket = str(bucket);
    if (region && *region) c.region = region;
    c.credentials.access_key_id = str(access_key_id);
    c.credentials.secret_access_key = str(secret_access_key);
    c.path_style = path_style != 0;
    if (expires_seconds < 1 || expires_seconds > 7 * 24 * 3600)
      throw ParseError("expires_seconds must be between 1 and 604800");
    s3::S3Client client(c);
    std::string m = str(method);
    std::chrono::seconds expires(expires_seconds);
    if (m == "GET") return copy(client.presign_get(str(key), expires));
    if (m == "HEAD") return copy(client.presign_head(str(key), expires));
    if (m == "PUT") return copy(client.presign_put(str(key), expires));
    throw ParseError("method must be GET, HEAD or PUT");
  });
}

unsigned char* atcr_registry_get_manifest(const char* registry_url, const char* name, const char* reference,
                                          const char* token, size_t* len, char** content_type, char** errptr) {
  return guarded(errptr, static_cast<unsigned char*>(nullptr), [&] {
    oci::ServedManifest m = fetch_checked(registry_url, name, reference, token);
    if (content_type) {
      std::free(*content_type);
      *content_type = copy(oci::content_type_media_type(m.media_type));
    }
    return copy_bytes(m.body, len);
  });
}

char* atcr_registry_resolve_tag(const char* registry_url, const char* name, const char* tag, const char* token,
                                char** errptr) {
  return guarded(errptr, static_cast<char*>(nullptr),
                 [&] { return copy(fetch_checked(registry_url, name, tag, token).digest); });
}

char* atcr_registry_login(const char* registry_url, const char* username, const char* password, const char* scope,
                          char** errptr) {
  return guarded(errptr, static_cast<char*>(nullptr), [&] {
    net::HttpClient http;
    return copy(oci::registry_login(http, oci::registry_base_url(str(registry_url)), str(username), str(password),
                                    str(scope)));
  });
}

}  // extern "C"

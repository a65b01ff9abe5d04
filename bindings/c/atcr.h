/* atcr.h: libatcr's C interface, for programs and languages that cannot use
 * the C++ API (the Python package in bindings/python uses it).
 *
 * Conventions (as LevelDB's c.h):
 *  - Objects are opaque handles made by atcr_<thing>_create / _parse / _read
 *    and released by the matching atcr_<thing>_destroy. A handle is used by
 *    one thread at a time; distinct handles are independent.
 *  - A function that can fail takes `char** errptr` last. On failure it
 *    stores a malloc'd message in *errptr (freeing any message already
 *    there) and returns NULL / 0; on success *errptr is left alone. Free the
 *    message with atcr_free. errptr must not be NULL.
 *  - A returned `char*` or `unsigned char*` is owned by the caller: free it
 *    with atcr_free. A returned `const char*` belongs to the handle it came
 *    from and lives as long as that handle.
 *  - Strings are NUL-terminated UTF-8. No C++ exception crosses this
 *    interface.
 */
#ifndef ATCR_C_H_
#define ATCR_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version of this header: raised when a function's signature or
 * meaning changes. Compare with atcr_abi_version() at run time. */
#define ATCR_C_ABI_VERSION 1

int atcr_abi_version(void);
/* The library's version, "0.1.0" (static storage; do not free). */
const char* atcr_version(void);
/* Frees anything this interface hands out as owned (strings, byte buffers,
 * error messages). NULL is ignored. */
void atcr_free(void* ptr);

/* ---- OCI: digests, references, manifests ---- */

/* "sha256:<64 hex>" of `len` bytes. Owned. */
char* atcr_digest_of(const unsigned char* data, size_t len);
/* 1 if `digest` is a valid OCI digest this library can verify, else 0 and
 * *errptr says why. */
int atcr_digest_validate(const char* digest, char** errptr);

/* An image name and reference: "<handle-or-DID>/<repository>[:tag|@digest]"
 * (a registry host in front, "registry.example/alice.example/app:1", is
 * split off too). */
typedef struct atcr_reference_t atcr_reference_t;
atcr_reference_t* atcr_reference_parse(const char* text, char** errptr);
void atcr_reference_destroy(atcr_reference_t* ref);
const char* atcr_reference_registry(const atcr_reference_t* ref);   /* "" when none */
const char* atcr_reference_identity(const atcr_reference_t* ref);   /* handle or DID */
const char* atcr_reference_repository(const atcr_reference_t* ref);
const char* atcr_reference_tag(const atcr_reference_t* ref);        /* "" for a digest */
const char* atcr_reference_digest(const atcr_reference_t* ref);     /* "" for a tag */

/* A parsed and validated manifest (image manifest or index; OCI or Docker). */
typedef struct atcr_manifest_t atcr_manifest_t;
/* `content_type` may be NULL or "" (taken from the body's mediaType). */
atcr_manifest_t* atcr_manifest_parse(const unsigned char* data, size_t len, const char* content_type,
                                     char** errptr);
void atcr_manifest_destroy(atcr_manifest_t* manifest);
const char* atcr_manifest_digest(const atcr_manifest_t* manifest);  /* of the exact bytes */
const char* atcr_manifest_media_type(const atcr_manifest_t* manifest);
int atcr_manifest_is_index(const atcr_manifest_t* manifest);
/* "" for an index. */
const char* atcr_manifest_config_digest(const atcr_manifest_t* manifest);
/* Layers of an image manifest, or the manifests an index lists. */
size_t atcr_manifest_child_count(const atcr_manifest_t* manifest);
const char* atcr_manifest_child_digest(const atcr_manifest_t* manifest, size_t i);
uint64_t atcr_manifest_child_size(const atcr_manifest_t* manifest, size_t i);

/* ---- Identity: handles and DIDs ---- */

typedef struct atcr_resolver_t atcr_resolver_t;
/* `plc_url` NULL = "https://plc.directory". `development` != 0 also
 * resolves .test handles and did:web on loopback over http. */
atcr_resolver_t* atcr_resolver_create(const char* plc_url, int development, char** errptr);
void atcr_resolver_destroy(atcr_resolver_t* resolver);

typedef struct atcr_identity_t atcr_identity_t;
/* A handle or DID -> the DID, its verified handle, PDS and signing key.
 * Network calls; thread-safe per resolver handle. */
atcr_identity_t* atcr_resolve(atcr_resolver_t* resolver, const char* handle_or_did, char** errptr);
void atcr_identity_destroy(atcr_identity_t* identity);
const char* atcr_identity_did(const atcr_identity_t* identity);
const char* atcr_identity_handle(const atcr_identity_t* identity);       /* "" if it does not verify */
const char* atcr_identity_pds(const atcr_identity_t* identity);          /* "" if none */
const char* atcr_identity_signing_key(const atcr_identity_t* identity);  /* did:key, "" if none */
/* The DID document as JSON. Owned. */
char* atcr_identity_document_json(const atcr_identity_t* identity);

/* ---- Repositories: CARs, commits, record proofs ---- */

typedef struct atcr_repo_t atcr_repo_t;
/* Reads a whole-repo CAR: every block against its CID, the MST, every
 * record present. `did_key` non-NULL: the commit's signature must verify
 * against it (a did:key) too. */
atcr_repo_t* atcr_repo_read_car(const unsigned char* car, size_t len, const char* did_key, char** errptr);
void atcr_repo_destroy(atcr_repo_t* repo);
const char* atcr_repo_did(const atcr_repo_t* repo);
const char* atcr_repo_rev(const atcr_repo_t* repo);
const char* atcr_repo_commit_cid(const atcr_repo_t* repo);
size_t atcr_repo_record_count(const atcr_repo_t* repo);
const char* atcr_repo_record_collection(const atcr_repo_t* repo, size_t i);
const char* atcr_repo_record_rkey(const atcr_repo_t* repo, size_t i);
const char* atcr_repo_record_cid(const atcr_repo_t* repo, size_t i);
/* The record as JSON (atproto's JSON form). Owned. */
char* atcr_repo_record_json(const atcr_repo_t* repo, size_t i, char** errptr);

/* Verifies a record proof CAR (com.atproto.sync.getRecord's answer) signed
 * by `did_key` for `did`: returns the record as JSON (owned), or NULL with
 * *errptr set; a valid proof that the record is absent is an error too
 * ("absent"). */
char* atcr_verify_record_proof(const unsigned char* car, size_t len, const char* did, const char* did_key,
                               const char* collection, const char* rkey, char** errptr);

/* ---- Keys and signed repositories ---- */

typedef struct atcr_key_t atcr_key_t;
/* `type` "p256" or "k256". */
atcr_key_t* atcr_key_generate(const char* type, char** errptr);
void atcr_key_destroy(atcr_key_t* key);
/* The public key as a did:key. Owned. */
char* atcr_key_did_key(const atcr_key_t* key);

/* An in-memory repository for `did`, signed by `key` (which must outlive
 * it). Records are given as JSON objects with a "$type". */
typedef struct atcr_repo_builder_t atcr_repo_builder_t;
atcr_repo_builder_t* atcr_repo_builder_create(const char* did, const atcr_key_t* key, char** errptr);
void atcr_repo_builder_destroy(atcr_repo_builder_t* builder);
/* Adds or replaces a record in one signed commit. Returns the record's CID
 * (owned). */
char* atcr_repo_builder_put(atcr_repo_builder_t* builder, const char* collection, const char* rkey,
                            const char* record_json, char** errptr);
/* The whole repository as a CAR (owned, *len set). */
unsigned char* atcr_repo_builder_export_car(const atcr_repo_builder_t* builder, size_t* len, char** errptr);

/* ---- S3 ---- */

/* A presigned URL (SigV4, query string) for `method` ("GET", "HEAD" or
 * "PUT") on `key` valid for `expires_seconds` (1..604800). `path_style`
 * != 0: <endpoint>/<bucket>/<key>. No network. Owned. */
char* atcr_s3_presign(const char* endpoint, const char* bucket, const char* region, const char* access_key_id,
                      const char* secret_access_key, int path_style, const char* method, const char* key,
                      int64_t expires_seconds, char** errptr);

/* ---- Registry client ---- */

/* GET <registry_url>/v2/<name>/manifests/<reference> with `token` (a
 * registry Bearer token; NULL or "" for anonymous pulls). Returns the
 * manifest bytes (owned; *len set) after checking they hash to the digest
 * the registry names (and to `reference` when it is a digest);
 * *content_type (owned) gets the media type when non-NULL. */
unsigned char* atcr_registry_get_manifest(const char* registry_url, const char* name, const char* reference,
                                          const char* token, size_t* len, char** content_type, char** errptr);
/* The digest a tag points to: that of the manifest bytes served (GET,
 * checked as atcr_registry_get_manifest does), owned. */
char* atcr_registry_resolve_tag(const char* registry_url, const char* name, const char* tag, const char* token,
                                char** errptr);
/* A registry token for `name` with `scope` ("repository:<name>:pull") from
 * the registry's token realm; username/password NULL for anonymous. Owned. */
char* atcr_registry_login(const char* registry_url, const char* username, const char* password, const char* scope,
                          char** errptr);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* ATCR_C_H_ */

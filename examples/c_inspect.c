/* c_inspect: libatcr's C interface (atcr.h) from plain C. Builds and signs a
 * repository holding an io.atcr.manifest record, exports it as a CAR,
 * reads the CAR back verifying the signature against the did:key alone,
 * parses and digests an OCI manifest, and presigns an S3 URL.
 *
 *   c_inspect            (no network) */
#include <stdio.h>
#include <string.h>

#include <atcr.h>

static int fail(const char* what, char* err) {
  fprintf(stderr, "c_inspect: %s: %s\n", what, err ? err : "(no message)");
  atcr_free(err);
  return 1;
}

int main(void) {
  char* err = NULL;
  if (atcr_abi_version() != ATCR_C_ABI_VERSION) {
    fprintf(stderr, "c_inspect: built for ABI %d, running with %d\n", ATCR_C_ABI_VERSION, atcr_abi_version());
    return 1;
  }
  printf("libatcr %s (C ABI %d)\n", atcr_version(), atcr_abi_version());

  const char* manifest =
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":2,"
      "\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"},"
      "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":3,"
      "\"digest\":\"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\"}]}";
  atcr_manifest_t* m = atcr_manifest_parse((const unsigned char*)manifest, strlen(manifest), NULL, &err);
  if (!m) return fail("manifest", err);
  printf("manifest %s (%s), config %s, %zu layer(s)\n", atcr_manifest_digest(m), atcr_manifest_media_type(m),
         atcr_manifest_config_digest(m), atcr_manifest_child_count(m));

  atcr_manifest_t* bad = atcr_manifest_parse((const unsigned char*)"{\"schemaVersion\":1}", 19, NULL, &err);
  if (bad || !err) return fail("a schemaVersion 1 manifest was accepted", NULL);
  printf("refused as expected: %s\n", err);
  atcr_free(err);
  err = NULL;

  atcr_key_t* key = atcr_key_generate("k256", &err);
  if (!key) return fail("key", err);
  char* did_key = atcr_key_did_key(key);
  atcr_repo_builder_t* b = atcr_repo_builder_create("did:web:c-example.test", key, &err);
  if (!b) return fail("repo", err);
  char record[512];
  snprintf(record, sizeof record,
           "{\"$type\":\"io.atcr.manifest\",\"repository\":\"app\",\"digest\":\"%s\",\"mediaType\":\"%s\","
           "\"schemaVersion\":2,\"createdAt\":\"2026-01-01T00:00:00.000Z\"}",
           atcr_manifest_digest(m), atcr_manifest_media_type(m));
  char* cid = atcr_repo_builder_put(b, "io.atcr.manifest", "3kabcdefghi22", record, &err);
  if (!cid) return fail("put", err);
  size_t car_len = 0;
  unsigned char* car = atcr_repo_builder_export_car(b, &car_len, &err);
  if (!car) return fail("export", err);

  atcr_repo_t* repo = atcr_repo_read_car(car, car_len, did_key, &err);
  if (!repo) return fail("read CAR", err);
  printf("verified repo %s rev %s: %zu record(s)\n", atcr_repo_did(repo), atcr_repo_rev(repo),
         atcr_repo_record_count(repo));
  for (size_t i = 0; i < atcr_repo_record_count(repo); ++i)
    printf("  %s/%s %s\n", atcr_repo_record_collection(repo, i), atcr_repo_record_rkey(repo, i),
           strcmp(atcr_repo_record_cid(repo, i), cid) == 0 ? "(the CID put returned)" : "(another CID!)");

  /* A CAR checked against another key fails. */
  atcr_key_t* other = atcr_key_generate("p256", &err);
  char* other_did_key = atcr_key_did_key(other);
  atcr_repo_t* forged = atcr_repo_read_car(car, car_len, other_did_key, &err);
  if (forged || !err) return fail("a CAR verified against the wrong key", NULL);
  printf("wrong key refused: %s\n", err);
  atcr_free(err);
  err = NULL;

  char* url = atcr_s3_presign("http://127.0.0.1:7480", "blobs", "us-east-1", "AKID", "secret", 1, "GET",
                              "docker/registry/v2/blobs/sha256/2c/x/data", 900, &err);
  if (!url) return fail("presign", err);
  printf("presigned: %.60s...\n", url);

  atcr_free(url);
  atcr_free(other_did_key);
  atcr_key_destroy(other);
  atcr_repo_destroy(repo);
  atcr_free(car);
  atcr_free(cid);
  atcr_repo_builder_destroy(b);
  atcr_free(did_key);
  atcr_key_destroy(key);
  atcr_manifest_destroy(m);
  printf("ok\n");
  return 0;
}

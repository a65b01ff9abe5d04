/* Built outside the source tree against the installed <atcr.h> and
 * libatcr.so, found through pkg-config (install_test.sh). */
#include <atcr.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  char* err = NULL;
  char* d = atcr_digest_of((const unsigned char*)"{}", 2);
  atcr_reference_t* r = atcr_reference_parse("registry.example/alice.example/app:1", &err);
  if (!r) {
    fprintf(stderr, "%s\n", err);
    atcr_free(err);
    return 1;
  }
  printf("libatcr %s ABI %d %s %s/%s:%s\n", atcr_version(), atcr_abi_version(), d, atcr_reference_identity(r),
         atcr_reference_repository(r), atcr_reference_tag(r));
  atcr_reference_destroy(r);
  atcr_free(d);
  return atcr_abi_version() == ATCR_C_ABI_VERSION ? 0 : 1;
}

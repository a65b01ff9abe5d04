#include "atcr/version.h"

namespace atcr {

const char* library_version() { return ATCR_VERSION; }

}  // namespace atcr

// The S3 the fixture scripts started (with-s3.sh, with-pds-s3.sh): its
// S3_ENDPOINT, S3_BUCKET, S3_REGION, S3_ACCESS_KEY and S3_SECRET_KEY as a
// path-style client config (radosgw on loopback has no bucket host names).
#pragma once

#include <string_view>

#include "atcr/s3/client.h"
#include "required_env.h"

namespace atcr::test {

inline s3::S3Config s3_config_from_env(std::string_view run_through) {
  auto env = [&](const char* name) { return required_env(name, run_through); };
  s3::S3Config c;
  c.endpoint = env("S3_ENDPOINT");
  c.bucket = env("S3_BUCKET");
  c.region = env("S3_REGION");
  c.credentials = {env("S3_ACCESS_KEY"), env("S3_SECRET_KEY"), ""};
  c.path_style = true;
  return c;
}

}  // namespace atcr::test

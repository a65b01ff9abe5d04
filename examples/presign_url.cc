// presign_url: a SigV4 presigned GET URL for an S3 object, as a hold hands
// out for blob downloads, made offline from the bucket's credentials.
//
//   presign_url [endpoint bucket key]   (defaults: a local radosgw's)
// Prints the URL; the program checks that it carries the signature fields
// and expires when asked.
#include <chrono>
#include <iostream>
#include <string>

#include "atcr/s3/client.h"

int main(int argc, char** argv) {
  using namespace atcr;
  try {
    s3::S3Config config;
    config.endpoint = argc > 3 ? argv[1] : "http://127.0.0.1:7480";
    config.bucket = argc > 3 ? argv[2] : "blobs";
    config.path_style = true;
    config.credentials.access_key_id = "AKIDEXAMPLE";
    config.credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    std::string key = argc > 3 ? argv[3] : "docker/registry/v2/blobs/sha256/2c/2c26b4/data";
    s3::S3Client client(config);
    std::string url = client.presign_get(key, std::chrono::minutes(15));
    std::cout << url << "\n";
    for (const char* field : {"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Credential=AKIDEXAMPLE%2F",
                              "X-Amz-Expires=900", "X-Amz-Signature="}) {
      if (url.find(field) == std::string::npos) {
        std::cerr << "presign_url: the URL lacks " << field << "\n";
        return 1;
      }
    }
    return url.starts_with(config.endpoint + "/" + config.bucket + "/") ? 0 : 1;
  } catch (const Error& e) {
    std::cerr << "presign_url: " << e.what() << "\n";
    return 1;
  }
}

#!/usr/bin/env bash
# with-pds-s3.sh PROGRAM [ARGS...]: runs PROGRAM with both fixtures, the
# reference PDS + PLC directory (with-pds.sh: PDS_URL, PLC_URL, ATCR_NODE,
# NODE_PATH, ...) and radosgw (with-s3.sh: S3_ENDPOINT, S3_BUCKET, ...), for
# tests of a service that needs both (the hold: callers' tokens from the
# PDS, blobs in S3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/with-pds.sh" bash "$here/with-s3.sh" "$@"

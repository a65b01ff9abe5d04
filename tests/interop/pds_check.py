#!/usr/bin/env python3
"""Run pds-check.mjs (the reference implementation checking atcr's embedded
PDS and its firehose) under the Node toolchain of scripts/node-tools.sh.

usage: pds_check.py <path-to-atcr_pds_tool> <path-to-pds-check.mjs>

Exit status is pds-check.mjs's: 0 pass, 1 fail, 77 skip (meson's SKIP).
"""
from __future__ import annotations

import os
import subprocess
import sys

from crosscheck import node_env  # same Node discovery as the repo cross-checks


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    tool, script = sys.argv[1], sys.argv[2]
    env = dict(os.environ)
    env.update(node_env())
    try:
        return subprocess.run([env["ATCR_NODE"], script, tool], env=env, timeout=300).returncode
    except subprocess.TimeoutExpired:
        print("[pds_check] ERROR: pds-check.mjs ran over 300 s", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks libatcr's layering: a layer includes only itself and lower layers.

Layers, bottom-up. Headers in atcr/<layer>/ and sources in src/<layer>/ may
include "atcr/<other>/..." only when <other> is listed at or before <layer>.
Hold and appview are siblings: neither may include the other.
"""
import pathlib
import re
import sys

ORDER = ["util", "encoding", "db", "crypto", "data", "repo", "net", "identity", "xrpc", "oauth", "web", "oci", "verify", "s3", "storage",
         "scan", "pds", "index", "hold", "appview"]
RANK = {name: i for i, name in enumerate(ORDER)}
# Same-rank groups: layers that must not see each other although neither is below.
SIBLINGS = {("hold", "appview"), ("appview", "hold")}
INCLUDE = re.compile(r'#\s*include\s*"atcr/([a-z_]+)/')


def layer_of(path: pathlib.Path, root: pathlib.Path):
    parts = path.relative_to(root).parts
    if parts[0] == "include":
        parts = parts[1:]
    if parts[0] in ("atcr", "src") and len(parts) > 2:
        return parts[1]
    return None


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    problems = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".h", ".cc"):
            continue
        layer = layer_of(path, root)
        if layer is None:
            continue
        if layer not in RANK:
            problems.append(f"{path}: unknown layer '{layer}' (add it to ORDER)")
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.search(line)
            if not m:
                continue
            target = m.group(1)
            if target not in RANK:
                problems.append(f"{path}:{n}: includes unknown layer '{target}'")
            elif RANK[target] > RANK[layer] or (layer, target) in SIBLINGS:
                problems.append(f"{path}:{n}: layer '{layer}' must not include '{target}'")
    for p in problems:
        print(p)
    print(f"layering: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

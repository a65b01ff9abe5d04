#!/usr/bin/env python3
"""libatcr.so exports only the C interface (atcr_*) and the C++ API's
namespace (atcr::): nothing of the libraries it is built with leaks out
(libatcr/libatcr.map). Usage: symbols_test.py <path to libatcr.so>."""
import subprocess
import sys

lib = sys.argv[1]
out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
names = [line.split()[-1] for line in out.splitlines() if len(line.split()) >= 3]
demangled = subprocess.run(["c++filt"], input="\n".join(names), check=True, capture_output=True,
                           text=True).stdout.splitlines()
c_symbols = [n for n in names if n.startswith("atcr_")]
leaks = [f"{n}  ({d})" for n, d in zip(names, demangled)
         if not n.startswith("atcr_") and "atcr::" not in d and not n.startswith("ATCR")]
print(f"{len(names)} exported symbols, {len(c_symbols)} of the C interface")
for required in ("atcr_free", "atcr_abi_version", "atcr_manifest_parse", "atcr_resolve", "atcr_repo_read_car",
                 "atcr_s3_presign", "atcr_registry_get_manifest"):
    if required not in c_symbols:
        print(f"missing C symbol {required}")
        sys.exit(1)
if leaks:
    print(f"{len(leaks)} symbols outside atcr_* / atcr:: are exported:")
    print("\n".join(leaks[:40]))
    sys.exit(1)
print("only atcr_* and atcr:: are exported")

#!/usr/bin/env python3
"""Issue 13's fresh-machine points, checked in the scripts themselves.

1. No test installs anything: only scripts/test.sh and scripts/run.sh (the
   setup step, before any test) may run scripts/setup-deps.sh in install
   mode; every other caller passes --check, and no test, fixture or script a
   test runs calls apt-get/apt/dpkg -i itself.
2. scripts/run.sh (the main job) builds only what it runs: its compile names
   the programs it starts, never the whole tree (`ninja -C build` or a bare
   `meson compile -C build` builds every test and benchmark).

usage: scripts_test.py <source root>
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
failures = []

SETUP_STEP = {"scripts/test.sh", "scripts/run.sh", "scripts/setup-deps.sh"}
files = [p for d in ("tests", "scripts") for p in (root / d).rglob("*")
         if p.is_file() and p.suffix in (".sh", ".py", ".mjs", ".build", "")]
for path in files:
    rel = str(path.relative_to(root))
    if rel in SETUP_STEP or rel == "tests/unit/scripts_test.py":
        continue
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        raw = line.split("#", 1)[0] if path.suffix in (".sh", ".py", "") else line
        code = re.sub(r'"[^"]*"' + "|'[^']*'", '""', raw)  # messages may name the command
        if re.search(r"\b(apt-get|apt)\s+(-\S+\s+)*install\b|\bdpkg\s+-i\b", code):
            failures.append(f"{rel}:{n}: installs a package: {line.strip()}")
        if re.search(r"\bbash\b.*setup-deps\.sh", raw) and "--check" not in raw:
            failures.append(f"{rel}:{n}: runs setup-deps.sh without --check: {line.strip()}")

run = (root / "scripts/run.sh").read_text()
compiles = [l.strip() for l in run.splitlines() if re.match(r"\s*(meson compile|ninja)\b", l)]
if not compiles:
    failures.append("scripts/run.sh: no compile step found")
for c in compiles:
    targets = [a for a in c.split() if a.startswith("apps/")]
    if not targets:
        failures.append(f"scripts/run.sh builds everything: {c}")
for f in failures:
    print("FAIL", f)
print(f"scripts: {len(files)} files read, {len(failures)} failures")
sys.exit(1 if failures else 0)

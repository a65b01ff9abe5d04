#!/usr/bin/env python3
"""The library guides say what the code does (docs/library.md, docs/c-api.md,
README.md's library section, bindings/python/README.md):

1. every C++ and C example compiles as written against the public headers
   (a fragment without main() is compiled as main()'s body, its #includes
   above it), with the compiler meson uses;
2. every public header a guide names exists, and docs/library.md names every
   module (libatcr/include/atcr/<module>/) and top-level header;
3. every atcr_* function the guides name is declared in bindings/c/atcr.h,
   and docs/c-api.md names every one it declares;
4. every atcr.<name> a Python example uses is in the package's __all__, and
   the examples parse.

usage: docs_test.py <source root> <build root>   (env CXX, CC: the compilers)
"""
import ast
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile

root, build = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
include = root / "libatcr/include/atcr"
guides = [root / "docs/library.md", root / "docs/c-api.md", root / "README.md", root / "bindings/python/README.md"]
failures = []


def blocks(path, langs):
    for m in re.finditer(r"^```(\w+)\n(.*?)^```", path.read_text(), re.S | re.M):
        if m.group(1) in langs:
            yield path.read_text()[:m.start()].count("\n") + 1, m.group(2)


def translation_unit(code, cpp):
    if re.search(r"\bint main\s*\(", code):
        return code
    lines = code.splitlines()
    head = [l for l in lines if l.startswith("#include")]
    body = [l for l in lines if not l.startswith("#include")]
    extra = ["#include <iostream>"] if cpp else ["#include <stdio.h>"]
    return "\n".join(head + extra + ["int main() {"] + body + ["  return 0;", "}"]) + "\n"


def compile_example(where, code, cpp):
    compiler = shlex.split(os.environ.get("CXX" if cpp else "CC", "c++" if cpp else "cc"))
    flags = ["-std=c++20" if cpp else "-std=c11", "-fsyntax-only", "-Wall", "-Wno-unused-variable",
             "-I", str(root / "libatcr/include"), "-I", str(build / "libatcr/include"), "-I", str(root / "bindings/c")]
    with tempfile.NamedTemporaryFile("w", suffix=".cc" if cpp else ".c") as f:
        f.write(translation_unit(code, cpp))
        f.flush()
        r = subprocess.run(compiler + flags + [f.name], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"{where}: the example does not compile:\n{r.stderr[:3000]}")


examples = 0
for path in guides:
    rel = path.relative_to(root)
    for line, code in blocks(path, ("cpp", "c++")):
        compile_example(f"{rel}:{line}", code, True)
        examples += 1
    for line, code in blocks(path, ("c",)):
        compile_example(f"{rel}:{line}", code, False)
        examples += 1

# 2. headers and modules
for path in guides:
    text = path.read_text()
    for name in set(re.findall(r"`((?:atcr/)?[a-z0-9_]+/[a-z0-9_*]+\.h)`", text)):
        rel_name = name.removeprefix("atcr/")
        if not list(include.glob(rel_name)) and not list(include.glob(rel_name + ".in")):
            failures.append(f"{path.relative_to(root)}: names {name}, which is not a public header")
library = (root / "docs/library.md").read_text()
for module in sorted(p.name for p in include.iterdir() if p.is_dir()):
    if not re.search(rf"`(atcr/)?{module}/", library):
        failures.append(f"docs/library.md: does not name the module {module}/ (libatcr/include/atcr/{module}/)")
for header in sorted(p.name for p in include.glob("*.h*")):
    header = header.removesuffix(".in")
    if f"atcr/{header}" not in library:
        failures.append(f"docs/library.md: does not name atcr/{header}")

# 3. C functions
declared = set(re.findall(r"\b(atcr_[a-z0-9_]+)\s*\(", (root / "bindings/c/atcr.h").read_text()))
for path in guides:
    for name in sorted(set(re.findall(r"\b(atcr_[a-z0-9_]+)\b", path.read_text()))):
        if name.endswith("_") or name.endswith("_t") or name in declared:
            continue
        failures.append(f"{path.relative_to(root)}: names {name}, which bindings/c/atcr.h does not declare")

c_guide = (root / "docs/c-api.md").read_text()
for name in sorted(declared - set(re.findall(r"\b(atcr_[a-z0-9_]+)\b", c_guide))):
    failures.append(f"docs/c-api.md: does not name {name} (bindings/c/atcr.h)")

# 4. Python
init = ast.parse((root / "bindings/python/atcr/__init__.py").read_text())
exported = set()
for node in ast.walk(init):
    if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
        exported |= {e.value for e in node.value.elts}
for path in guides:
    for line, code in blocks(path, ("python",)):
        try:
            tree = ast.parse(code)
        except SyntaxError as e:
            failures.append(f"{path.relative_to(root)}:{line}: the example does not parse: {e}")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "atcr" and node.attr not in exported:
                failures.append(f"{path.relative_to(root)}:{line}: atcr.{node.attr} is not in the package")

for f in failures:
    print("FAIL", f)
print(f"docs: {examples} C/C++ examples compiled, {len(failures)} failures")
sys.exit(1 if failures else 0)

#!/usr/bin/env bash
# `meson install` into a DESTDIR, then an out-of-tree C program and the
# Python package (pip, Debian's python3, in a venv) build against the
# installed headers and library (pkg-config libatcr) and run.
#   install_test.sh <build dir> <source dir>
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
dest=$(mktemp -d /tmp/atcr-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >/dev/null
pc=$(find "$dest" -name libatcr.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: no libatcr.pc installed"; exit 1; }
libdir=$(dirname "$(find "$dest" -name 'libatcr.so' | head -1)")
[ -f "$(find "$dest" -name atcr.h | head -1)" ] || { echo "FAIL: atcr.h not installed"; exit 1; }
[ -f "$(find "$dest" -path '*atcr/version.h' | head -1)" ] || { echo "FAIL: atcr/version.h not installed"; exit 1; }
for internal in s3/xml.h appview/blob_upload.h hold/quota.h util/text.h; do
  if find "$dest" -path "*include/atcr/$internal" | grep -q .; then echo "FAIL: internal header $internal installed"; exit 1; fi
done

export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
work=$dest/work
mkdir -p "$work"
cp "$src/tests/install/out_of_tree.c" "$work/"
# shellcheck disable=SC2046
cc -o "$work/out_of_tree" "$work/out_of_tree.c" $(pkg-config --cflags libatcr) $(pkg-config --libs libatcr)
out=$(LD_LIBRARY_PATH=$libdir "$work/out_of_tree")
echo "C: $out"
case $out in
  *"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a alice.example/app:1") ;;
  *) echo "FAIL: unexpected output"; exit 1 ;;
esac

# The Python package, installed with pip into a venv of Debian's python3.
/usr/bin/python3 -m venv --system-site-packages "$dest/venv"
cp -r "$src/bindings/python" "$dest/pkg"  # pip builds in place: keep the source tree clean
"$dest/venv/bin/pip" install --quiet --no-index --no-build-isolation "$dest/pkg" >/dev/null
cd "$work"  # not the source tree: import the installed package
py=$(ATCR_LIBRARY=$libdir/libatcr.so "$dest/venv/bin/python" -c '
import atcr
m = atcr.Manifest(b"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}")
print(atcr.library_version(), m.is_index, atcr.__file__.startswith("'"$dest"'"))')
echo "Python: $py"
[ "$py" = "$(LD_LIBRARY_PATH=$libdir "$work/out_of_tree" | cut -d" " -f2) True True" ] || { echo "FAIL: unexpected output"; exit 1; }
echo "installed library, headers, pkg-config file and Python package work out of tree"

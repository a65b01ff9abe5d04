#!/usr/bin/env bash
# stage.sh - lays out a container image's root filesystem from programs built
# on this (Debian) machine: each program, exactly the shared libraries it
# loads (ldd, followed to the real files), the dynamic loader, Debian's CA
# bundle, and passwd/group/nsswitch entries for the unprivileged user the
# images run as (atcr, uid/gid 10001). Dockerfile.* at the top of the repo
# copy it FROM scratch: no package manager, no shell, nothing else.
#
#   deploy/docker/stage.sh OUT PROGRAM...
#
# OUT/rootfs/  goes to / (owned by root);  OUT/state/  holds the empty
# /var/lib/atcr-* state directories, copied with --chown=10001:10001.
# Static linking is not possible with Debian's packages (libcurl pulls in
# GSSAPI/Kerberos, and libkrb5-dev ships no static archives): docs/deploy.md.
set -euo pipefail
die() { echo "stage.sh: $*" >&2; exit 1; }
(($# >= 2)) || die "usage: stage.sh OUT PROGRAM..."
OUT="$1"; shift
rm -rf "$OUT"
R="$OUT/rootfs"
mkdir -p "$R"/{usr/bin,usr/lib/x86_64-linux-gnu,etc/ssl/certs,tmp} "$OUT/state"
chmod 1777 "$R/tmp"
# Debian's merged /usr: the loader path compiled into every program is /lib64/...
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
ln -s usr/bin "$R/bin"
mkdir -p "$R/usr/lib64"

copy_file() {  # the file a path resolves to, at that path in the image
  local src="$1" dst="$R/${1#/}"
  mkdir -p "$(dirname "$dst")"
  cp -L "$src" "$dst"
}

for prog in "$@"; do
  [ -x "$prog" ] || die "$prog is not an executable"
  install -m 0755 "$prog" "$R/usr/bin/$(basename "$prog")"
  strip --strip-unneeded "$R/usr/bin/$(basename "$prog")" 2>/dev/null || true
  while read -r lib; do
    # ldd prints the /lib/... path; the image keeps Debian's layout under /usr.
    real="$(readlink -f "$lib")"
    case "$lib" in
      /lib64/*) copy_file "$real"; ln -sf "${real}" "$R/usr/lib64/$(basename "$lib")" ;;
      *) copy_file "$real"; [ "$(basename "$lib")" = "$(basename "$real")" ] ||
           ln -sf "$(basename "$real")" "$R/$(dirname "${real#/}")/$(basename "$lib")" ;;
    esac
  done < <(ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
done

cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
# OpenSSL's own default paths (the WebSocket client's set_default_verify_paths)
# lead to the same bundle, as on Debian.
mkdir -p "$R/usr/lib/ssl"
ln -s /etc/ssl/certs/ca-certificates.crt "$R/usr/lib/ssl/cert.pem"
ln -s /etc/ssl/certs "$R/usr/lib/ssl/certs"
printf 'root:x:0:0:root:/root:/sbin/nologin\natcr:x:10001:10001:atcr:/var/lib/atcr:/sbin/nologin\n' >"$R/etc/passwd"
printf 'root:x:0:\natcr:x:10001:\n' >"$R/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$R/etc/nsswitch.conf"
for d in atcr-hold atcr-appview atcr-scanner caddy; do mkdir -p "$OUT/state/$d"; chmod 0700 "$OUT/state/$d"; done
echo "stage.sh: $OUT: $(du -sh "$R" | cut -f1) for $*" >&2

#!/usr/bin/env bash
# bench/hold.sh - the hold's blob path against the disk's own limit:
#   bash bench/hold.sh [--quick]
# (bench/run.sh calls it after its own table, with the same arguments.)
# Runs $BUILD/bench/hold_bench (default BUILD=build-bench, compiled if
# missing): an in-process hold with the filesystem driver, blobs uploaded
# through initiateUpload / getPartUploadUrl / uploadPart (64 MiB parts) /
# completeUpload and downloaded with getBlob over loopback HTTP. Then dd
# writes (conv=fsync) and reads the same amounts in the same directory, and
# a table prints MB/s of both and their ratio (hold / dd: 1.00x would be the
# disk's speed), the small calls' latency and the hold's peak RSS.
# An nginx (Debian's) on loopback serves the hold's blob directory as files,
# and the same client fetches the 256 MiB blob from it: the honest ceiling of
# loopback HTTP (the hold/nginx and nginx/dd ratios print below the table).
# --quick divides the sizes by 8. Raw results: $BUILD/bench-results/hold.jsonl.
set -euo pipefail
LOG_TAG=bench-hold
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
. "$REPO_ROOT/bench/lib.sh"
cd "$REPO_ROOT"

BUILD="${BUILD:-build-bench}"
HOLD_BENCH="$BUILD/bench/hold_bench"
OUT="$BUILD/bench-results"
WORK="$(realpath -m "$OUT/hold-work")"  # absolute: nginx -p changes its directory
quick=""
for a in "$@"; do [ "$a" = --quick ] && quick=--quick; done

if [ ! -x "$HOLD_BENCH" ]; then
  bench_compile "$BUILD" bench/hold_bench
fi
command -v nginx >/dev/null || die "nginx is missing (apt-get install nginx-light)"
mkdir -p "$OUT"
rm -rf "$WORK"
mkdir -p "$WORK/blobs" "$WORK/nginx"
NGINX_PORT="$(free_port)"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/blobs; }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
nginx_pid=$!
trap 'kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.1; done

log "running $HOLD_BENCH $WORK${quick:+ $quick} --nginx $NGINX_PORT"
"$HOLD_BENCH" "$WORK" $quick --nginx "$NGINX_PORT" >"$OUT/hold.jsonl" || die "hold_bench failed (exit $?)"

python3 - "$OUT/hold.jsonl" "$WORK/dd" "$quick" <<'PY'
import json, os, subprocess, sys, time

rows = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        rows[r["name"]] = r
work, quick = sys.argv[2], sys.argv[3] == "--quick"
os.makedirs(work, exist_ok=True)
scale = 8 if quick else 1
MiB = 1 << 20

def dd(*args):
    subprocess.run(["dd", *args, "status=none"], check=True)

def timed(f):
    t0 = time.monotonic()
    f()
    return time.monotonic() - t0

# The limit: the same bytes written (fsynced, as the hold's store does) and
# read back (from the page cache, as the hold's download right after its
# upload is) with dd.
def write(name, mib):
    dd("if=/dev/zero", f"of={work}/{name}", "bs=1M", f"count={mib}", "conv=fsync")

def read(name, mib):
    dd(f"if={work}/{name}", "of=/dev/null", "bs=1M")

big, small = 256 // scale, 16 // scale
limits = {
    "hold_upload_256MiB": (big * MiB, timed(lambda: [write(f"big{i}", big // 4) for i in range(4)])),
    "hold_download_256MiB": (big * MiB, timed(lambda: [read(f"big{i}", big // 4) for i in range(4)])),
    "hold_upload_16x16MiB": (16 * small * MiB, timed(lambda: [write(f"s{i}", small) for i in range(16)])),
    "hold_download_16x16MiB": (16 * small * MiB, timed(lambda: [read(f"s{i}", small) for i in range(16)])),
}

def fmt(x):
    return "-" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:,.2f}"

table = [("benchmark", "hold MB/s", "dd MB/s", "ratio", "notes")]
for name, (nbytes, secs) in limits.items():
    h = rows.get(name, {}).get("bytes_per_sec")
    d = nbytes / secs
    table.append((name, fmt(h and h / 1e6), fmt(d / 1e6), f"{h / d:.2f}x" if h else "-",
                  "upload: hash + part file + assembly + fsync" if "upload" in name else "page cache"))
for name in ("hold_getPartUploadUrl", "hold_getBlob_HEAD", "s3_presign_get"):
    r = rows.get(name)
    if r:
        table.append((name, fmt(r["ops_per_sec"]) + " ops/s", "-", "-",
                      f"p50 {r['p50_us']:.0f} us, p99 {r['p99_us']:.0f} us"))
n = rows.get("nginx_download_256MiB", {}).get("bytes_per_sec")
if n:
    h = rows["hold_download_256MiB"]["bytes_per_sec"]
    d = limits["hold_download_256MiB"][0] / limits["hold_download_256MiB"][1]
    table.append(("nginx_download_256MiB", fmt(n / 1e6), fmt(d / 1e6), f"{n / d:.2f}x",
                  f"same file, same client; hold/nginx {h / n:.2f}x"))
rss = rows.get("hold_peak_rss_kb", {}).get("value")
table.append(("hold peak RSS (KB)", fmt(rss), "-", "-", "VmHWM of the hold process"))
widths = [max(len(r[i]) for r in table) for i in range(5)]
for i, r in enumerate(table):
    print("  ".join(c.ljust(w) if j in (0, 4) else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
PY

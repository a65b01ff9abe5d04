#!/usr/bin/env bash
# scanner_test.sh - vulnerability scanning end to end: a hold with scanning
# on (scanner.secret, scanner.scan_on_push = "*"), a push with skopeo of an
# image whose layer carries a dpkg status file (tests/fixtures/scanner), and
# atcr-scanner taking the job over io.atcr.hold.subscribeScanJobs with an
# OSV database zipped here from tests/fixtures/scanner/osv. Checks: the
# scanner finds the installed packages and matches the fixture CVE (and not
# the fixed or other-ecosystem ones), the io.atcr.hold.scan record (rkey:
# the manifest digest's hex) is in the hold's repo (listRecords) with its
# SBOM and report blobs readable by getBlob, and the record's commit is on
# the hold's firehose (subscribeRepos); a wrong secret is refused. A job
# as ATCR's holds send it (no "layers", no "manifest": the fields are ours)
# is scanned too: `atcr-scanner job` reads the layers from the user's
# io.atcr.manifest record in their PDS and finds the same packages and CVE.
#
# Env: ATCR_BUILD (set by meson), FIREHOSE_PROBE; ports and dirs as the
# other e2e tests (ATCR_E2E_APPVIEW_PORT, ATCR_E2E_HOLD_PORT, ATCR_E2E_DIR).
set -uo pipefail
LOG_TAG=scanner
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

e2e_stack "-scanner"
export ATCR_HOLD_STORAGE=filesystem ATCR_HOLD_PUBLIC=true
export ATCR_DEMO_HANDLE="$(fresh_handle scan)"
SECRET="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export HOLD_SCANNER_SECRET="$SECRET" HOLD_SCANNER_SCAN_ON_PUSH="*"
BUILD="${ATCR_BUILD:-$REPO_ROOT/build}"
FIXTURES="$REPO_ROOT/tests/fixtures/scanner"

e2e_workdir scanner
e2e_start_stack --fresh

# The image: one small layer with var/lib/dpkg/status.
python3 "$REPO_ROOT/tests/e2e/mkimage.py" "$W/img" --tag v1 --layers 4K \
  --add-file "var/lib/dpkg/status=$FIXTURES/dpkg-status" >/dev/null || die "mkimage.py failed"
DIGEST="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"])' "$W/img")"
RKEY="${DIGEST#sha256:}"
# The operator's OSV database: a zip of the fixture entries.
python3 - "$FIXTURES/osv" "$W/osv.zip" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(sys.argv[1])):
        z.write(os.path.join(sys.argv[1], name), "osv/" + name)
PY

t "skopeo push" skopeo copy -q --dest-tls-verify=false --dest-creds "$DEMO_HANDLE:$DEMO_PASSWORD" \
  "oci:$W/img:v1" "docker://$REGISTRY/$DEMO_HANDLE/scanme:v1"

echo wrong >"$W/wrong-secret"
t "a wrong secret is refused (401 InvalidSecret)" bash -c \
  "! timeout 20 '$BUILD/apps/atcr-scanner' serve --hold '$HOLD_URL' --secret-file '$W/wrong-secret' --db '$W/osv.zip' --jobs 1 2>'$W/wrong.log' && grep -q 401 '$W/wrong.log'"

printf '%s' "$SECRET" >"$W/secret"
t "atcr-scanner takes the job and answers" timeout 60 "$BUILD/apps/atcr-scanner" serve --hold "$HOLD_URL" \
  --secret-file "$W/secret" --db "$W/osv.zip" --jobs 1

record_check() {
  python3 - "$HOLD_URL" "$HOLD_DID" "$RKEY" "$DIGEST" "$DEMO_DID" <<'PY'
import json, sys, urllib.parse, urllib.request
hold, did, rkey, digest, user = sys.argv[1:6]
def get(path, **params):
    with urllib.request.urlopen(f"{hold}/xrpc/{path}?{urllib.parse.urlencode(params)}", timeout=10) as r:
        return r.read()
records = json.loads(get("com.atproto.repo.listRecords", repo=did, collection="io.atcr.hold.scan"))["records"]
mine = [r for r in records if r["uri"].endswith("/io.atcr.hold.scan/" + rkey)]
assert mine, f"no io.atcr.hold.scan/{rkey} in {[r['uri'] for r in records]}"
v = mine[0]["value"]
print(json.dumps({k: v.get(k) for k in ("status", "critical", "high", "medium", "low", "total", "scannerVersion")}))
assert v["$type"] == "io.atcr.hold.scan" and v["status"] == "ok", v
assert v["userDid"] == user and v["repository"].endswith("scanme") and v["manifest"].startswith("at://" + user), v
assert (v["critical"], v["high"], v["medium"], v["low"], v["total"]) == (1, 0, 0, 0, 1), v
assert v["sbomBlob"]["mimeType"] == "application/spdx+json", v
assert v["vulnReportBlob"]["mimeType"] == "application/vnd.atcr.vulnerabilities+json", v
sbom = json.loads(get("com.atproto.sync.getBlob", did=did, cid=v["sbomBlob"]["ref"]["$link"]))
assert sbom["spdxVersion"] == "SPDX-2.3", sbom
found = {(p["name"], p["versionInfo"]) for p in sbom["packages"]}
want = {("base-files", "12.4+deb12u5"), ("libssl3", "3.0.11-1~deb12u2"), ("zlib1g", "1:1.2.13.dfsg-1")}
assert found == want, found
report = json.loads(get("com.atproto.sync.getBlob", did=did, cid=v["vulnReportBlob"]["ref"]["$link"]))
ids = [(m["vulnerability"]["id"], m["package"]["name"], m["vulnerability"]["severity"]) for m in report["matches"]]
assert ids == [("CVE-2099-0001", "libssl3", "Critical")], ids
print("packages:", sorted(found), "matches:", ids)
PY
}
t "the scan record is in the hold's repo, with the SBOM and report blobs" record_check
t "the scan record's commit is on the hold's firehose" "$FIREHOSE_PROBE" "$HOLD_URL" "io.atcr.hold.scan/$RKEY" 20
# The AppView's index follows the hold's firehose: the repository page's tag
# row carries the scan badge.
scan_badge() { curl -sf "http://$REGISTRY/r/$DEMO_HANDLE/scanme" | grep -q '<span class="badge scan bad">1 critical</span>'; }
t "the AppView's repository page shows the scan badge (1 critical)" eventually 10 scan_badge


# A job without layers or manifest URI, as ATCR's holds send it.
python3 - "$DIGEST" "$DEMO_DID" "$HOLD_DID" "$HOLD_URL" >"$W/atcr-job.json" <<'PY'
import json, sys
digest, user, hold_did, hold = sys.argv[1:]
print(json.dumps({"type": "scan_job", "seq": 1, "digest": digest, "repository": "scanme", "tag": "v1",
                  "userDid": user, "holdDid": hold_did, "holdEndpoint": hold}))
PY
job_check() {
  python3 - "$1" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
found = {(p["name"], p["versionInfo"]) for p in out["sbom"]["packages"]}
want = {("base-files", "12.4+deb12u5"), ("libssl3", "3.0.11-1~deb12u2"), ("zlib1g", "1:1.2.13.dfsg-1")}
assert found == want, found
ids = [(m["vulnerability"]["id"], m["package"]["name"]) for m in out["report"]["matches"]]
assert ids == [("CVE-2099-0001", "libssl3")], ids
assert out["summary"]["critical"] == 1 and out["summary"]["total"] == 1, out["summary"]
PY
}
t "a job without layers (ATCR's): the layers come from the user's manifest record" bash -c \
  "timeout 60 '$BUILD/apps/atcr-scanner' job --hold '$HOLD_URL' --secret-file '$W/secret' --db '$W/osv.zip' \
     --plc '$PLC_URL' --development '$W/atcr-job.json' >'$W/atcr-job-out.json' 2>'$W/atcr-job.log' &&
   grep -q 'lists no layers; 1 read from' '$W/atcr-job.log' && $(declare -f job_check); job_check '$W/atcr-job-out.json'"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); j["userDid"]="did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"; print(json.dumps(j))' \
  "$W/atcr-job.json" >"$W/unknown-job.json"
t "... and a user with no such record: the scan fails, saying why" bash -c \
  "! timeout 60 '$BUILD/apps/atcr-scanner' job --hold '$HOLD_URL' --secret-file '$W/secret' --db '$W/osv.zip' \
     --plc '$PLC_URL' --development '$W/unknown-job.json' 2>'$W/unknown-job.log' && grep -qi 'scan failed' '$W/unknown-job.log'"
check_summary "scanner e2e" "$ATCR_REGISTRY_DIR/log/hold.log"

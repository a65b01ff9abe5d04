#!/usr/bin/env python3
"""OCI distribution-spec conformance checks against a running atcr stack.

Written from the distribution-spec (v1.1) text, for what the public
conformance suites check and atcr once got wrong: unknown manifests, upload
cancel, blob and manifest DELETE, sha512 digests, large manifests,
non-distributable layers, and how clients are told about names and logins.

  conformance.py --registry HOST:PORT --user HANDLE --password PW --pds PDS_URL

Prints PASS/FAIL per check; exits 1 if any failed. Standard library only.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.parse

ARGS = None
RESULTS = {"pass": 0, "fail": 0}


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower(), "")

    def error_codes(self):
        try:
            return [e["code"] for e in json.loads(self.body)["errors"]]
        except (ValueError, KeyError, TypeError):
            return []

    def error_message(self):
        try:
            return " ".join(e.get("message", "") for e in json.loads(self.body)["errors"])
        except (ValueError, KeyError, TypeError):
            return ""

    def __repr__(self):
        return f"{self.status} {self.body[:300]!r}"


def request(method, path, body=b"", headers=None, token=None):
    """One request on a fresh connection (so a refusal that closes it is
    seen as such, not as a later request's failure)."""
    conn = http.client.HTTPConnection(ARGS.registry, timeout=60)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    if body is not None and method in ("PUT", "POST", "PATCH"):
        h.setdefault("Content-Length", str(len(body)))
    conn.request(method, path, body=body if body else None, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return Response(r.status, r.getheaders(), data)


def login(scopes, user=None, password=None):
    """A registry token for `scopes` (anonymous without user)."""
    q = urllib.parse.urlencode([("service", ARGS.registry)] + [("scope", s) for s in scopes])
    h = {}
    if user:
        h["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    r = request("GET", "/auth/token?" + q, headers=h)
    if r.status != 200:
        raise RuntimeError(f"/auth/token: {r}")
    return json.loads(r.body)["token"]


def check(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is a FAIL line
        print(f"FAIL  {name}: {e}")
        RESULTS["fail"] += 1
        return
    print(f"PASS  {name}")
    RESULTS["pass"] += 1


def expect(r, status, code=None):
    if r.status != status:
        raise AssertionError(f"want {status}, got {r!r}")
    if code and code not in r.error_codes():
        raise AssertionError(f"want error {code}, got {r!r}")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data):
    return "sha512:" + hashlib.sha512(data).hexdigest()


class Repo:
    """A repository of the test user, with a push token."""

    def __init__(self, name):
        self.name = f"{ARGS.user}/{name}"
        self.token = login([f"repository:{self.name}:pull,push,delete"], ARGS.user, ARGS.password)

    def path(self, rest):
        return f"/v2/{self.name}/{rest}"

    def call(self, method, rest, body=b"", headers=None):
        return request(method, self.path(rest), body, headers, self.token)

    def push_blob(self, data, digest=None):
        digest = digest or sha256(data)
        r = self.call("POST", f"blobs/uploads/?digest={digest}", data,
                      {"Content-Type": "application/octet-stream"})
        expect(r, 201)
        return digest

    def push_manifest(self, ref, manifest, media_type="application/vnd.oci.image.manifest.v1+json"):
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return self.call("PUT", f"manifests/{ref}", body, {"Content-Type": media_type})


def image(repo, layers, extra_layers=()):
    """An OCI image manifest over freshly pushed blobs (+ descriptors not pushed)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": os.urandom(8).hex()}).encode()
    descs = []
    for data in layers:
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                      "digest": repo.push_blob(data), "size": len(data)})
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": repo.push_blob(config), "size": len(config)},
        "layers": descs + list(extra_layers),
    }


# ---- unknown manifests -------------------------------------------------------

def unknown_manifests():
    repo = Repo("conf-unknown")
    for method in ("GET", "HEAD"):
        for ref in (".INVALID_MANIFEST_NAME", "no-such-tag", sha256(os.urandom(8)), "sha256:zz"):
            r = repo.call(method, f"manifests/{ref}")
            if r.status != 404:
                raise AssertionError(f"{method} {ref}: want 404, got {r!r}")
            if method == "GET" and "MANIFEST_UNKNOWN" not in r.error_codes():
                raise AssertionError(f"{method} {ref}: want MANIFEST_UNKNOWN, got {r!r}")


# ---- client behaviour ----------------------------------------------------------

def name_without_identity():
    token = login(["repository:registry/app:pull,push"], ARGS.user, ARGS.password)
    for name in ("registry/app", "app"):
        for t in (token, None):
            r = request("POST", f"/v2/{name}/blobs/uploads/", token=t)
            expect(r, 403, "DENIED")
            if "<handle>/<repository>" not in r.error_message():
                raise AssertionError(f"the message does not say what names look like: {r!r}")


def anonymous_push():
    repo = f"{ARGS.user}/conf-anon"
    r = request("POST", f"/v2/{repo}/blobs/uploads/")
    expect(r, 401, "UNAUTHORIZED")
    challenge = r.header("WWW-Authenticate")
    if not challenge.startswith("Bearer ") or f'scope="repository:{repo}:pull,push"' not in challenge:
        raise AssertionError(f"challenge: {challenge}")
    if "docker login" not in r.error_message():
        raise AssertionError(f"the message does not say how to log in: {r!r}")
    # With the anonymous (pull-only) token a client got from the realm.
    anon = login([f"repository:{repo}:pull,push"])
    r = request("POST", f"/v2/{repo}/blobs/uploads/", token=anon)
    expect(r, 401, "UNAUTHORIZED")
    if 'error="insufficient_scope"' not in r.header("WWW-Authenticate"):
        raise AssertionError(f"challenge without insufficient_scope: {r.header('WWW-Authenticate')}")


# ---- uploads -------------------------------------------------------------------

def upload_cancel():
    repo = Repo("conf-cancel")
    r = repo.call("POST", "blobs/uploads/")
    expect(r, 202)
    location = r.header("Location")
    data = os.urandom(1000)
    r = request("PATCH", location, data, {"Content-Type": "application/octet-stream",
                                          "Content-Range": f"0-{len(data) - 1}"}, repo.token)
    expect(r, 202)
    expect(request("DELETE", location, token=repo.token), 204)
    expect(request("GET", location, token=repo.token), 404, "BLOB_UPLOAD_UNKNOWN")
    r = request("PUT", f"{location}?digest={sha256(data)}", b"", {}, repo.token)
    expect(r, 404, "BLOB_UPLOAD_UNKNOWN")
    expect(request("DELETE", location, token=repo.token), 404, "BLOB_UPLOAD_UNKNOWN")
    # The blob was never completed.
    expect(repo.call("HEAD", f"blobs/{sha256(data)}"), 404)


# ---- manifests ----------------------------------------------------------------

def non_distributable_layers():
    repo = Repo("conf-foreign")
    absent = [
        {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
         "digest": sha256(os.urandom(16)), "size": 1234},
        {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         "digest": sha256(os.urandom(16)), "size": 5678,
         "urls": ["https://mcr.microsoft.com/v2/windows/blobs/x"]},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
         "digest": sha256(os.urandom(16)), "size": 42, "urls": ["https://example.com/layer"]},
    ]
    manifest = json.dumps(image(repo, [os.urandom(100)], absent)).encode()
    expect(repo.push_manifest("v1", manifest), 201)
    r = repo.call("GET", "manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    expect(r, 200)
    if r.body != manifest:
        raise AssertionError("the manifest served differs from the one pushed")
    # A missing layer that is distributable is still refused.
    missing = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(os.urandom(16)), "size": 7}
    expect(repo.push_manifest("v2", image(repo, [], [missing])), 400, "MANIFEST_BLOB_UNKNOWN")


def padded(manifest, size):
    """`manifest` grown to exactly `size` bytes by an annotation."""
    manifest = dict(manifest, annotations={"org.example.pad": ""})
    base = len(json.dumps(manifest).encode())
    manifest["annotations"]["org.example.pad"] = "x" * (size - base)
    body = json.dumps(manifest).encode()
    assert len(body) == size
    return body


def large_manifests():
    repo = Repo("conf-large")
    base = image(repo, [os.urandom(100)])
    # At the spec's 4 MiB: by a large annotation, and by many layers.
    big = padded(base, 4 * 1024 * 1024)
    many = dict(base, layers=base["layers"] * 24000)
    many_body = json.dumps(many).encode()
    assert 3_500_000 < len(many_body) <= 4 * 1024 * 1024, len(many_body)
    for tag, body in (("annotated", big), ("layered", many_body)):
        expect(repo.push_manifest(tag, body), 201)
        r = repo.call("GET", f"manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        expect(r, 200)
        if r.body != body or r.header("Docker-Content-Digest") != sha256(body):
            raise AssertionError(f"{tag}: the manifest served differs from the one pushed")
    # Over the limit: 413 MANIFEST_INVALID with a message, as an answer (the
    # body read or drained), not a reset connection.
    r = repo.push_manifest("huge", padded(base, 5 * 1024 * 1024))
    expect(r, 413, "MANIFEST_INVALID")
    if "limit" not in r.error_message():
        raise AssertionError(f"no message: {r!r}")
    expect(repo.call("GET", "manifests/huge"), 404, "MANIFEST_UNKNOWN")


# ---- digests ------------------------------------------------------------------

def sha512_digests():
    """Refused with the spec's 400 DIGEST_INVALID, never a 5xx: ATCR's
    lexicons cap digests at 128 characters and sha512:<hex> is 135."""
    repo = Repo("conf-sha512")
    data = os.urandom(300)
    for digest in (sha512(data), "sha512:" + "0" * 128):
        r = repo.call("POST", f"blobs/uploads/?digest={digest}", data, {"Content-Type": "application/octet-stream"})
        expect(r, 400, "DIGEST_INVALID")
        if "sha256" not in r.error_message():
            raise AssertionError(f"the message does not say what to use: {r!r}")
    r = repo.call("POST", "blobs/uploads/")
    expect(r, 202)
    location = r.header("Location")
    expect(request("PUT", f"{location}?digest={sha512(data)}", data, {}, repo.token), 400, "DIGEST_INVALID")
    # The session is still usable with a sha256 digest.
    expect(request("PUT", f"{location}?digest={sha256(data)}", data, {}, repo.token), 201)
    expect(repo.call("HEAD", f"blobs/{sha512(data)}"), 404)
    expect(repo.call("GET", f"blobs/{sha512(data)}"), 404, "BLOB_UNKNOWN")
    expect(repo.call("GET", f"manifests/{sha512(data)}"), 404, "MANIFEST_UNKNOWN")
    m = json.dumps(image(repo, [os.urandom(50)])).encode()
    expect(repo.push_manifest(sha512(m), m), 400, "DIGEST_INVALID")
    foreign = {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
               "digest": sha512(data), "size": 300}
    expect(repo.push_manifest("v1", image(repo, [], [foreign])), 400, "MANIFEST_INVALID")


# ---- records --------------------------------------------------------------------

def pds_call(method, nsid, body=None, token=None, params=None):
    u = urllib.parse.urlsplit(ARGS.pds)
    conn = http.client.HTTPConnection(u.netloc, timeout=60)
    h = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        h["Authorization"] = "Bearer " + token
    path = f"/xrpc/{nsid}" + ("?" + urllib.parse.urlencode(params) if params else "")
    conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=h)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise AssertionError(f"{nsid}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else {}


def records(did, collection):
    out = pds_call("GET", "com.atproto.repo.listRecords",
                   params={"repo": did, "collection": collection, "limit": "100"})["records"]
    return {r["uri"].rsplit("/", 1)[1]: r["value"] for r in out}


TID = __import__("re").compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def legacy_records_rekeyed():
    """Records an older atcr wrote under "<repo>:<digest hex>" keys are
    re-keyed to TIDs at the owner's next login, tags following."""
    repo = Repo("conf-legacy")
    m = json.dumps(image(repo, [os.urandom(64)])).encode()
    expect(repo.push_manifest("v1", m), 201)
    digest = sha256(m)
    session = pds_call("POST", "com.atproto.server.createSession",
                       {"identifier": ARGS.user, "password": ARGS.password})
    did, token = session["did"], session["accessJwt"]
    [(rkey, value)] = [(k, v) for k, v in records(did, "io.atcr.manifest").items()
                       if v["repository"] == "conf-legacy" and v["digest"] == digest]
    if not TID.match(rkey):
        raise AssertionError(f"a new manifest record is keyed {rkey}, not by a TID")
    # Make it look as an older atcr left it.
    legacy = "conf-legacy:" + digest.split(":")[1]
    pds_call("POST", "com.atproto.repo.applyWrites", {"repo": did, "writes": [
        {"$type": "com.atproto.repo.applyWrites#delete", "collection": "io.atcr.manifest", "rkey": rkey},
        {"$type": "com.atproto.repo.applyWrites#create", "collection": "io.atcr.manifest", "rkey": legacy,
         "value": value}]}, token)
    tag = records(did, "io.atcr.tag")["conf-legacy:v1"]
    tag["manifest"] = f"at://{did}/io.atcr.manifest/{legacy}"
    pds_call("POST", "com.atproto.repo.putRecord", {"repo": did, "collection": "io.atcr.tag",
                                                    "rkey": "conf-legacy:v1", "record": tag}, token)
    # A fresh login (a new app password) re-keys.
    password = pds_call("POST", "com.atproto.server.createAppPassword", {"name": f"conf-{os.urandom(4).hex()}"},
                        token)["password"]
    login([f"repository:{repo.name}:pull"], ARGS.user, password)
    manifests = records(did, "io.atcr.manifest")
    if legacy in manifests:
        raise AssertionError("the legacy record is still there")
    [new_key] = [k for k, v in manifests.items() if v["repository"] == "conf-legacy" and v["digest"] == digest]
    if not TID.match(new_key):
        raise AssertionError(f"re-keyed to {new_key}, not a TID")
    tag = records(did, "io.atcr.tag")["conf-legacy:v1"]
    if tag["manifest"] != f"at://{did}/io.atcr.manifest/{new_key}":
        raise AssertionError(f"the tag still points at {tag['manifest']}")
    for ref in ("v1", digest):
        r = repo.call("GET", f"manifests/{ref}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        expect(r, 200)
        if r.body != m:
            raise AssertionError("the manifest changed")


# ---- deletes ------------------------------------------------------------------

def blob_delete():
    repo = Repo("conf-delete")
    data = os.urandom(2000)
    digest = repo.push_blob(data)
    expect(repo.call("HEAD", f"blobs/{digest}"), 200)
    expect(repo.call("DELETE", f"blobs/{digest}"), 202)
    expect(repo.call("HEAD", f"blobs/{digest}"), 404)
    expect(repo.call("GET", f"blobs/{digest}"), 404, "BLOB_UNKNOWN")
    expect(repo.call("DELETE", f"blobs/{digest}"), 404, "BLOB_UNKNOWN")
    # Pushed again after the delete, it is there again.
    repo.push_blob(data)
    expect(repo.call("HEAD", f"blobs/{digest}"), 200)


def blob_delete_keeps_shared():
    """A blob two repositories use stays until the last one deletes it."""
    x, y = Repo("conf-shared-x"), Repo("conf-shared-y")
    layer = os.urandom(3000)
    mx = image(x, [layer])
    expect(x.push_manifest("v1", mx), 201)
    my = image(y, [layer])
    expect(y.push_manifest("v1", my), 201)
    digest = sha256(layer)
    expect(y.call("DELETE", f"blobs/{digest}"), 202)
    r = x.call("GET", f"blobs/{digest}")
    if r.status == 307:
        r = request("GET", r.header("Location")) if r.header("Location").startswith("/") else \
            fetch_absolute(r.header("Location"))
    expect(r, 200)
    if r.body != layer:
        raise AssertionError("the other repository's blob changed")
    # x's config is nobody else's: deleting it from y is 404 and keeps it.
    config = mx["config"]["digest"]
    expect(y.call("DELETE", f"blobs/{config}"), 404, "BLOB_UNKNOWN")
    expect(x.call("HEAD", f"blobs/{config}"), 200)
    # The last reference gone, so are the bytes.
    expect(x.call("DELETE", f"blobs/{digest}"), 202)
    expect(x.call("HEAD", f"blobs/{digest}"), 404)
    expect(y.call("HEAD", f"blobs/{digest}"), 404)


def fetch_absolute(url):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.netloc, timeout=60)
    conn.request("GET", u.path + ("?" + u.query if u.query else ""))
    r = conn.getresponse()
    return Response(r.status, r.getheaders(), r.read())


def manifest_delete():
    repo = Repo("conf-mdelete")
    m = json.dumps(image(repo, [os.urandom(100)])).encode()
    expect(repo.push_manifest("v1", m), 201)
    digest = sha256(m)
    # A tag, then the manifest by digest.
    expect(repo.push_manifest("v2", m), 201)
    expect(repo.call("DELETE", "manifests/v2"), 202)
    expect(repo.call("GET", "manifests/v2"), 404, "MANIFEST_UNKNOWN")
    expect(repo.call("DELETE", f"manifests/{digest}"), 202)
    expect(repo.call("GET", f"manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    expect(repo.call("GET", "manifests/v1"), 404, "MANIFEST_UNKNOWN")
    expect(repo.call("DELETE", f"manifests/{digest}"), 404, "MANIFEST_UNKNOWN")


def blob_delete_disabled():
    repo = Repo("conf-nodelete")
    digest = repo.push_blob(os.urandom(500))
    expect(repo.call("DELETE", f"blobs/{digest}"), 405, "UNSUPPORTED")
    expect(repo.call("HEAD", f"blobs/{digest}"), 200)


CHECKS = {
    "unknown manifests are 404 MANIFEST_UNKNOWN": unknown_manifests,
    "a name without an identity is DENIED at once": name_without_identity,
    "anonymous push: 401, insufficient_scope, how to log in": anonymous_push,
    "upload cancel": upload_cancel,
    "non-distributable layers need not be present": non_distributable_layers,
    "manifests of 4 MiB are accepted; larger ones get 413": large_manifests,
    "sha512 digests: 400 DIGEST_INVALID, never 5xx": sha512_digests,
    "manifest records under legacy keys are re-keyed to TIDs at login": legacy_records_rekeyed,
    "blob delete: 202, then 404": blob_delete,
    "blob delete keeps what another repository uses": blob_delete_keeps_shared,
    "manifest delete: 202, then 404": manifest_delete,
}
# Run alone (--blob-delete-disabled) against an appview with server.blob_delete = false.
DISABLED_CHECKS = {
    "blob delete disabled: 405 UNSUPPORTED": blob_delete_disabled,
}


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--registry", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--pds", required=True, help="the user's PDS (records are checked there)")
    p.add_argument("--only", default="", help="run the checks whose name contains this")
    p.add_argument("--blob-delete-disabled", action="store_true",
                   help="the appview runs with server.blob_delete = false: check that alone")
    ARGS = p.parse_args()
    started = time.time()
    for name, fn in (DISABLED_CHECKS if ARGS.blob_delete_disabled else CHECKS).items():
        if ARGS.only in name:
            check(name, fn)
    print(f"conformance: {RESULTS['pass']} passed, {RESULTS['fail']} failed in {time.time() - started:.1f}s")
    sys.exit(1 if RESULTS["fail"] else 0)


if __name__ == "__main__":
    main()

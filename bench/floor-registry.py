#!/usr/bin/env python3
"""floor-registry.py PORT - the least work an OCI registry can do, to measure the client.

bench/registry.sh times skopeo against atcr and Distribution. On a 2-core
machine skopeo itself (reading, hashing and sending the layers) takes a good
part of the time, so no registry can push or pull faster than skopeo can
against a registry that does nothing. This is that registry: blobs and
manifests are kept in memory under the digest the client names; nothing is
hashed, written to disk or authenticated. Its times are the floor, and
floor / Distribution is the best ratio any registry could reach in that run.

Not a registry for anything else: no validation, no persistence, no limits.
Binds 127.0.0.1 only; stops on SIGTERM.
"""
import hashlib
import http.server
import re
import sys
import urllib.parse
import uuid

BLOBS = {}       # digest -> bytes
MANIFESTS = {}   # (repo, tag or digest) -> (media type, bytes)
UPLOADS = {}     # upload id -> bytearray

NAME = r"/v2/(?P<repo>.+?)"
ROUTES = [
    ("blob", re.compile(NAME + r"/blobs/(?P<digest>sha256:[0-9a-f]{64})$")),
    ("uploads", re.compile(NAME + r"/blobs/uploads/?$")),
    ("upload", re.compile(NAME + r"/blobs/uploads/(?P<id>[0-9a-f]{32})$")),
    ("manifest", re.compile(NAME + r"/manifests/(?P<ref>[^/]+)$")),
]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, headers=(), payload=b""):
        # HEAD answers carry the length of what GET would send.
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def route(self):
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        if path.rstrip("/") == "/v2":
            return self.reply(200, [("Content-Type", "application/json")], b"{}")
        for kind, rx in ROUTES:
            m = rx.match(path)
            if m:
                return getattr(self, f"{kind}_{self.command.lower()}", self.not_found)(m, params)
        self.not_found()

    def not_found(self, *_):
        self.body()
        self.reply(404, [("Content-Type", "application/json")], b'{"errors":[{"code":"NAME_UNKNOWN"}]}')

    def blob_head(self, m, _):
        blob = BLOBS.get(m["digest"])
        if blob is None:
            return self.not_found()
        self.reply(200, [("Docker-Content-Digest", m["digest"])], blob)

    blob_get = blob_head

    def uploads_post(self, m, params):
        data = self.body()
        if "digest" in params:
            BLOBS[params["digest"]] = bytes(data)
            return self.reply(201, [("Location", f"/v2/{m['repo']}/blobs/{params['digest']}")])
        uid = uuid.uuid4().hex
        UPLOADS[uid] = bytearray(data)
        self.reply(202, [("Location", f"/v2/{m['repo']}/blobs/uploads/{uid}"), ("Range", "0-0")])

    def upload_patch(self, m, _):
        buf = UPLOADS[m["id"]]
        buf += self.body()
        self.reply(202, [("Location", f"/v2/{m['repo']}/blobs/uploads/{m['id']}"), ("Range", f"0-{len(buf) - 1}")])

    def upload_put(self, m, params):
        buf = UPLOADS.pop(m["id"])
        buf += self.body()
        BLOBS[params["digest"]] = bytes(buf)
        self.reply(201, [("Location", f"/v2/{m['repo']}/blobs/{params['digest']}")])

    def manifest_put(self, m, _):
        data = bytes(self.body())
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        entry = (self.headers.get("Content-Type", ""), data)
        MANIFESTS[(m["repo"], m["ref"])] = MANIFESTS[(m["repo"], digest)] = entry
        self.reply(201, [("Location", f"/v2/{m['repo']}/manifests/{digest}"), ("Docker-Content-Digest", digest)])

    def manifest_get(self, m, _):
        entry = MANIFESTS.get((m["repo"], m["ref"]))
        if entry is None:
            return self.not_found()
        self.reply(200, [("Content-Type", entry[0]),
                         ("Docker-Content-Digest", "sha256:" + hashlib.sha256(entry[1]).hexdigest())], entry[1])

    manifest_head = manifest_get

    def manifest_delete(self, m, _):
        MANIFESTS.pop((m["repo"], m["ref"]), None)
        self.reply(202)

    do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = route


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()

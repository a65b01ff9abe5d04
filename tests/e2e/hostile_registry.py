#!/usr/bin/env python3
"""A hostile registry for verify_test.sh: a proxy in front of a real AppView
that serves other manifest bytes than the owner pushed.

Every request goes to the upstream unchanged; a 200 answer to
GET /v2/<name>/manifests/<ref> comes back with an annotation added to the
manifest and a Docker-Content-Digest that matches the new bytes (a careful
attacker's proxy: the registry's own claims are consistent, only the
signed records in the owner's PDS can tell).

usage: hostile_registry.py UPSTREAM_URL PORT_FILE
Listens on 127.0.0.1 on a free port, written to PORT_FILE once listening.
"""
import hashlib
import http.client
import http.server
import json
import re
import sys
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
MANIFEST_PATH = re.compile(r"^/v2/.+/manifests/[^/]+$")
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "docker-content-digest"}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("hostile_registry: " + (fmt % args) + "\n")

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        res = conn.getresponse()
        data = res.read()
        digest = res.getheader("Docker-Content-Digest")
        if self.command == "GET" and res.status == 200 and MANIFEST_PATH.match(urllib.parse.urlsplit(self.path).path):
            manifest = json.loads(data)
            manifest.setdefault("annotations", {})["org.example.injected"] = "not what the owner pushed"
            data = json.dumps(manifest, separators=(",", ":")).encode()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.send_response(res.status)
        for k, v in res.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.replace(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()

#!/usr/bin/env python3
"""put-repo-page.py - writes an io.atcr.repo.page with an avatar straight to
the user's PDS, as an ATCR AppView does (uploadBlob, then putRecord through
the user's session), so the AppView under test learns of it only from the
firehose.

  put-repo-page.py <pds_url> <handle> <password> <repository> png|svg

png: a real 16x16 PNG; svg: an SVG script declared as image/png (the AppView
must refuse to serve it). Prints the avatar's CID, then the image file's
path (its bytes, to compare with what the AppView serves)."""
import json
import struct
import sys
import tempfile
import urllib.request
import zlib
from datetime import datetime, timezone


def png_16x16():
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes([20, 86, 184]) * 16 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def call(url, body, token=None, content_type="application/json"):
    headers = {"content-type": content_type}
    if token:
        headers["authorization"] = "Bearer " + token
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=20) as r:
        return json.load(r)


def main():
    pds, handle, password, repository, kind = sys.argv[1:6]
    image = png_16x16() if kind == "png" else b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    session = call(f"{pds}/xrpc/com.atproto.server.createSession", {"identifier": handle, "password": password})
    token, did = session["accessJwt"], session["did"]
    blob = call(f"{pds}/xrpc/com.atproto.repo.uploadBlob", image, token, "image/png")["blob"]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    record = {"$type": "io.atcr.repo.page", "repository": repository, "description": f"# {repository}\n",
              "avatar": blob, "createdAt": now, "updatedAt": now}
    call(f"{pds}/xrpc/com.atproto.repo.putRecord",
         {"repo": did, "collection": "io.atcr.repo.page", "rkey": repository.replace("/", "~"), "record": record},
         token)
    with tempfile.NamedTemporaryFile(delete=False, suffix="." + kind) as f:
        f.write(image)
    print(blob["ref"]["$link"])
    print(f.name)


if __name__ == "__main__":
    main()

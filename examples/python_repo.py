#!/usr/bin/env python3
"""python_repo: the Python bindings (bindings/python): builds and signs a
repository with an io.atcr.tag record, verifies its CAR against the public
key alone, parses a manifest and presigns an S3 URL. No network."""
import sys

import atcr

key = atcr.Key("k256")
builder = atcr.RepoBuilder("did:web:python-example.test", key)
cid = builder.put("io.atcr.tag", "app:latest", {"$type": "io.atcr.tag", "repository": "app", "tag": "latest",
                                                "createdAt": "2026-01-01T00:00:00.000Z"})
repo = atcr.Repo(builder.export_car(), did_key=key.did_key)
print(f"repo {repo.did} rev {repo.rev}: {len(repo)} record(s)")
for collection, rkey, record_cid, record in repo.records():
    print(f"  {collection}/{rkey} tag={record['tag']} cid matches: {record_cid == cid}")
try:
    atcr.Repo(builder.export_car(), did_key=atcr.Key("p256").did_key)
    sys.exit("a forged key verified")
except atcr.Error as e:
    print(f"wrong key refused: {e}")
m = atcr.Manifest(b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}')
print(f"index {m.digest} is_index={m.is_index}")
print(atcr.presign_s3("http://127.0.0.1:7480", "blobs", "k", access_key_id="AKID", secret_access_key="s")[:40])
print("ok")

"""pytest tests of the atcr package against the real libatcr (no network)."""
import atcr
import pytest

MANIFEST = (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
            b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,'
            b'"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},'
            b'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":3,'
            b'"digest":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}]}')


def test_versions():
    assert atcr.abi_version() == 1
    assert atcr.library_version().count(".") == 2


def test_digest():
    assert atcr.digest_of(b"{}") == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    atcr.validate_digest("sha256:" + "a" * 64)
    with pytest.raises(atcr.Error):
        atcr.validate_digest("sha256:XYZ")


def test_reference():
    r = atcr.Reference("registry.example/alice.example/team/app:v1")
    assert (r.registry, r.identity, r.repository, r.tag, r.digest) == (
        "registry.example", "alice.example", "team/app", "v1", None)
    d = atcr.Reference("did:plc:ewvi7nxzyoun6zhxrhs64oiz/app@sha256:" + "b" * 64)
    assert d.identity == "did:plc:ewvi7nxzyoun6zhxrhs64oiz" and d.tag is None and d.digest.endswith("b" * 64)
    assert atcr.Reference("Alice.Example/app").tag == "latest"
    with pytest.raises(atcr.Error):
        atcr.Reference("alice.example/App:v1")


def test_manifest():
    m = atcr.Manifest(MANIFEST)
    assert m.digest == atcr.digest_of(MANIFEST)
    assert m.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert not m.is_index
    assert m.children == [("sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", 3)]
    with pytest.raises(atcr.Error, match="schemaVersion"):
        atcr.Manifest(b'{"schemaVersion":1}')
    with pytest.raises(atcr.Error):
        atcr.Manifest(b"not json")


def test_signed_repo_round_trip_and_a_forged_key():
    key = atcr.Key("k256")
    b = atcr.RepoBuilder("did:web:py.test", key)
    cid = b.put("io.atcr.tag", "app:latest", {"$type": "io.atcr.tag", "repository": "app", "tag": "latest",
                                              "createdAt": "2026-01-01T00:00:00.000Z"})
    car = b.export_car()
    repo = atcr.Repo(car, did_key=key.did_key)
    assert repo.did == "did:web:py.test" and len(repo) == 1
    (collection, rkey, record_cid, record), = list(repo.records())
    assert (collection, rkey, record_cid, record["tag"]) == ("io.atcr.tag", "app:latest", cid, "latest")
    with pytest.raises(atcr.Error):
        atcr.Repo(car, did_key=atcr.Key("p256").did_key)
    with pytest.raises(atcr.Error):
        atcr.Repo(car[:-10])


def test_presign():
    url = atcr.presign_s3("http://127.0.0.1:7480", "blobs", "a/b", access_key_id="AKID", secret_access_key="s")
    assert url.startswith("http://127.0.0.1:7480/blobs/a/b?") and "X-Amz-Signature=" in url
    with pytest.raises(atcr.Error):
        atcr.presign_s3("http://127.0.0.1:7480", "blobs", "a", access_key_id="A", secret_access_key="s", method="POST")


def test_unreachable_registry_is_an_error_not_a_crash():
    with pytest.raises(atcr.Error):
        atcr.registry_get_manifest("http://127.0.0.1:9", "alice.test/app", "latest")

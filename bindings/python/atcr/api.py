"""Pythonic classes over the C interface."""
import ctypes
import json

from ._lib import Error, call, dec, enc, lib, take_bytes, take_string


class _Handle:
    """Owns one C handle; destroyed on close() or garbage collection."""
    _destroy = None

    def __init__(self, ptr):
        self._ptr = ptr

    def close(self):
        if self._ptr:
            type(self)._destroy(self._ptr)
            self._ptr = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def digest_of(data: bytes) -> str:
    """The OCI digest ("sha256:<hex>") of `data`."""
    return take_string(lib.atcr_digest_of(data, len(data)))


def validate_digest(digest: str) -> None:
    """Raises Error unless `digest` is a valid digest libatcr can verify."""
    call(lib.atcr_digest_validate, enc(digest))


class Reference(_Handle):
    """An image reference: [registry/]<handle-or-DID>/<repository>[:tag|@digest]."""
    _destroy = lib.atcr_reference_destroy

    def __init__(self, text: str):
        super().__init__(call(lib.atcr_reference_parse, enc(text)))
        self.registry = dec(lib.atcr_reference_registry(self._ptr))
        self.identity = dec(lib.atcr_reference_identity(self._ptr))
        self.repository = dec(lib.atcr_reference_repository(self._ptr))
        self.tag = dec(lib.atcr_reference_tag(self._ptr)) or None
        self.digest = dec(lib.atcr_reference_digest(self._ptr)) or None
        self.close()  # everything is copied out

    @property
    def name(self) -> str:
        return f"{self.identity}/{self.repository}"

    def __repr__(self):
        return f"Reference({self.registry!r}, {self.name!r}, tag={self.tag!r}, digest={self.digest!r})"


class Manifest(_Handle):
    """A parsed, validated OCI or Docker manifest (image or index)."""
    _destroy = lib.atcr_manifest_destroy

    def __init__(self, data: bytes, content_type: str = ""):
        super().__init__(call(lib.atcr_manifest_parse, data, len(data), enc(content_type)))
        p = self._ptr
        self.raw = bytes(data)
        self.digest = dec(lib.atcr_manifest_digest(p))
        self.media_type = dec(lib.atcr_manifest_media_type(p))
        self.is_index = bool(lib.atcr_manifest_is_index(p))
        self.config_digest = dec(lib.atcr_manifest_config_digest(p)) or None
        # (digest, size) of each layer, or of each manifest an index lists.
        self.children = [(dec(lib.atcr_manifest_child_digest(p, i)), lib.atcr_manifest_child_size(p, i))
                         for i in range(lib.atcr_manifest_child_count(p))]
        self.close()


class Identity:
    """A resolved identity (see Resolver.resolve)."""

    def __init__(self, did, handle, pds, signing_key, document):
        self.did, self.handle, self.pds, self.signing_key, self.document = did, handle, pds, signing_key, document

    def __repr__(self):
        return f"Identity(did={self.did!r}, handle={self.handle!r}, pds={self.pds!r})"


class Resolver(_Handle):
    """Resolves handles and DIDs (DNS, .well-known, did:plc, did:web), caching answers."""
    _destroy = lib.atcr_resolver_destroy

    def __init__(self, plc_url: str = None, development: bool = False):
        super().__init__(call(lib.atcr_resolver_create, enc(plc_url), 1 if development else 0))

    def resolve(self, handle_or_did: str) -> Identity:
        ptr = call(lib.atcr_resolve, self._ptr, enc(handle_or_did))
        try:
            return Identity(dec(lib.atcr_identity_did(ptr)), dec(lib.atcr_identity_handle(ptr)) or None,
                            dec(lib.atcr_identity_pds(ptr)) or None, dec(lib.atcr_identity_signing_key(ptr)) or None,
                            json.loads(take_string(lib.atcr_identity_document_json(ptr))))
        finally:
            lib.atcr_identity_destroy(ptr)


class Repo(_Handle):
    """A repository read from a CAR: blocks, MST and records verified; the
    commit's signature too when `did_key` is given."""
    _destroy = lib.atcr_repo_destroy

    def __init__(self, car: bytes, did_key: str = None):
        super().__init__(call(lib.atcr_repo_read_car, car, len(car), enc(did_key)))
        self.did = dec(lib.atcr_repo_did(self._ptr))
        self.rev = dec(lib.atcr_repo_rev(self._ptr))
        self.commit_cid = dec(lib.atcr_repo_commit_cid(self._ptr))

    def __len__(self):
        return lib.atcr_repo_record_count(self._ptr)

    def records(self):
        """(collection, rkey, cid, record dict) for each record, in path order."""
        for i in range(len(self)):
            yield (dec(lib.atcr_repo_record_collection(self._ptr, i)), dec(lib.atcr_repo_record_rkey(self._ptr, i)),
                   dec(lib.atcr_repo_record_cid(self._ptr, i)),
                   json.loads(take_string(call(lib.atcr_repo_record_json, self._ptr, i))))


def verify_record_proof(car: bytes, did: str, did_key: str, collection: str, rkey: str) -> dict:
    """Verifies com.atproto.sync.getRecord's CAR; returns the record, or
    raises Error (a bad proof, a bad signature, or a proof of absence)."""
    return json.loads(take_string(call(lib.atcr_verify_record_proof, car, len(car), enc(did), enc(did_key),
                                       enc(collection), enc(rkey))))


class Key(_Handle):
    """A signing key pair ("k256" or "p256"), generated fresh."""
    _destroy = lib.atcr_key_destroy

    def __init__(self, key_type: str = "k256"):
        super().__init__(call(lib.atcr_key_generate, enc(key_type)))

    @property
    def did_key(self) -> str:
        return take_string(lib.atcr_key_did_key(self._ptr))


class RepoBuilder(_Handle):
    """An in-memory repository for `did`, each put() one signed commit."""
    _destroy = lib.atcr_repo_builder_destroy

    def __init__(self, did: str, key: Key):
        self._key = key  # must outlive the builder
        super().__init__(call(lib.atcr_repo_builder_create, enc(did), key._ptr))

    def put(self, collection: str, rkey: str, record: dict) -> str:
        """Creates or replaces a record; returns its CID."""
        return take_string(call(lib.atcr_repo_builder_put, self._ptr, enc(collection), enc(rkey),
                                enc(json.dumps(record))))

    def export_car(self) -> bytes:
        n = ctypes.c_size_t()
        ptr = call(lib.atcr_repo_builder_export_car, self._ptr, ctypes.byref(n))
        return take_bytes(ptr, n.value)


def presign_s3(endpoint: str, bucket: str, key: str, *, access_key_id: str, secret_access_key: str,
               region: str = "us-east-1", method: str = "GET", expires: int = 900, path_style: bool = True) -> str:
    """A SigV4 presigned URL (no network)."""
    return take_string(call(lib.atcr_s3_presign, enc(endpoint), enc(bucket), enc(region), enc(access_key_id),
                            enc(secret_access_key), 1 if path_style else 0, enc(method), enc(key), expires))


def registry_login(registry: str, username: str = None, password: str = None, scope: str = "") -> str:
    """A registry token from the registry's token realm ("" when it needs none)."""
    return take_string(call(lib.atcr_registry_login, enc(registry), enc(username), enc(password), enc(scope)))


def registry_get_manifest(registry: str, name: str, reference: str, token: str = None) -> Manifest:
    """Fetches a manifest by tag or digest; its bytes are checked against
    the digest the registry names."""
    n = ctypes.c_size_t()
    ctype = ctypes.c_void_p()
    ptr = call(lib.atcr_registry_get_manifest, enc(registry), enc(name), enc(reference), enc(token),
               ctypes.byref(n), ctypes.byref(ctype))
    data = take_bytes(ptr, n.value)
    return Manifest(data, take_string(ctype.value) or "")


def registry_resolve_tag(registry: str, name: str, tag: str, token: str = None) -> str:
    """The digest a tag points to."""
    return take_string(call(lib.atcr_registry_resolve_tag, enc(registry), enc(name), enc(tag), enc(token)))


__all__ = ["Error"]

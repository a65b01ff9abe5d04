"""libatcr from Python: OCI manifests and references, atproto identities,
signed repositories and record proofs, S3 presigning and registry calls.

A thin layer over libatcr's C interface (bindings/c/atcr.h) through ctypes:
no compiler is needed to install it, and it uses exactly the functions C
programs use. The shared library is found through $ATCR_LIBRARY (a path to
libatcr.so), then the system's library path (ctypes.util.find_library).

Errors are raised as atcr.Error (a subclass of Exception) carrying the
library's message. Objects are safe to use from one thread at a time.
"""
from ._lib import Error, abi_version, library_version
from .api import (Identity, Key, Manifest, Reference, Repo, RepoBuilder, Resolver, digest_of, presign_s3,
                  registry_get_manifest, registry_login, registry_resolve_tag, validate_digest,
                  verify_record_proof)

__all__ = [
    "Error", "abi_version", "library_version", "Identity", "Key", "Manifest", "Reference", "Repo",
    "RepoBuilder", "Resolver", "digest_of", "presign_s3", "registry_get_manifest", "registry_login",
    "registry_resolve_tag", "validate_digest", "verify_record_proof",
]
__version__ = "0.1.0"

"""Loading libatcr and declaring the C interface's signatures."""
import ctypes
import ctypes.util
import os

ABI_VERSION = 1  # ATCR_C_ABI_VERSION this module was written for


class Error(Exception):
    """A failure reported by libatcr (its message says what and why)."""


def _load():
    path = os.environ.get("ATCR_LIBRARY") or ctypes.util.find_library("atcr")
    if not path:
        raise ImportError("libatcr not found: install it (meson install) or set ATCR_LIBRARY to libatcr.so")
    return ctypes.CDLL(path)


lib = _load()

c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t
c_int = ctypes.c_int
ubyte_p = ctypes.POINTER(ctypes.c_ubyte)
err_p = ctypes.POINTER(c_void_p)

# name: (restype, argtypes). Owned strings come back as c_void_p so they
# can be freed with atcr_free after copying.
_SIGNATURES = {
    "atcr_abi_version": (c_int, []),
    "atcr_version": (c_char_p, []),
    "atcr_free": (None, [c_void_p]),
    "atcr_digest_of": (c_void_p, [c_char_p, c_size_t]),
    "atcr_digest_validate": (c_int, [c_char_p, err_p]),
    "atcr_reference_parse": (c_void_p, [c_char_p, err_p]),
    "atcr_reference_destroy": (None, [c_void_p]),
    "atcr_reference_registry": (c_char_p, [c_void_p]),
    "atcr_reference_identity": (c_char_p, [c_void_p]),
    "atcr_reference_repository": (c_char_p, [c_void_p]),
    "atcr_reference_tag": (c_char_p, [c_void_p]),
    "atcr_reference_digest": (c_char_p, [c_void_p]),
    "atcr_manifest_parse": (c_void_p, [c_char_p, c_size_t, c_char_p, err_p]),
    "atcr_manifest_destroy": (None, [c_void_p]),
    "atcr_manifest_digest": (c_char_p, [c_void_p]),
    "atcr_manifest_media_type": (c_char_p, [c_void_p]),
    "atcr_manifest_is_index": (c_int, [c_void_p]),
    "atcr_manifest_config_digest": (c_char_p, [c_void_p]),
    "atcr_manifest_child_count": (c_size_t, [c_void_p]),
    "atcr_manifest_child_digest": (c_char_p, [c_void_p, c_size_t]),
    "atcr_manifest_child_size": (ctypes.c_uint64, [c_void_p, c_size_t]),
    "atcr_resolver_create": (c_void_p, [c_char_p, c_int, err_p]),
    "atcr_resolver_destroy": (None, [c_void_p]),
    "atcr_resolve": (c_void_p, [c_void_p, c_char_p, err_p]),
    "atcr_identity_destroy": (None, [c_void_p]),
    "atcr_identity_did": (c_char_p, [c_void_p]),
    "atcr_identity_handle": (c_char_p, [c_void_p]),
    "atcr_identity_pds": (c_char_p, [c_void_p]),
    "atcr_identity_signing_key": (c_char_p, [c_void_p]),
    "atcr_identity_document_json": (c_void_p, [c_void_p]),
    "atcr_repo_read_car": (c_void_p, [c_char_p, c_size_t, c_char_p, err_p]),
    "atcr_repo_destroy": (None, [c_void_p]),
    "atcr_repo_did": (c_char_p, [c_void_p]),
    "atcr_repo_rev": (c_char_p, [c_void_p]),
    "atcr_repo_commit_cid": (c_char_p, [c_void_p]),
    "atcr_repo_record_count": (c_size_t, [c_void_p]),
    "atcr_repo_record_collection": (c_char_p, [c_void_p, c_size_t]),
    "atcr_repo_record_rkey": (c_char_p, [c_void_p, c_size_t]),
    "atcr_repo_record_cid": (c_char_p, [c_void_p, c_size_t]),
    "atcr_repo_record_json": (c_void_p, [c_void_p, c_size_t, err_p]),
    "atcr_verify_record_proof": (c_void_p, [c_char_p, c_size_t, c_char_p, c_char_p, c_char_p, c_char_p, err_p]),
    "atcr_key_generate": (c_void_p, [c_char_p, err_p]),
    "atcr_key_destroy": (None, [c_void_p]),
    "atcr_key_did_key": (c_void_p, [c_void_p]),
    "atcr_repo_builder_create": (c_void_p, [c_char_p, c_void_p, err_p]),
    "atcr_repo_builder_destroy": (None, [c_void_p]),
    "atcr_repo_builder_put": (c_void_p, [c_void_p, c_char_p, c_char_p, c_char_p, err_p]),
    "atcr_repo_builder_export_car": (c_void_p, [c_void_p, ctypes.POINTER(c_size_t), err_p]),
    "atcr_s3_presign": (c_void_p, [c_char_p, c_char_p, c_char_p, c_char_p, c_char_p, c_int, c_char_p, c_char_p,
                                   ctypes.c_int64, err_p]),
    "atcr_registry_get_manifest": (c_void_p, [c_char_p, c_char_p, c_char_p, c_char_p, ctypes.POINTER(c_size_t),
                                              ctypes.POINTER(c_void_p), err_p]),
    "atcr_registry_resolve_tag": (c_void_p, [c_char_p, c_char_p, c_char_p, c_char_p, err_p]),
    "atcr_registry_login": (c_void_p, [c_char_p, c_char_p, c_char_p, c_char_p, err_p]),
}
for _name, (_res, _args) in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args


def enc(s):
    """str -> bytes for a const char* argument (None stays NULL)."""
    return None if s is None else s.encode()


def dec(b):
    """A borrowed const char* result -> str."""
    return b.decode() if b is not None else ""


def take_string(ptr):
    """An owned char* result -> str, freeing it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        lib.atcr_free(ptr)


def take_bytes(ptr, length):
    """An owned byte buffer -> bytes, freeing it."""
    try:
        return ctypes.string_at(ptr, length)
    finally:
        lib.atcr_free(ptr)


def call(fn, *args):
    """Calls a function whose last parameter is char** errptr; raises Error
    with the library's message when it sets one."""
    err = c_void_p()
    result = fn(*args, ctypes.byref(err))
    if err.value:
        raise Error(take_string(err.value))
    return result


def abi_version():
    return lib.atcr_abi_version()


def library_version():
    return dec(lib.atcr_version())


if abi_version() != ABI_VERSION:
    raise ImportError(f"libatcr's C ABI is {abi_version()}; this package needs {ABI_VERSION}")

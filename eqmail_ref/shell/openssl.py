"""OpenSSL as eQmail sees it, asked of OpenSSL itself (spec §4, §5.6).

eQmail prints ERR_error_string(ERR_get_error()): the *earliest* error of the thread's
queue, in OpenSSL 3's form `error:<8 hex digits>:<library>::<reason>` (the function field
is empty since 3.0). Python's ssl reports the *last* error, by name (`WRONG_VERSION_NUMBER`),
and clears the queue. So this module talks to the libssl/libcrypto that Python's `_ssl` is
linked against, through ctypes:

* `error_text(code)`: ERR_error_string_n() of a packed error code. A code comes from an
  ssl.SSLError's (library, reason) names through `_ssl`'s own tables, packed as OpenSSL 3's
  ERR_PACK does (`lib << 23 | reason`: SSL = 20 gives 0x0A000000), or from a system error
  (`0x80000000 | errno`, OpenSSL 3's ERR_SYSTEM_FLAG).
* `server_tls_init(home, queue)`: the OpenSSL calls of qmail-smtpd's tls_init(), in its
  order and with its files, so that "missing certificate" and "no valid RSA private key"
  are OpenSSL's verdicts and the queue holds what eQmail's holds (the ignored failures of
  clientca.pem and clientcrl.pem included: they come first).
* `verify_last_error(cafile, chain)`: X509_verify_cert() with qmail-remote's verify
  callback (accept everything), giving the *last* verification error, as
  SSL_get_verify_result() does in qmail-remote.

Fallback, when ctypes cannot reach the library (another platform, a build without the
deprecated SSL_use_RSAPrivateKey_file): `available()` is False, the callers use Python's
ssl, and `error_text` formats the code from `_ssl`'s names (`<LIB> routines`, the reason
name in lower case with spaces), which is OpenSSL 3's text for most SSL-library errors
but not all (e.g. "x509 certificate routines"). `python3 -m eqmail_ref.shell.openssl`
says which one is in use.
"""

from __future__ import annotations

import _ssl
import ctypes
import ctypes.util
import functools
import os
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BUILDS", "ErrorQueue", "SYSTEM_FLAG", "available", "code_of", "eqmail_text", "error_text",
           "exception_text", "pack", "server_tls_init", "verify_last_error"]

# the OpenSSL an imitated build links against (`eqmail-ref --openssl`): the reference is
# OpenSSL 3; "1.1"/"1.0" change what OpenSSL 1.x did differently (an EOF in a handshake)
BUILDS = ("3", "1.1", "1.0")
SYSTEM_FLAG = 0x80000000  # ERR_SYSTEM_FLAG: a system error, errno in the low bits
_LIB_SHIFT, _LIB_MASK, _REASON_MASK = 23, 0xFF, 0x7FFFFF  # OpenSSL 3's err.h
_SSL_FILETYPE_PEM = 1
_X509_FILETYPE_PEM = 1
_LOAD_CRYPTO_STRINGS, _LOAD_SSL_STRINGS = 0x00000002, 0x00200000  # OPENSSL_INIT_LOAD_*
_LIB_CODES: dict[str, int] = {name: code for code, name in _ssl.lib_codes_to_names.items()}
_REASON_CODES: dict[tuple[int, str], int] = {
    (lib, name): reason for (lib, reason), name in _ssl.err_codes_to_names.items()}


def pack(lib: int, reason: int) -> int:
    """ERR_PACK of OpenSSL 3 (no function code)."""
    return (lib & _LIB_MASK) << _LIB_SHIFT | (reason & _REASON_MASK)


def code_of(exc: BaseException) -> int | None:
    """The packed OpenSSL error code behind a Python exception, if it names one."""
    if isinstance(exc, ssl.SSLError):
        lib = _LIB_CODES.get(str(getattr(exc, "library", "") or ""))
        reason = str(getattr(exc, "reason", "") or "")
        if lib is None or (lib, reason) not in _REASON_CODES:
            return None
        return pack(lib, _REASON_CODES[lib, reason])
    if isinstance(exc, OSError) and exc.errno:
        return SYSTEM_FLAG | exc.errno
    return None


def _proc_maps_path(name: str) -> str | None:
    try:
        with open("/proc/self/maps", encoding="latin-1") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if f"/{name}.so" in path:
                    return path
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class _Libs:
    crypto: Any
    ssl: Any


def _declare(crypto: Any, libssl: Any) -> None:
    p, i, ul, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_ulong, ctypes.c_char_p
    sigs: tuple[tuple[Any, str, Any, list[Any]], ...] = (
        (crypto, "ERR_get_error", ul, []),
        (crypto, "ERR_clear_error", None, []),
        (crypto, "ERR_error_string_n", None, [ul, s, ctypes.c_size_t]),
        (crypto, "X509_verify_cert_error_string", s, [ctypes.c_long]),
        (crypto, "X509_STORE_new", p, []), (crypto, "X509_STORE_free", None, [p]),
        (crypto, "X509_STORE_load_locations", i, [p, s, s]),
        (crypto, "X509_STORE_add_lookup", p, [p, p]), (crypto, "X509_LOOKUP_file", p, []),
        (crypto, "X509_load_crl_file", i, [p, s, i]),
        (crypto, "X509_STORE_CTX_new", p, []), (crypto, "X509_STORE_CTX_free", None, [p]),
        (crypto, "X509_STORE_CTX_init", i, [p, p, p, p]),
        (crypto, "X509_STORE_CTX_set_default", i, [p, s]),
        (crypto, "X509_STORE_CTX_set_verify_cb", None, [p, p]),
        (crypto, "X509_STORE_CTX_get_error", i, [p]),
        (crypto, "X509_verify_cert", i, [p]),
        (crypto, "d2i_X509", p, [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        (crypto, "X509_free", None, [p]),
        (crypto, "OPENSSL_sk_new_null", p, []), (crypto, "OPENSSL_sk_push", i, [p, p]),
        (crypto, "OPENSSL_sk_free", None, [p]),
        (libssl, "TLS_server_method", p, []),
        (libssl, "SSL_CTX_new", p, [p]), (libssl, "SSL_CTX_free", None, [p]),
        (libssl, "SSL_CTX_use_certificate_chain_file", i, [p, s]),
        (libssl, "SSL_CTX_load_verify_locations", i, [p, s, s]),
        (libssl, "SSL_CTX_get_cert_store", p, [p]),
        (libssl, "SSL_new", p, [p]), (libssl, "SSL_free", None, [p]),
        (libssl, "SSL_use_RSAPrivateKey_file", i, [p, s, i]),
    )
    for lib, name, restype, argtypes in sigs:
        fn = getattr(lib, name)  # AttributeError: a symbol this build lacks
        fn.restype, fn.argtypes = restype, argtypes


@functools.cache
def _libs() -> _Libs | None:
    """The libcrypto and libssl Python's _ssl uses (the same error queue, the same strings)."""
    if os.environ.get("EQMAIL_REF_NO_CTYPES_OPENSSL"):
        return None  # the documented fallback, forced (tests use it)
    crypto_path = _proc_maps_path("libcrypto") or ctypes.util.find_library("crypto")
    ssl_path = _proc_maps_path("libssl") or ctypes.util.find_library("ssl")
    if not crypto_path or not ssl_path:
        return None
    try:
        crypto, libssl = ctypes.CDLL(crypto_path), ctypes.CDLL(ssl_path)
        crypto.OpenSSL_version_num.restype = ctypes.c_ulong
        if crypto.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
            return None  # not the library Python's ssl is linked against
        _declare(crypto, libssl)
        # SSL_load_error_strings(), as eQmail's ssl_error() calls it: Python's _ssl names
        # errors from its own tables and never loads libssl's strings
        libssl.OPENSSL_init_ssl.restype = ctypes.c_int
        libssl.OPENSSL_init_ssl.argtypes = [ctypes.c_uint64, ctypes.c_void_p]
        libssl.OPENSSL_init_ssl(_LOAD_SSL_STRINGS | _LOAD_CRYPTO_STRINGS, None)
    except (OSError, AttributeError):
        return None
    return _Libs(crypto, libssl)


def available() -> bool:
    return _libs() is not None


def _fallback_text(code: int) -> bytes:
    if code & SYSTEM_FLAG:
        return f"error:{code:08X}:system library::{os.strerror(code & 0x7FFFFFFF)}".encode()
    lib, reason = code >> _LIB_SHIFT & _LIB_MASK, code & _REASON_MASK
    lib_name = _ssl.lib_codes_to_names.get(lib, f"lib({lib})")
    name = _ssl.err_codes_to_names.get((lib, reason), f"reason({reason})")
    return f"error:{code:08X}:{lib_name} routines::{name.lower().replace('_', ' ')}".encode()


def error_text(code: int) -> bytes:
    """ERR_error_string() of `code`, as eQmail prints it."""
    libs = _libs()
    if libs is None:
        return _fallback_text(code)
    buf = ctypes.create_string_buffer(256)
    libs.crypto.ERR_error_string_n(code, buf, len(buf))
    return buf.value


def eqmail_text(code: int) -> bytes:
    """ssl_error()'s text for `code`: eQmail keeps ERR_get_error() in an `int` (tls.c), so
    a system error's code (bit 31 set) reaches ERR_error_string() sign-extended, and a
    64-bit build prints `error:FFFFFFFF80000002:system library::No such file or directory`
    (measured with real eQmail 1.09 on OpenSSL 3.0)."""
    return error_text(ctypes.c_ulong(ctypes.c_int(code & 0xFFFFFFFF).value).value)


def exception_text(exc: BaseException) -> bytes | None:
    """eQmail's text for the error behind `exc`, or None if it names no OpenSSL error."""
    code = code_of(exc)
    return None if code is None else eqmail_text(code)


@dataclass
class ErrorQueue:
    """The error queue of one eQmail process: eQmail takes the earliest error
    (ERR_get_error) when it prints one and never clears it; OpenSSL clears it where
    SSL_CTX_use_certificate_chain_file() and each SSL_accept/SSL_connect step start."""

    codes: list[int] = field(default_factory=list)

    def drain(self) -> None:
        """Move what the calls just made left on this thread's queue into this one."""
        libs = _libs()
        if libs is None:
            return
        while code := libs.crypto.ERR_get_error():
            self.codes.append(code)

    def push(self, exc: BaseException) -> None:
        code = code_of(exc)
        if code is not None:
            self.codes.append(code)

    def take(self) -> bytes | None:
        """ssl_error(): ERR_error_string(ERR_get_error()), None when the queue is empty.
        See eqmail_text() for the int."""
        return eqmail_text(self.codes.pop(0)) if self.codes else None

    def clear(self) -> None:
        self.codes.clear()


def server_tls_init(home: Path, queue: ErrorQueue) -> bytes | None:
    """qmail-smtpd's tls_init() up to the key (spec §4): None when the certificate chain and
    the RSA key load, else the failure ("missing certificate", "no valid RSA private key");
    OpenSSL's errors go to `queue`. The options (no SSLv2/SSLv3), the verify callback and
    ECDH do not change what loads. Needs available()."""
    libs = _libs()
    assert libs is not None
    c, s = libs.crypto, libs.ssl
    control = home / "control"
    servercert = os.fsencode(control / "servercert.pem")
    c.ERR_clear_error()
    queue.clear()  # SSL_CTX_use_certificate_chain_file() starts with ERR_clear_error()
    ctx = s.SSL_CTX_new(s.TLS_server_method())
    try:
        if not ctx:
            return b"unable to initialize ctx"
        if not s.SSL_CTX_use_certificate_chain_file(ctx, servercert):
            return b"missing certificate"
        s.SSL_CTX_load_verify_locations(ctx, os.fsencode(control / "clientca.pem"), None)
        lookup = c.X509_STORE_add_lookup(s.SSL_CTX_get_cert_store(ctx), c.X509_LOOKUP_file())
        if lookup:
            c.X509_load_crl_file(lookup, os.fsencode(control / "clientcrl.pem"), _X509_FILETYPE_PEM)
        one = s.SSL_new(ctx)
        if not one:
            return b"unable to initialize ssl"
        try:
            if not s.SSL_use_RSAPrivateKey_file(one, servercert, _SSL_FILETYPE_PEM):
                return b"no valid RSA private key"
        finally:
            s.SSL_free(one)
        return None
    finally:
        if ctx:
            s.SSL_CTX_free(ctx)
        queue.drain()


_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_ACCEPT_ALL = _VERIFY_CB(lambda ok, store_ctx: 1)  # qmail-remote's verify_cb()


def verify_last_error(cafile: Path, chain: list[bytes]) -> bytes | None:
    """What SSL_get_verify_result() holds after qmail-remote's handshake with `cafile` as
    the only trust (spec §5.6): verification goes on past every error (verify_cb returns 1),
    so this is the *last* error's X509_verify_cert_error_string, None when it verified.
    `chain`: the server's certificates (DER), leaf first. Needs available()."""
    libs = _libs()
    assert libs is not None and chain
    c = libs.crypto
    store, store_ctx, untrusted = c.X509_STORE_new(), c.X509_STORE_CTX_new(), c.OPENSSL_sk_new_null()
    certs: list[int] = []
    try:
        c.X509_STORE_load_locations(store, os.fsencode(cafile), None)
        for der in chain:
            data = ctypes.c_char_p(der)
            cert = c.d2i_X509(None, ctypes.byref(data), len(der))
            if not cert:
                return None
            certs.append(cert)
            if len(certs) > 1:
                c.OPENSSL_sk_push(untrusted, cert)
        c.X509_STORE_CTX_init(store_ctx, store, certs[0], untrusted)
        c.X509_STORE_CTX_set_default(store_ctx, b"ssl_server")
        c.X509_STORE_CTX_set_verify_cb(store_ctx, ctypes.cast(_ACCEPT_ALL, ctypes.c_void_p))
        c.X509_verify_cert(store_ctx)
        err = c.X509_STORE_CTX_get_error(store_ctx)
        return None if err == 0 else bytes(c.X509_verify_cert_error_string(err))
    finally:
        c.X509_STORE_CTX_free(store_ctx)
        c.OPENSSL_sk_free(untrusted)
        for cert in certs:
            c.X509_free(cert)
        c.X509_STORE_free(store)
        c.ERR_clear_error()


if __name__ == "__main__":
    where = _proc_maps_path("libcrypto") if available() else None
    print(f"{ssl.OPENSSL_VERSION}: " + (f"ERR_error_string from {where}" if where
                                         else "fallback texts from _ssl's names"))
    sys.exit(0)

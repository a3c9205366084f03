"""The client side of STARTTLS for the qmail-remote shell (spec §5.6), with Python's ssl.

TlsPrepare: an SSL context; with a CA file (control/tlshosts/<fqdn>.pem) the server must
verify, and the file must load ("ZTLS unable to load <file>: <OpenSSL's earliest error>");
control/clientcert.pem is offered when it loads (errors ignored, as eQmail ignores them).
No SNI is sent (eQmail 1.08/1.09 never set one). Cipher strings apply to TLS <= 1.2
(OpenSSL keeps its own TLS 1.3 list); a cipher list OpenSSL rejects is ignored, as
SSL_set_cipher_list's result is.

TlsHandshake: SSL_connect over the connected socket. eQmail's verify callback accepts
everything, so the handshake completes (also under TLS 1.3), QUIT goes out inside TLS, and
the report names SSL_get_verify_result(): the *last* verification error ("unable to verify
the first certificate" for a server of another CA). Here the handshake verifies nothing and
OpenSSL's X509_verify_cert() then checks the server's chain against the CA file with the
same accept-all callback (eqmail_ref.shell.openssl). Without ctypes access to OpenSSL,
Python's ssl verifies in the handshake instead: it stops at the *first* error and aborts
the handshake (`usable=False`: no QUIT). Error texts are ERR_error_string's (OpenSSL 3).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from eqmail_ref.remote.requests import TlsHandshake, TlsOutcome, TlsPrepare, TlsPrepared
from eqmail_ref.shell import openssl

__all__ = ["ClientContext", "prepare", "handshake", "close_notify"]


def _text(exc: BaseException) -> bytes:
    """ssl_error_str(): OpenSSL's error text, else the system error's."""
    text = openssl.exception_text(exc)
    if text is not None:
        return text
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).encode()


@dataclass(frozen=True)
class ClientContext:
    """The SSL context and the CA file the chain is checked against after the handshake
    (None: no check, or Python's ssl checks in the handshake)."""

    ctx: ssl.SSLContext
    cafile: Path | None = None


def prepare(home: Path, request: TlsPrepare) -> tuple[TlsPrepared, ClientContext | None]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # eQmail never sets SSL_OP_IGNORE_UNEXPECTED_EOF; some Pythons do by default (Debian's
    # 3.11.2), which would hide OpenSSL 3's "unexpected eof while reading" (spec §4)
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    ctx.check_hostname = False
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1  # SSLv23_client_method(): no floor of Python's
    except (ValueError, ssl.SSLError):
        pass
    ctx.verify_mode = ssl.CERT_NONE
    check_after: Path | None = None
    if request.cafile is not None:
        cafile = home / request.cafile.decode("latin-1")
        try:
            ctx.load_verify_locations(str(cafile))
        except (OSError, ssl.SSLError) as exc:
            return TlsPrepared(ok=False, error=_text(exc)), None
        if openssl.available():
            check_after = cafile  # after the handshake, as eQmail's callback lets it
        else:
            ctx.verify_mode = ssl.CERT_REQUIRED
    if request.client_cert:
        try:
            ctx.load_cert_chain(str(home / "control" / "clientcert.pem"))
        except (OSError, ssl.SSLError):
            pass
    return TlsPrepared(ok=True), ClientContext(ctx, check_after)


def _names(der: bytes) -> tuple[tuple[bytes, ...], bytes | None]:
    """The DNS subjectAltNames in certificate order and the subject's first commonName."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(name.encode("latin-1", "replace")
                    for name in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns = ()
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else None
    return dns, (cn.encode() if isinstance(cn, str) else cn)


def _chain(tls: ssl.SSLSocket) -> list[bytes]:
    """The server's certificates, leaf first (the whole chain from Python 3.13 on)."""
    obj = getattr(tls, "_sslobj", None)
    unverified = getattr(obj, "get_unverified_chain", None)
    if unverified is not None:
        chain = unverified() or []
        return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def handshake(sock: socket.socket, client: ClientContext, request: TlsHandshake, *,
              eof_is_error: bool = True) -> tuple[TlsOutcome, ssl.SSLSocket | None]:
    """`eof_is_error`: OpenSSL 3 names an EOF inside the handshake ("unexpected eof while
    reading"); OpenSSL 1.x saw SSL_ERROR_SYSCALL with errno 0, "TLS connect failed" alone."""
    ctx = client.ctx
    try:
        ctx.set_ciphers(request.ciphers.decode("latin-1"))
    except ssl.SSLError:
        pass
    sock.settimeout(max(request.timeout, 0))
    try:
        tls = ctx.wrap_socket(sock, server_hostname=None, do_handshake_on_connect=False)
    except (OSError, ssl.SSLError) as exc:
        return TlsOutcome(ok=False, error=_text(exc)), None
    try:
        tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:  # only without ctypes (see above)
        return TlsOutcome(ok=True, usable=False,
                          verify_error=str(exc.verify_message or "").encode()), None
    except TimeoutError:
        return TlsOutcome(ok=False, error=b"timed out"), None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
        return TlsOutcome(ok=False, error=_text(exc) if eof_is_error else b""), None
    except (ConnectionResetError, BrokenPipeError):
        return TlsOutcome(ok=False), None
    except (OSError, ssl.SSLError) as exc:
        return TlsOutcome(ok=False, error=_text(exc)), None
    if client.cafile is None and ctx.verify_mode == ssl.CERT_NONE:
        return TlsOutcome(ok=True), tls
    chain = _chain(tls)
    if not chain:
        return TlsOutcome(ok=True, has_cert=False), tls
    if client.cafile is not None:
        failed = openssl.verify_last_error(client.cafile, chain)
        if failed is not None:
            return TlsOutcome(ok=True, verify_error=failed), tls
    san, cn = _names(chain[0])
    return TlsOutcome(ok=True, san_dns=san, common_name=cn), tls


def close_notify(tls: ssl.SSLSocket) -> None:
    """ssl_exit(): SSL_shutdown() once at every exit with TLS up: close_notify goes out, the
    server's is not awaited (a non-blocking socket makes Python's second call return)."""
    try:
        tls.settimeout(0)
        tls.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass

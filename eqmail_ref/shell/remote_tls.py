"""The client side of STARTTLS for the qmail-remote shell (spec §5.6), with Python's ssl.

TlsPrepare: an SSL context; with a CA file (control/tlshosts/<fqdn>.pem) the server must
verify, and the file must load ("ZTLS unable to load ..."); control/clientcert.pem is
offered when it loads (errors ignored, as eQmail ignores them). No SNI is sent (eQmail
1.08/1.09 never set one). Cipher strings apply to TLS <= 1.2 (OpenSSL keeps its own TLS 1.3
list); a cipher list OpenSSL rejects is ignored, as SSL_set_cipher_list's result is.

TlsHandshake: SSL_connect over the connected socket. Deliberate differences, recorded in
TlsOutcome: eQmail finishes a handshake whose verification failed and then reports
X509_verify_cert_error_string; Python's ssl aborts it, with the same X509 text, so the
report is the same but the server sees an alert instead of a QUIT (`usable=False`).
OpenSSL error texts depend on the OpenSSL build: they are "SSL routines:<reason>" here.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

from eqmail_ref.remote.requests import TlsHandshake, TlsOutcome, TlsPrepare, TlsPrepared

__all__ = ["prepare", "handshake"]


def _reason(exc: BaseException) -> bytes:
    reason = getattr(exc, "reason", None)
    if reason:
        return b"SSL routines:" + str(reason).lower().replace("_", " ").encode()
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).encode()


def prepare(home: Path, request: TlsPrepare) -> tuple[TlsPrepared, ssl.SSLContext | None]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1  # eQmail's OpenSSL 1.0 spoke TLS 1.0-1.2
    except (ValueError, ssl.SSLError):
        pass
    if request.cafile is not None:
        try:
            ctx.load_verify_locations(str(home / request.cafile.decode("latin-1")))
        except (OSError, ssl.SSLError) as exc:
            return TlsPrepared(ok=False, error=_reason(exc)), None
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if request.client_cert:
        try:
            ctx.load_cert_chain(str(home / "control" / "clientcert.pem"))
        except (OSError, ssl.SSLError):
            pass
    return TlsPrepared(ok=True), ctx


def _names(cert: dict[str, Any]) -> tuple[tuple[bytes, ...], bytes | None]:
    san = tuple(str(value).encode() for kind, value in cert.get("subjectAltName", ())
                if kind == "DNS")
    cn = None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and cn is None:
                cn = str(value).encode()
    return san, cn


def handshake(sock: socket.socket, ctx: ssl.SSLContext,
              request: TlsHandshake) -> tuple[TlsOutcome, ssl.SSLSocket | None]:
    try:
        ctx.set_ciphers(request.ciphers.decode("latin-1"))
    except ssl.SSLError:
        pass
    sock.settimeout(max(request.timeout, 0))
    try:
        tls = ctx.wrap_socket(sock, server_hostname=None, do_handshake_on_connect=False)
    except (OSError, ssl.SSLError) as exc:
        return TlsOutcome(ok=False, error=_reason(exc)), None
    try:
        tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        return TlsOutcome(ok=True, usable=False,
                          verify_error=str(exc.verify_message or "").encode()), None
    except TimeoutError:
        return TlsOutcome(ok=False, error=b"timed out"), None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError):
        return TlsOutcome(ok=False), None
    except (OSError, ssl.SSLError) as exc:
        return TlsOutcome(ok=False, error=_reason(exc)), None
    if ctx.verify_mode == ssl.CERT_NONE:
        return TlsOutcome(ok=True), tls
    cert = tls.getpeercert()
    if not cert:
        return TlsOutcome(ok=True, has_cert=False), tls
    san, cn = _names(cert)
    return TlsOutcome(ok=True, san_dns=san, common_name=cn), tls

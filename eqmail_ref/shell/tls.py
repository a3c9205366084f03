"""TLS for the session shell: the server side of STARTTLS and SMTPS (spec §4).

The handshake runs through ssl.MemoryBIO over the session's file descriptors, so it works
for a socket and for tcpserver's stdin/stdout alike. What eQmail's tls_init() does, in
order: the certificate chain from control/servercert.pem ("missing certificate"), the
RSA private key from the same file ("no valid RSA private key"), the cipher list (errors
ignored, as SSL_set_cipher_list's are), then "220 ready for tls" and the handshake
("connection failed"). OpenSSL's cipher strings apply to TLS <= 1.2 only; TLS 1.3
suites are OpenSSL's separate default list, which TLSCIPHERS and tlsserverciphers do not
change (in eQmail's OpenSSL 1.0 there was no TLS 1.3 at all).

Client-certificate relaying (control/tlsclients) differs in one mechanical detail: eQmail
asks for the certificate by renegotiating at RCPT time, which Python's ssl cannot do. The
shell asks for it (optionally) in the first handshake when tlsclients and clientca.pem
exist, and the core checks it at RCPT as eQmail does. The replies are the same for a
client that has no certificate or a good one; a certificate that does not verify fails the
handshake here (Python cannot accept it and check later), where eQmail answers 553 with
the verify error at RCPT.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path
from typing import Any

from eqmail_ref.effects import ClientCert, StartTls, TlsResult
from eqmail_ref.shell.transport import ClientGone, FdTransport

__all__ = ["TlsTransport", "start_tls", "client_cert"]

_RSA_KEY = re.compile(rb"-----BEGIN (RSA )?PRIVATE KEY-----")


def _reason(exc: BaseException) -> bytes:
    """The error text after "missing certificate: ". eQmail prints OpenSSL's error string; for
    a file it cannot open that is the system library's fopen error, which we spell the same
    way (OpenSSL 1.0's ERR_error_string) instead of Python's text with the path in it."""
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.errno:
        return f"error:02001{exc.errno:03X}:system library:fopen:{os.strerror(exc.errno)}".encode()
    reason = getattr(exc, "reason", None) or str(exc)
    return str(reason).encode()


def _server_context(home: Path, ciphers: bytes) -> ssl.SSLContext | TlsResult:
    cert = home / "control" / "servercert.pem"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        data = cert.read_bytes()
        ctx.load_cert_chain(cert, keyfile=None)
    except (OSError, ssl.SSLError) as exc:
        what = b"missing certificate" if not _has_cert(cert) else b"no valid RSA private key"
        return TlsResult(ok=False, fatal=False, error=what + b": " + _reason(exc))
    if not _is_rsa_key(data):
        return TlsResult(ok=False, fatal=False, error=b"no valid RSA private key")
    try:
        ctx.set_ciphers(ciphers.decode("latin-1"))
    except ssl.SSLError:
        pass  # SSL_set_cipher_list() errors are ignored; the default list stays
    clients = home / "control" / "tlsclients"
    clientca = home / "control" / "clientca.pem"
    if clients.exists() and clientca.exists():
        try:
            ctx.load_verify_locations(clientca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        except (OSError, ssl.SSLError):
            pass
    return ctx


def _has_cert(path: Path) -> bool:
    try:
        return b"-----BEGIN CERTIFICATE-----" in path.read_bytes()
    except OSError:
        return False


def _is_rsa_key(pem: bytes) -> bool:
    """SSL_use_RSAPrivateKey_file() takes RSA keys only (an EC key fails)."""
    if b"BEGIN RSA PRIVATE KEY" in pem:
        return True
    if not _RSA_KEY.search(pem):
        return False
    try:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        start = pem.index(b"-----BEGIN PRIVATE KEY-----")
        end = pem.index(b"-----END PRIVATE KEY-----") + len(b"-----END PRIVATE KEY-----")
        return isinstance(load_pem_private_key(pem[start:end], None), rsa.RSAPrivateKey)
    except ImportError:
        return True  # without cryptography we cannot tell; accept as OpenSSL 3 would
    except ValueError:
        return False


class TlsTransport:
    """The client transport after the handshake: application data through SSLObject."""

    def __init__(self, raw: FdTransport, tls: ssl.SSLObject, incoming: ssl.MemoryBIO,
                 outgoing: ssl.MemoryBIO) -> None:
        self.raw = raw
        self.tls = tls
        self.incoming = incoming
        self.outgoing = outgoing
        self.rfd, self.wfd = raw.rfd, raw.wfd

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.raw.write(data)

    def read(self, timeout: float) -> bytes | None:
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._flush()
                data = self.raw.read(timeout)
                if data is None:
                    return None
                if not data:
                    return b""
                self.incoming.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError:
                return b""  # a broken record: eQmail's ssl_timeoutread fails -> die_read

    def write(self, data: bytes) -> None:
        try:
            self.tls.write(data)
        except ssl.SSLError as exc:
            raise ClientGone(str(exc)) from exc
        self._flush()


def start_tls(request: StartTls, raw: FdTransport, home: Path,
              timeout: float) -> tuple[TlsResult, TlsTransport | None]:
    ctx = _server_context(home, request.ciphers)
    if isinstance(ctx, TlsResult):
        return ctx, None
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    if request.announce:
        raw.write(request.announce)
    if request.leftover:
        incoming.write(request.leftover)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                raw.write(pending)
            data = raw.read(timeout)
            if not data:
                return TlsResult(ok=False, error=b"timeout" if data is None else b""), None
            incoming.write(data)
        except ssl.SSLError as exc:
            pending = outgoing.read()
            if pending:  # the alert, as OpenSSL would send it
                try:
                    raw.write(pending)
                except ClientGone:
                    pass
            return TlsResult(ok=False, error=_reason(exc)), None
    pending = outgoing.read()
    if pending:
        raw.write(pending)
    cipher = tls.cipher()
    name = cipher[0].encode() if cipher else b""
    return TlsResult(ok=True, cipher=name), TlsTransport(raw, tls, incoming, outgoing)


def client_cert(transport: object) -> ClientCert:
    """The verified client certificate's emailAddress, or the verification problem."""
    if not isinstance(transport, TlsTransport):
        return ClientCert()
    try:
        cert = transport.tls.getpeercert()
    except ValueError:
        cert = None
    if not cert:
        return ClientCert()
    subject: Any = cert.get("subject", ())
    for rdn in subject:
        for key, value in rdn:
            if key == "emailAddress":
                return ClientCert(present=True, email=str(value).encode())
    return ClientCert(present=True)

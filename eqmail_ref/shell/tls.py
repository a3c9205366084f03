"""TLS for the session shell: the server side of STARTTLS and SMTPS (spec §4).

The handshake runs through ssl.MemoryBIO over the session's file descriptors, so it works
for a socket and for tcpserver's stdin/stdout alike. What eQmail's tls_init() does, in
order: the certificate chain from control/servercert.pem ("missing certificate"), the
RSA private key from the same file ("no valid RSA private key"), the cipher list (errors
ignored, as SSL_set_cipher_list's are), then "220 ready for tls" and the handshake
("connection failed"). OpenSSL's cipher strings apply to TLS <= 1.2 only; TLS 1.3
suites are OpenSSL's separate default list, which TLSCIPHERS and tlsserverciphers do not
change (in eQmail's OpenSSL 1.0 there was no TLS 1.3 at all).

OpenSSL 3 as eQmail meets it (eqmail_ref.shell.openssl): the certificate and key steps are
OpenSSL's own calls, and each 454 names the earliest error of the session's OpenSSL error
queue (tls_err() and ssl_error_str() take ERR_get_error()); an EOF inside the handshake
is an error with an alert; every exit with TLS up sends close_notify (ssl_exit()).

Client-certificate relaying (control/tlsclients) differs in one mechanical detail: eQmail
asks for the certificate by renegotiating at RCPT time, which Python's ssl cannot do. The
shell asks for it (optionally) in the first handshake when tlsclients and clientca.pem
exist, and the core checks it at RCPT as eQmail does. The replies are the same for a
client that has no certificate or a good one; a certificate that does not verify fails the
handshake here (Python cannot accept it and check later), where eQmail answers 553 with
the verify error at RCPT.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any

from eqmail_ref.effects import ClientCert, StartTls, TlsResult
from eqmail_ref.shell import openssl
from eqmail_ref.shell.transport import ClientGone, FdTransport

__all__ = ["TlsTransport", "start_tls", "tls_init_failure", "client_cert"]

_RSA_KEY = re.compile(rb"-----BEGIN (RSA )?PRIVATE KEY-----")


def _python_context(home: Path) -> tuple[ssl.SSLContext, bytes] | TlsResult:
    """The context Python's ssl handshakes with, and servercert.pem's bytes."""
    cert = home / "control" / "servercert.pem"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # eQmail never sets SSL_OP_IGNORE_UNEXPECTED_EOF; some Pythons do by default (Debian's
    # 3.11.2), which would hide OpenSSL 3's "unexpected eof while reading" (spec §4)
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    # SSLv23_server_method() without a floor of its own; Python's would be TLS 1.2, where a
    # TLS 1.0 client of real eQmail on OpenSSL 3 gets "no suitable signature algorithm"
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    try:
        data = cert.read_bytes()
        ctx.load_cert_chain(cert, keyfile=None)
    except (OSError, ssl.SSLError) as exc:
        what = b"missing certificate" if not _has_cert(cert) else b"no valid RSA private key"
        text = openssl.exception_text(exc)
        return TlsResult(ok=False, fatal=False, error=what + (b": " + text if text else b""))
    return ctx, data


def _server_context(home: Path, ciphers: bytes, queue: openssl.ErrorQueue) -> ssl.SSLContext | TlsResult:
    """tls_init() up to the handshake (spec §4). With ctypes, OpenSSL's own calls decide
    and name the failures (tls_err(): the earliest error of the queue); without, Python's
    ssl decides and the text is that of the last error (openssl.py's fallback)."""
    if openssl.available():
        failed = openssl.server_tls_init(home, queue)
        if failed is not None:
            text = queue.take()
            return TlsResult(ok=False, fatal=False, error=failed + (b": " + text if text else b""))
    loaded = _python_context(home)
    if isinstance(loaded, TlsResult):
        return loaded
    ctx, data = loaded
    if not openssl.available() and not _is_rsa_key(data):
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

    def close_notify(self) -> None:
        """ssl_exit(): every exit of qmail-smtpd with TLS up calls SSL_shutdown() once, which
        sends close_notify and does not wait for the client's (tls.c). A client of OpenSSL 3
        that misses it reports "unexpected eof while reading"."""
        try:
            self.tls.unwrap()
        except (ssl.SSLError, ValueError):
            pass  # SSLWantReadError: ours is out, the client's is not awaited
        try:
            self._flush()
        except ClientGone:
            pass


def _send(raw: FdTransport, outgoing: ssl.MemoryBIO) -> None:
    pending = outgoing.read()
    if pending:
        raw.write(pending)


def tls_init_failure(home: Path, ciphers: bytes, queue: openssl.ErrorQueue | None = None) -> TlsResult | None:
    """tls_init() up to the handshake: the failure qmail-smtpd answers with 454 before any
    TLS byte (a missing certificate, no key), or None when a handshake would start. All a
    session without a socket (the reference in-process) can know of STARTTLS."""
    ctx = _server_context(home, ciphers, queue if queue is not None else openssl.ErrorQueue())
    return ctx if isinstance(ctx, TlsResult) else None


def start_tls(request: StartTls, raw: FdTransport, home: Path, timeout: float, *,
              queue: openssl.ErrorQueue | None = None,
              eof_is_error: bool = True) -> tuple[TlsResult, TlsTransport | None]:
    """tls_init() and the handshake (spec §4). `queue`: the OpenSSL error queue of the
    session (one eQmail process, one queue). `eof_is_error`: OpenSSL 3 makes an EOF in
    the handshake an error (an alert, then "unexpected eof while reading"); OpenSSL 1.x
    saw SSL_ERROR_SYSCALL with errno 0, hence no alert and "454 TLS connection failed"
    with no text."""
    queue = queue if queue is not None else openssl.ErrorQueue()
    ctx = _server_context(home, request.ciphers, queue)
    if isinstance(ctx, TlsResult):
        return ctx, None
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    if request.announce:
        raw.write(request.announce)
    if request.leftover:
        incoming.write(request.leftover)
    queue.clear()  # SSL_accept() starts with ERR_clear_error()
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            _send(raw, outgoing)
            data = raw.read(timeout)
            if data is None:  # ssl_timeoutio(): errno = error_timeout
                return TlsResult(ok=False, error=b"timed out"), None
            if data:
                incoming.write(data)
            elif eof_is_error:
                incoming.write_eof()
            else:
                return TlsResult(ok=False, error=b""), None
        except ssl.SSLError as exc:
            try:
                _send(raw, outgoing)  # the alert, as OpenSSL sends it
            except ClientGone:
                pass
            queue.push(exc)
            return TlsResult(ok=False, error=queue.take() or b""), None
    _send(raw, outgoing)
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

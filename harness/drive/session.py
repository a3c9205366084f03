"""The session driver: plays a case's steps over a connected socket and records each
exchange. Replies end by SMTP grammar (the line whose fourth byte is not '-'), never by a
quiet period; the step timeout only turns a hung peer into a verdict.

A case with SMTPS in its environment (implicit TLS, spec §4) starts with the handshake,
before the greeting. Steps (harness.cases): SEND writes bytes and reads N replies; STARTTLS
upgrades the socket with the chosen TLS version and ciphers (the server's 220 was read by
the step before); CRAM_MD5 answers the challenge of the last reply; CLOSE ends our side
(shutdown for writing) and reads everything until the server closes. Every session ends with CLOSE, so
what a server says after its last expected reply is still seen.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any

from harness.cases import CLOSE, CRAM_MD5, SEND, STARTTLS, Step
from harness.drive.smtp_text import cram_answer, is_last_line
from harness.errors import StepTimeout
from harness.fixtures import client_cert_file
from harness.transcript import Event, Exchange

__all__ = ["ReplyReader", "PlainChannel", "TlsChannel", "drive", "client_tls_context", "SMTPS"]

SMTPS = "SMTPS"  # the kind of the exchange that is the handshake before the greeting

_TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def guard(sock: socket.socket, timeout: float) -> None:
    """Make a blocking read or write on `sock` give up after `timeout` seconds. The kernel
    keeps the clock (SO_RCVTIMEO/SO_SNDTIMEO), not Python's settimeout(), which polls before
    every call: one system call less per read (bench/harness_overhead.py). A read or write
    that runs out raises BlockingIOError; the channels turn it into TimeoutError."""
    sock.settimeout(None)
    whole = int(timeout)
    tv = struct.pack("ll", whole, int((timeout - whole) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    except BlockingIOError:
        raise TimeoutError("read timed out") from None


def _sendall(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except BlockingIOError:
        raise TimeoutError("write timed out") from None


class PlainChannel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self) -> bytes:
        return _recv(self.sock)

    def sendall(self, data: bytes) -> None:
        _sendall(self.sock, data)

    def close_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class TlsChannel:
    """TLS over the raw socket through memory BIOs, so that our end can send close_notify and
    half-close while still reading the server's last words (ssl.SSLSocket cannot)."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, *, handshake: bool = True) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="mx.test")
        # every byte read during the handshake, for SMTPS: a server that fails to set TLS up
        # answers in clear (spec §4), and that answer is what the transcript must show
        self.raw: bytearray | None = bytearray()
        if handshake:
            self.handshake()

    def handshake(self) -> None:
        self._io(self.obj.do_handshake)
        self.raw = None  # done: later reads are the session's

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            _sendall(self.sock, data)

    def _pull(self) -> bool:
        data = _recv(self.sock)
        if self.raw is not None:
            self.raw += data
        if not data:
            self.incoming.write_eof()
            return False
        self.incoming.write(data)
        return True

    def _io(self, op: Callable[[], Any]) -> Any:
        while True:
            try:
                result = op()
                self._flush()
                return result
            except ssl.SSLWantReadError:
                self._flush()
                if not self._pull():
                    raise ssl.SSLEOFError(8, "EOF during TLS") from None

    def recv(self) -> bytes:
        try:
            data: bytes = self._io(lambda: self.obj.read(65536))
            return data
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""
        except ssl.SSLError:
            return b""

    def sendall(self, data: bytes) -> None:
        self.obj.write(data)
        self._flush()

    def close_write(self) -> None:
        try:
            self.obj.unwrap()
        except ssl.SSLError:
            pass
        try:
            self._flush()
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


Channel = PlainChannel | TlsChannel


class ReplyReader:
    """Reads complete SMTP replies from a channel (plain or TLS)."""

    def __init__(self, channel: Channel) -> None:
        self.channel: Channel = channel
        self.buf = bytearray()
        self.eof = False

    def _fill(self) -> bool:
        chunk = self.channel.recv()
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def reply(self) -> bytes:
        """One complete reply (all its lines); what is left (maybe b"") if the peer closed."""
        start = 0
        while True:
            nl = self.buf.find(b"\n", start)
            if nl < 0:
                if self.eof or not self._fill():
                    data, self.buf = bytes(self.buf), bytearray()
                    return data
                continue
            line = self.buf[start : nl + 1]
            start = nl + 1
            if is_last_line(line):
                data = bytes(self.buf[:start])
                del self.buf[:start]
                return data

    def rest(self) -> bytes:
        """Everything until the peer closes."""
        while not self.eof and self._fill():
            pass
        data, self.buf = bytes(self.buf), bytearray()
        return data


def client_tls_context(version: str = "", ciphers: str = "", cert_file: str = "") -> ssl.SSLContext:
    """The harness's TLS client: verifies nothing (the server's certificate is the case's own),
    offers exactly the version and ciphers a step asks for, and the client certificate of
    `cert_file` if given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cert_file:
        ctx.load_cert_chain(cert_file)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.minimum_version = ctx.maximum_version = _TLS_VERSIONS[version]
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


_CLOSE = Step(kind=CLOSE)


class _Driver:
    def __init__(self, sock: socket.socket, timeout: float) -> None:
        guard(sock, timeout)  # a hang guard only: replies are framed by grammar
        self.sock = sock
        self.reader = ReplyReader(PlainChannel(sock))
        self.last = b""
        self.tls: dict[str, str] = {}

    def replies(self, n: int) -> tuple[bytes, Event]:
        got = b""
        for _ in range(n):
            one = self.reader.reply()
            got += one
            if self.reader.eof and not self.reader.buf and (not one or not one.endswith(b"\n")):
                return got, Event.CLOSED
            if one:
                self.last = one
        return got, Event.NONE

    def send(self, step: Step, n: int) -> Exchange:
        event = Event.NONE
        try:
            self.reader.channel.sendall(step.data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            event = Event.UNSENT
        got, closed = self.replies(step.replies)
        return Exchange(step=n, kind=step.kind, sent=step.data, received=got, event=event or closed)

    def starttls(self, step: Step, n: int) -> Exchange:
        try:
            cert = ("" if step.client_cert is None
                    else client_cert_file(step.client_cert))
            channel = TlsChannel(self.sock, client_tls_context(step.tls_version, step.ciphers, cert))
        except (ssl.SSLError, OSError, ValueError) as exc:
            if isinstance(exc, TimeoutError):
                raise
            return Exchange(step=n, kind=step.kind, event=Event.TLS_FAILED.said(_tls_reason(exc)))
        return Exchange(step=n, kind=step.kind, event=self._upgraded(channel))

    def _upgraded(self, channel: TlsChannel) -> str:
        self.reader.channel = channel
        version, cipher = channel.obj.version() or "", (channel.obj.cipher() or ("", "", 0))[0]
        self.tls = {"version": version, "cipher": cipher}
        return Event.TLS.said(f"{version} {cipher}")

    def smtps(self) -> Exchange:
        """The handshake before the greeting (SMTPS, spec §4); on failure what the server
        said in clear, up to its end."""
        channel = TlsChannel(self.sock, client_tls_context(), handshake=False)
        try:
            channel.handshake()
        except (ssl.SSLError, OSError, ValueError) as exc:
            if isinstance(exc, TimeoutError):
                raise
            clear = bytes(channel.raw or b"") + self.reader.rest()
            # a server that answers in clear and exits may do so before our ClientHello is
            # written or after: the client's error (broken pipe, wrong version) is timing
            why = "the server answered in clear" if clear else _tls_reason(exc)
            return Exchange(step=0, kind=SMTPS, received=clear, event=Event.TLS_FAILED.said(why))
        return Exchange(step=0, kind=SMTPS, event=self._upgraded(channel))

    def cram(self, step: Step, n: int) -> Exchange:
        line = cram_answer(step.user, step.secret, self.last)
        return self.send(Step(kind=CRAM_MD5, data=line), n)

    def close(self, step: Step, n: int) -> Exchange:
        self.reader.channel.close_write()
        return Exchange(step=n, kind=CLOSE, received=self.reader.rest(), event=Event.CLOSED)


def drive(sock: socket.socket, steps: tuple[Step, ...], timeout: float,
          smtps: bool = False) -> tuple[list[Exchange], dict[str, str]]:
    """With `smtps`, first the TLS handshake (an exchange of its own, step 0 too: on failure,
    what the server said in clear, and the session is over). Then read the greeting
    (step 0), play `steps` (a final CLOSE is added when missing) and return the exchanges
    and the TLS parameters negotiated, if any. A step that times out raises StepTimeout
    carrying the exchanges so far in `args[1]`."""
    d = _Driver(sock, timeout)
    plays = {SEND: d.send, STARTTLS: d.starttls, CRAM_MD5: d.cram, CLOSE: d.close}
    if not steps or steps[-1].kind != CLOSE:
        steps = (*steps, _CLOSE)
    done: list[Exchange] = []
    try:
        if smtps:
            done.append(d.smtps())
            if Event.of(done[0].event) is Event.TLS_FAILED:
                return done, d.tls
        greeting, closed = d.replies(1)  # step 0: the server speaks first
    except TimeoutError:
        raise StepTimeout(f"no greeting within {timeout:g} s",
                          [*done, Exchange(step=0, kind="GREETING", received=bytes(d.reader.buf),
                                           event=Event.TIMEOUT)]) from None
    done.append(Exchange(step=0, kind="GREETING", received=greeting, event=closed))
    if closed:
        return done, d.tls
    for n, step in enumerate(steps, 1):
        try:
            exchange = plays[step.kind](step, n)
        except TimeoutError:
            partial = Exchange(step=n, kind=step.kind, sent=step.data,
                               received=bytes(d.reader.buf), event=Event.TIMEOUT)
            raise StepTimeout(f"step {n} ({step.kind}): no complete reply within {timeout:g} s",
                              [*done, partial]) from None
        done.append(exchange)
        if exchange.event == Event.CLOSED and step.kind != CLOSE:
            done.append(Exchange(step=n + 1, kind=CLOSE, received=d.reader.rest(), event=Event.CLOSED))
            break
        if Event.of(exchange.event) is Event.TLS_FAILED:
            break
    return done, d.tls


def _tls_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or type(exc).__name__
    return type(exc).__name__

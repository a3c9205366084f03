"""The sans-IO core of eQmail's qmail-smtpd.

Feed it client bytes (`receive`), answers to its requests (`resolve`) and the end of a
read timeout (`timeout`); it returns effects (eqmail_ref.effects). It never touches a
socket, a process or the clock (the clock is injected).

Rules of this machine, from the C code (spec §1-§2):
  * qmail-smtpd is a command loop over flags, not a state table: `seenmail`, `rcptto`,
    `flagauth`, `flagbarf`, `spp_val`, `relayclient`, TLS. COMMANDS below maps each verb to
    its handler and says whether the reply is flushed after it.
  * Input is read through a 1024-byte buffer and output goes through a 512-byte buffer that
    is flushed before every read of the socket: pipelined replies coalesce exactly where
    real eQmail's do, STARTTLS discards what it had already read, and a crash loses what was
    not flushed.
  * A command line is a C string: it ends at its first NUL.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any

from eqmail_ref import replies
from eqmail_ref.auth import AUTH_SLEEP
from eqmail_ref.cbytes import cstr
from eqmail_ref.commands import COMMANDS, FLUSH, FLUSH_IO, unrecognised
from eqmail_ref.controls import SmtpdControls
from eqmail_ref.effects import (
    Close,
    Effect,
    Log,
    Request,
    Send,
    StartTls,
    TlsResult,
)
from eqmail_ref.spp_engine import REJECT, run_hook
from eqmail_ref.versions import DEFAULT_VERSION, Version

__all__ = ["SmtpServer", "Clock", "DEFAULT_MAX_LINE", "NEED_INPUT"]

Clock = Callable[[], tuple[int, int]]  # (unix time, local offset east of UTC in seconds)
DEFAULT_MAX_LINE = 64 << 20  # bytes; see README "Limits": real eQmail has no cap
_READ_SIZE = 1024  # ssinbuf
_WRITE_SIZE = 512  # ssoutbuf
_WRITE_CHUNK = 8192  # SUBSTDIO_OUTSIZE


class _NeedInput:
    def __repr__(self) -> str:
        return "NEED_INPUT"


NEED_INPUT = _NeedInput()


class _SessionEnd(Exception):
    def __init__(self, exit_code: int, *, crash: bool = False, reason: str = "") -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.crash = crash
        self.reason = reason


class SmtpServer:
    def __init__(
        self,
        *,
        controls: SmtpdControls | None,
        env: Mapping[bytes, bytes],
        clock: Clock,
        version: Version = DEFAULT_VERSION,
        checkpassword: tuple[bytes, ...] = (),
        ipme: frozenset[bytes] = frozenset({b"\0\0\0\0", b"\x7f\0\0\x01"}),
        pid: int = 0,
        tls_build: bool = True,
        auth_sleep: float = AUTH_SLEEP,
        max_line: int = DEFAULT_MAX_LINE,
        startup_error: str = "",
    ) -> None:
        self.version = version
        self.clock = clock
        self.checkpassword = checkpassword
        self.ipme = ipme if version.ipme_has_zero else ipme - {b"\0\0\0\0"}
        self.pid = pid
        self.tls_build = tls_build
        self.auth_sleep = auth_sleep
        self.max_line = max_line
        self.env: dict[bytes, bytes] = dict(env)
        self.startup_error = startup_error
        self._controls = controls
        e = self.env
        self.remoteip = e.get(b"TCPREMOTEIP", b"unknown")
        self.local = e.get(b"TCPLOCALHOST", e.get(b"TCPLOCALIP", b"unknown"))
        self.remotehost = e.get(b"TCPREMOTEHOST", b"unknown")
        self.remoteinfo: bytes | None = e.get(b"TCPREMOTEINFO")
        self.relayclient: bytes | None = e.get(b"RELAYCLIENT")
        self.localport = e.get(b"TCPLOCALPORT", b"0")
        self.submission = e.get(b"SUBMISSIONPORT", b"587")
        self.smtps = b"SMTPS" in e
        # session flags (the C globals)
        self.protocol = b"SMTP"
        self.seenmail = False
        self.flagbarf = False
        self.flagauth = False
        self.spp_val = 0
        self.spprun = controls is not None and controls.spp is not None
        self.tls = False
        self.tls_verified = False
        self.tls_verify_err: bytes | None = None
        self.helo: bytes | None = None
        self.fakehelo: bytes | None = None
        self.addr: bytes | None = None
        self.mailfrom: bytes | None = None
        self.rcptto = bytearray()
        self.auth_user = b""
        self.fuser: bytes | None = None
        self.remoteinfo_is_fuser = False
        self.queue_program: bytes | None = None
        self.spp_headers = bytearray()
        self.rcpt_count = 0  # qmail-spp's counters, exported only by the upstream rcpt hook
        self.rcpt_count_all = 0
        self.spp_errors: dict[str, bytearray] = {"mail": bytearray(), "rcpt": bytearray(),
                                                 "data": bytearray()}
        # I/O model
        self._buf = bytearray()  # received, not yet consumed
        self._avail = 0  # bytes at the front of _buf already read into the 1024-byte buffer
        self._eof = False
        self._obuf = bytearray()  # the 512-byte output buffer
        self._effects: list[Effect] = []
        self._gen: Generator[Any, Any, None] = self._session()
        self._waiting_input = False
        self.pending: Request | None = None
        self.closed = False

    @property
    def controls(self) -> SmtpdControls:
        assert self._controls is not None
        return self._controls

    # ----------------------------------------------------------------- driving API

    def start(self) -> list[Effect]:
        return self._run(None)

    def receive(self, data: bytes) -> list[Effect]:
        """Client bytes; b"" means the client closed its side."""
        if self.closed:
            return []
        if data:
            self._buf += data
        else:
            self._eof = True
        if self._waiting_input and self.pending is None:
            return self._run(None)
        return []

    def resolve(self, answer: object) -> list[Effect]:
        if self.pending is None:
            raise RuntimeError("resolve() called with no request pending")
        self.pending = None
        return self._run(answer)

    def timeout(self) -> list[Effect]:
        """The read timeout (controls.timeout seconds) passed while waiting for input."""
        if self.closed or not self._waiting_input:
            return []
        self.log(b"timeout")
        self.out(replies.TIMEOUT)
        return self._finish(_SessionEnd(1, reason="timeout"))

    @property
    def read_timeout(self) -> int:
        return self.controls.timeout if self._controls is not None else 1200

    def _run(self, value: object) -> list[Effect]:
        self._waiting_input = False
        try:
            while True:
                item = self._gen.send(value)
                value = None
                if item is NEED_INPUT:
                    self._waiting_input = True
                    break
                self.pending = item
                self._effects.append(item)
                break
        except _SessionEnd as end:
            return self._finish(end)
        except StopIteration:
            return self._finish(_SessionEnd(0))
        effects, self._effects = self._effects, []
        return effects

    def _finish(self, end: _SessionEnd) -> list[Effect]:
        if not end.crash:
            self.flush()
        self._obuf.clear()
        self._effects.append(Close(exit_code=end.exit_code, crash=end.crash, reason=end.reason))
        self.closed = True
        self._waiting_input = False
        effects, self._effects = self._effects, []
        return effects

    # ------------------------------------------------------------ output and input

    def out(self, data: bytes) -> None:
        """substdio_put() into the 512-byte buffer."""
        if len(data) > _WRITE_SIZE - len(self._obuf):
            self.flush()
            while len(data) > _WRITE_SIZE:
                self._effects.append(Send(data=bytes(data[:_WRITE_CHUNK])))
                data = data[_WRITE_CHUNK:]
        self._obuf += data

    def flush(self) -> None:
        if self._obuf:
            self._effects.append(Send(data=bytes(self._obuf)))
            self._obuf.clear()

    def emit(self, effect: Effect) -> None:
        self._effects.append(effect)

    def end(self, exit_code: int, *, crash: bool = False, reason: str = "") -> None:
        raise _SessionEnd(exit_code, crash=crash, reason=reason)

    def log(self, event: bytes, reason: bytes | None = None) -> None:
        head = b"qmail-smtpd: " + event
        if reason is not None:
            head += b" (" + reason + b")"
        self.emit(Log(line=b"%s: %s from %s to %s helo %s\n" % (
            head,
            b"(null)" if self.mailfrom is None else self.mailfrom,
            self.remoteip,
            b"(null)" if self.addr is None else self.addr,
            b"(null)" if self.helo is None else self.helo,
        )))

    def consume(self, count: int) -> None:
        """Take `count` bytes from the front of the input, reading (and so flushing) as
        the 1024-byte input buffer runs dry."""
        if count > self._avail:
            self.flush()
            reads = -(-(count - self._avail) // _READ_SIZE)
            self._avail = min(len(self._buf), self._avail + reads * _READ_SIZE)
        del self._buf[:count]
        self._avail -= count

    @property
    def input_buffer(self) -> bytearray:
        return self._buf

    def need_input(self) -> Iterator[Any]:
        """Everything received was read; flush and wait for more (or die at EOF)."""
        self._avail = len(self._buf)
        self.flush()
        if self._eof:
            self.die_read()
        yield NEED_INPUT

    def readline(self) -> Generator[Any, Any, bytes]:
        scan = 0
        while True:
            j = self._buf.find(b"\n", scan)
            if j >= 0:
                line = bytes(self._buf[:j])
                self.consume(j + 1)
                return line
            if len(self._buf) > self.max_line:
                self.out(replies.NOMEM)
                self.end(1, reason=f"line longer than {self.max_line} bytes")
            scan = len(self._buf)
            yield from self.need_input()

    def die_read(self) -> None:
        self.log(b"read failed")
        self.end(1, reason="read failed")

    def die_control(self) -> None:
        self.log(b"unable to read controls")
        self.out(replies.CONTROL)
        self.end(1, reason="unable to read controls")

    # --------------------------------------------------------------------- session

    def _session(self) -> Generator[Any, Any, None]:
        if self._controls is None:
            self.end(0, crash=True, reason=f"startup control failure: {self.startup_error}")
        if self.smtps and self.tls_build:
            yield from self.tls_init()
        else:
            self.dohelo(self.remotehost)
        if (yield from run_hook(self, "connection", None)) != REJECT:
            self.out(b"220 " + self.controls.greeting + b" ESMTP\r\n")
        while True:
            line = yield from self.readline()
            if line.endswith(b"\r"):
                line = line[:-1]
            line = cstr(line)
            space = line.find(b" ")
            verb, arg = (line, b"") if space < 0 else (line[:space], line[space:].lstrip(b" "))
            handler, after = COMMANDS.get(verb.lower(), (unrecognised, FLUSH))
            if verb.lower() == b"starttls" and not self.tls_build:
                handler, after = unrecognised, FLUSH
            step = handler(self, arg)
            if step is not None:
                yield from step
            if after is FLUSH:
                self.flush()
            elif after is FLUSH_IO:
                del self._buf[: self._avail]
                self._avail = 0
                self.flush()

    def dohelo(self, arg: bytes) -> None:
        self.helo = arg
        self.fakehelo = None if arg.lower() == self.remotehost.lower() else arg

    def tls_init(self) -> Generator[Any, Any, None]:
        """tls_init() (§4): the shell loads the certificate and does the handshake."""
        ciphers = self.env.get(b"TLSCIPHERS")
        if ciphers is None and self.controls.tlsserverciphers:
            ciphers = b":".join(self.controls.tlsserverciphers)
        if not ciphers:
            ciphers = b"DEFAULT"
        leftover = bytes(self._buf[self._avail :])
        del self._buf[self._avail :]
        self.flush()
        announce = b"" if self.smtps else replies.TLS_READY
        result: TlsResult = yield StartTls(leftover=leftover, ciphers=ciphers, announce=announce)
        if not result.ok:
            what = result.error if not result.fatal else b"connection failed" + (
                b": " + result.error if result.error else b"")
            self.out(replies.TLS_FAIL_HEAD + what + replies.TLS_FAIL_TAIL)
            self.flush()
            if result.fatal or self.smtps:
                self.die_read()
            # failed before the handshake: eQmail goes on in clear with what it had already
            # read still in its input buffer (tls_err(), §4), so pipelined commands are kept
            self._buf += leftover
            return
        self.tls = True
        self.protocol = b"ESMTPS (" + result.cipher + b" encrypted)"
        self.dohelo(self.remotehost)

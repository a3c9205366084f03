"""The sans-IO core of eQmail's qmail-smtpd.

Feed it client bytes (`receive`), answers to its requests (`resolve`, checked by
eqmail_ref.pump) and the end of a read timeout (`timeout`); it returns effects
(eqmail_ref.effects). It never touches a socket, a process or the clock (the clock is
injected). `SmtpServer` is the engine (buffers, the program's main loop, the pump); the
C globals are its `session` (eqmail_ref.smtpd_session), which the command handlers
(eqmail_ref.commands) get with the engine: `handler(session, engine, argument)`.

Rules of this machine, from the C code (spec §1-§2):
  * qmail-smtpd is a command loop over flags, not a state table: `seenmail`, `rcptto`,
    `flagauth`, `flagbarf`, `spp_val`, `relayclient`, TLS (the Session). COMMANDS
    (eqmail_ref.commands) maps each verb to its handler and says whether the reply is
    flushed after it.
  * Input is read through a 1024-byte buffer and output goes through a 512-byte buffer that
    is flushed before every read of the socket: pipelined replies coalesce exactly where
    real eQmail's do, STARTTLS discards what it had already read, and a crash loses what was
    not flushed.
  * A command line is a C string: it ends at its first NUL.
"""

from __future__ import annotations

from collections.abc import Mapping

from eqmail_ref import replies
from eqmail_ref.auth import AUTH_SLEEP
from eqmail_ref.cbytes import cstr
from eqmail_ref.commands import COMMANDS, FLUSH, FLUSH_IO, unrecognised
from eqmail_ref.controls import SmtpdControls
from eqmail_ref.effects import Effect, Log, Send, StartTls
from eqmail_ref.pump import NEED_INPUT, Exit, Program, Pump, Step, ask
from eqmail_ref.smtpd_session import DEFAULT_IPME, Clock, Session
from eqmail_ref.spp_engine import REJECT, run_hook
from eqmail_ref.versions import DEFAULT_VERSION, Version

__all__ = ["SmtpServer", "DEFAULT_MAX_LINE"]

DEFAULT_MAX_LINE = 64 << 20  # bytes; see README "Limits": real eQmail has no cap
_READ_SIZE = 1024  # ssinbuf
_WRITE_SIZE = 512  # ssoutbuf
_WRITE_CHUNK = 8192  # SUBSTDIO_OUTSIZE


class SmtpServer(Pump):
    """The engine: qmail-smtpd's buffers and its program, run by the pump; the program's
    globals are `session` (eqmail_ref.smtpd_session.Session)."""

    def __init__(
        self,
        *,
        controls: SmtpdControls | None,
        env: Mapping[bytes, bytes],
        clock: Clock,
        version: Version = DEFAULT_VERSION,
        checkpassword: tuple[bytes, ...] = (),
        ipme: frozenset[bytes] = DEFAULT_IPME,
        pid: int = 0,
        tls_build: bool = True,
        auth_sleep: float = AUTH_SLEEP,
        max_line: int = DEFAULT_MAX_LINE,
        startup_error: str = "",
    ) -> None:
        self.session = Session(loaded_controls=controls, env=dict(env), clock=clock,
                               version=version, checkpassword=checkpassword, ipme=ipme, pid=pid,
                               tls_build=tls_build, auth_sleep=auth_sleep)
        self.max_line = max_line
        self.startup_error = startup_error
        # I/O model
        self._buf = bytearray()  # received, not yet consumed
        self._avail = 0  # bytes at the front of _buf already read into the 1024-byte buffer
        # what one read() may take: ssin's free room (substdio's `n`). flush_io() empties the
        # buffer (ssin.p = 0) but never gives that room back, so each STARTTLS drop shrinks
        # every later read by what it dropped (spec §1, output buffering; seen with real 1.09)
        self._room = _READ_SIZE
        self._eof = False
        self._obuf = bytearray()  # the 512-byte output buffer
        self._effects: list[Effect] = []
        super().__init__(self._main(), self._effects)

    # ----------------------------------------------------------------- driving API

    def receive(self, data: bytes) -> list[Effect]:
        """Client bytes; b"" means the client closed its side."""
        if self.done:
            return []
        if data:
            self._buf += data
        else:
            self._eof = True
        return self._resume()

    def timeout(self) -> list[Effect]:
        """The read timeout (controls.timeout seconds) passed while waiting for input."""
        if self.done or not self.wants_input:
            return []
        self.log(b"timeout")
        self.out(replies.TIMEOUT)
        return self._exit(Exit(1, reason="timeout"))

    @property
    def read_timeout(self) -> int:
        controls = self.session.loaded_controls
        return controls.timeout if controls is not None else 1200

    def _closing(self, end: Exit) -> None:
        if not end.crash:
            self.flush()
        self._obuf.clear()

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
        raise Exit(exit_code, crash=crash, reason=reason)

    def log(self, event: bytes, reason: bytes | None = None) -> None:
        head = b"qmail-smtpd: " + event
        if reason is not None:
            head += b" (" + reason + b")"
        s = self.session
        self.emit(Log(line=b"%s: %s from %s to %s helo %s\n" % (
            head,
            b"(null)" if s.mailfrom is None else s.mailfrom,
            s.remoteip,
            b"(null)" if s.addr is None else s.addr,
            b"(null)" if s.helo is None else s.helo,
        )))

    def consume(self, count: int) -> None:
        """Take `count` bytes from the front of the input, reading (and so flushing) as
        the 1024-byte input buffer runs dry."""
        if count > self._avail:
            self.flush()
            if self._room <= 0:  # read(fd, buf, 0) is 0: substdio takes it for the end of input
                self.die_read()
            reads = -(-(count - self._avail) // self._room)
            self._avail = min(len(self._buf), self._avail + reads * self._room)
        del self._buf[:count]
        self._avail -= count

    @property
    def input_buffer(self) -> bytearray:
        return self._buf

    def need_input(self) -> Step:
        """Everything received was read; flush and wait for more (or die at EOF)."""
        self._avail = len(self._buf)
        self.flush()
        if self._eof:
            self.die_read()
        yield NEED_INPUT

    def readline(self) -> Program[bytes]:
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

    # --------------------------------------------------------------------- main()

    def _main(self) -> Step:
        s = self.session
        if s.loaded_controls is None:
            self.end(0, crash=True, reason=f"startup control failure: {self.startup_error}")
        if s.smtps and s.tls_build:
            yield from self.tls_init()
        else:
            s.dohelo(s.remotehost)
        if (yield from run_hook(s, self, "connection", None)) != REJECT:
            self.out(b"220 " + s.controls.greeting + b" ESMTP\r\n")
        while True:
            line = yield from self.readline()
            if line.endswith(b"\r"):
                line = line[:-1]
            line = cstr(line)
            space = line.find(b" ")
            verb, arg = (line, b"") if space < 0 else (line[:space], line[space:].lstrip(b" "))
            handler, after = COMMANDS.get(verb.lower(), (unrecognised, FLUSH))
            if verb.lower() == b"starttls" and not s.tls_build:
                handler, after = unrecognised, FLUSH
            step = handler(s, self, arg)
            if step is not None:
                yield from step
            if after is FLUSH:
                self.flush()
            elif after is FLUSH_IO:
                del self._buf[: self._avail]
                self._room -= self._avail
                self._avail = 0
                self.flush()

    def tls_init(self) -> Step:
        """tls_init() (§4): the shell loads the certificate and does the handshake."""
        s = self.session
        ciphers = s.env.get(b"TLSCIPHERS")
        if ciphers is None and s.controls.tlsserverciphers:
            ciphers = b":".join(s.controls.tlsserverciphers)
        if not ciphers:
            ciphers = b"DEFAULT"
        leftover = bytes(self._buf[self._avail :])
        del self._buf[self._avail :]
        self.flush()
        announce = b"" if s.smtps else replies.TLS_READY
        result = yield from ask(StartTls(leftover=leftover, ciphers=ciphers, announce=announce))
        if not result.ok:
            what = result.error if not result.fatal else b"connection failed" + (
                b": " + result.error if result.error else b"")
            self.out(replies.TLS_FAIL_HEAD + what + replies.TLS_FAIL_TAIL)
            self.flush()
            if result.fatal or s.smtps:
                self.die_read()
            # failed before the handshake: eQmail goes on in clear with what it had already
            # read still in its input buffer (tls_err(), §4), so pipelined commands are kept
            self._buf += leftover
            return
        s.tls = True
        s.protocol = b"ESMTPS (" + result.cipher + b" encrypted)"
        s.dohelo(s.remotehost)

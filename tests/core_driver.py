"""Drive the sans-IO server core in-process, answering its requests like a shell would.

Input can be fed whole, one byte at a time, or in chunks (house rule 5: parsers are tested
three ways). The queue answers are scripted: pid and exit code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from eqmail_ref.controls import SmtpdControls
from eqmail_ref.effects import (
    CheckPassword,
    Close,
    CloseQueue,
    Effect,
    Log,
    OpenQueue,
    PluginRun,
    ProcessExit,
    QueueExit,
    QueueOpened,
    QueueWrite,
    RunPlugin,
    Send,
    Sleep,
)
from eqmail_ref.smtpd import SmtpServer
from eqmail_ref.spp import SppConfig
from eqmail_ref.versions import DEFAULT_VERSION, Version

NOW = 1795537221  # 2026-11-25 ... fixed clock for reproducible Received lines and 250 ok


def make_controls(**overrides: object) -> SmtpdControls:
    values: dict[str, object] = dict(
        me=b"mx.test", greeting=b"mx.test", liphost=b"mx.test", timeout=1200,
        rcpthosts=frozenset({b"example.org"}), morercpthosts=None, spp=SppConfig(),
        badmailfrom=None, databytes=0, servercert=False,
    )
    values.update(overrides)
    return SmtpdControls(**values)  # type: ignore[arg-type]


@dataclass
class Transcript:
    output: bytearray = field(default_factory=bytearray)
    messages: list[bytes] = field(default_factory=list)
    envelopes: list[bytes] = field(default_factory=list)
    queue_env: list[dict[bytes, bytes]] = field(default_factory=list)
    logs: list[bytes] = field(default_factory=list)
    requests: list[Effect] = field(default_factory=list)
    sends: list[bytes] = field(default_factory=list)
    close: Close | None = None

    @property
    def text(self) -> bytes:
        return bytes(self.output)


class Dialogue:
    def __init__(self, controls: SmtpdControls | None = None, *,
                 env: dict[bytes, bytes] | None = None, version: Version = DEFAULT_VERSION,
                 queue_exit: int | None = 0, queue_signal: int | None = None,
                 queue_write_failed: bool = False, checkpassword: tuple[bytes, ...] = (),
                 password_ok: bool = True, plugins: dict[bytes, bytes] | None = None,
                 tls_build: bool = True, max_line: int | None = None) -> None:
        base_env = {b"TCPREMOTEIP": b"1.2.3.4", b"TCPLOCALIP": b"5.6.7.8"}
        if env is not None:
            base_env = env
        kwargs = {} if max_line is None else {"max_line": max_line}
        self.server = SmtpServer(
            controls=controls if controls is not None else make_controls(), env=base_env,
            clock=lambda: (NOW, 0), version=version, pid=4242, checkpassword=checkpassword,
            tls_build=tls_build, **kwargs,
        )
        self.queue_exit = queue_exit
        self.queue_signal = queue_signal
        self.queue_write_failed = queue_write_failed
        self.password_ok = password_ok
        self.plugins = plugins or {}
        self.t = Transcript()
        self._message = bytearray()
        self._apply(self.server.start())

    def _answer(self, request: Effect) -> object:
        self.t.requests.append(request)
        if isinstance(request, OpenQueue):
            self._message = bytearray()
            self.t.queue_env.append(request.env)
            return QueueOpened(ok=True, pid=777)
        if isinstance(request, CloseQueue):
            self.t.messages.append(bytes(self._message))
            self.t.envelopes.append(b"" if request.failed else request.envelope)
            return QueueExit(exit_code=self.queue_exit, signal=self.queue_signal,
                             write_failed=self.queue_write_failed)
        if isinstance(request, CheckPassword):
            return ProcessExit(exit_code=0 if self.password_ok else 1)
        if isinstance(request, Sleep):
            return None
        if isinstance(request, RunPlugin):
            out = self.plugins.get(request.command, b"")
            return PluginRun(exit_code=0, lines=tuple(x for x in out.split(b"\n") if x))
        raise AssertionError(f"unexpected request {request!r}")

    def _apply(self, effects: list[Effect]) -> None:
        while True:
            for e in effects:
                if isinstance(e, Send):
                    self.t.output += e.data
                    self.t.sends.append(e.data)
                elif isinstance(e, QueueWrite):
                    self._message += e.data
                elif isinstance(e, Log):
                    self.t.logs.append(e.line)
                elif isinstance(e, Close):
                    self.t.close = e
            if self.server.pending is None:
                return
            effects = self.server.resolve(self._answer(self.server.pending))

    def feed(self, data: bytes, mode: str = "whole") -> Transcript:
        for chunk in _chunks(data, mode):
            self._apply(self.server.receive(chunk))
        return self.t

    def eof(self) -> Transcript:
        self._apply(self.server.receive(b""))
        return self.t


def _chunks(data: bytes, mode: str) -> Iterable[bytes]:
    if mode == "whole":
        yield data
    elif mode == "bytes":
        for i in range(len(data)):
            yield data[i : i + 1]
    elif mode.startswith("chunks"):
        size = int(mode[6:] or 7)
        for i in range(0, len(data), size):
            yield data[i : i + size]
    else:
        raise ValueError(mode)


MODES = ["whole", "bytes", "chunks7"]


def run(script: bytes, mode: str = "whole", **kwargs: object) -> Transcript:
    d = Dialogue(**kwargs)  # type: ignore[arg-type]
    return d.feed(script, mode)


def replies(t: Transcript) -> list[bytes]:
    """The output split into lines (CRLF kept)."""
    return [line + b"\n" for line in t.text.split(b"\n")[:-1]]

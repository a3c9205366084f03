"""Run the server core in-process with scripted answers to its requests.

No processes, no sockets: qmail-queue, checkpassword and plugins are answered from an
`Answers` script. Used by the selfcheck, by the core's unit tests, and by anything that
wants the reference's replies for given input as fast as possible (fuzzing, property tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
    Request,
    RunPlugin,
    Send,
    Sleep,
    StartTls,
    TlsResult,
)
from eqmail_ref.smtpd import SmtpServer

__all__ = ["Answers", "Transcript", "InProcessSession"]


@dataclass(frozen=True, kw_only=True)
class Answers:
    queue_pid: int = 777
    queue_exit: int | None = 0
    queue_signal: int | None = None
    queue_write_failed: bool = False
    password_ok: bool = True
    # plugin line -> its stdout (split into lines as a real plugin's would be)
    plugin_output: Mapping[bytes, bytes] = field(default_factory=dict)


@dataclass
class Transcript:
    output: bytearray = field(default_factory=bytearray)
    sends: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    envelopes: list[bytes] = field(default_factory=list)
    queue_env: list[dict[bytes, bytes]] = field(default_factory=list)
    logs: list[bytes] = field(default_factory=list)
    requests: list[Request[Any]] = field(default_factory=list)
    close: Close | None = None

    @property
    def text(self) -> bytes:
        return bytes(self.output)


class InProcessSession:
    def __init__(self, server: SmtpServer, answers: Answers = Answers()) -> None:
        self.server = server
        self.answers = answers
        self.t = Transcript()
        self._message = bytearray()
        self._queue_open = False
        self._apply(server.start())

    def feed(self, data: bytes) -> Transcript:
        if data:
            self._apply(self.server.receive(data))
        return self.t

    def eof(self) -> Transcript:
        self._apply(self.server.receive(b""))
        return self.t

    def timeout(self) -> Transcript:
        self._apply(self.server.timeout())
        return self.t

    def _answer(self, request: Request[Any]) -> object:
        a = self.answers
        self.t.requests.append(request)
        if isinstance(request, OpenQueue):
            self._message = bytearray()
            self._queue_open = True
            self.t.queue_env.append(request.env)
            return QueueOpened(ok=True, pid=a.queue_pid)
        if isinstance(request, CloseQueue):
            self._queue_open = False
            self.t.messages.append(bytes(self._message))
            self.t.envelopes.append(b"" if request.failed else request.envelope)
            return QueueExit(exit_code=a.queue_exit, signal=a.queue_signal,
                             write_failed=a.queue_write_failed)
        if isinstance(request, CheckPassword):
            return ProcessExit(exit_code=0 if a.password_ok else 1)
        if isinstance(request, Sleep):
            return None
        if isinstance(request, RunPlugin):
            out = a.plugin_output.get(request.command, b"")
            return PluginRun(exit_code=0, lines=tuple(x for x in out.split(b"\n") if len(x) > 0))
        if isinstance(request, StartTls):
            return TlsResult(ok=False, fatal=False, error=b"unable to initialize ctx")
        raise TypeError(f"the in-process session cannot answer {request!r}")

    def _abandon_queue(self) -> None:
        """qmail-smtpd exits in DATA (EOF, bare LF, timeout): qmail-queue got what the 1024-byte
        buffer had passed and then EOF on both pipes, no envelope. A capture program sees
        (message so far, b""), as the process shell's queue observation does; record it."""
        if self._queue_open:
            self._queue_open = False
            self.t.messages.append(bytes(self._message))
            self.t.envelopes.append(b"")

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
                    self._abandon_queue()
            if self.server.pending is None:
                return
            effects = self.server.resolve(self._answer(self.server.pending))

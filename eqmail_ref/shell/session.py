"""Runs one SMTP session of the server core over a transport, performing its effects."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eqmail_ref.effects import (
    CheckPassword,
    Close,
    CloseQueue,
    Effect,
    Log,
    OpenQueue,
    QueueOpened,
    QueueWrite,
    Request,
    RunPlugin,
    Send,
    Sleep,
    StartTls,
    VerifyClientCert,
)
from eqmail_ref.shell.openssl import ErrorQueue
from eqmail_ref.shell.processes import MemoryQueue, QueueProcess, run_checkpassword, run_plugin
from eqmail_ref.shell.tls import TlsTransport, client_cert, start_tls
from eqmail_ref.shell.transport import ClientGone, FdTransport
from eqmail_ref.smtpd import SmtpServer

__all__ = ["run_session", "system_clock", "SessionOutcome"]


def system_clock() -> tuple[int, int]:
    now = int(time.time())
    return now, time.localtime(now).tm_gmtoff


@dataclass
class SessionOutcome:
    exit_code: int
    crash: bool = False
    reason: str = ""
    log: list[bytes] = field(default_factory=list)


class _Performer:
    def __init__(self, server: SmtpServer, transport: FdTransport, log_fd: int | None,
                 sleep_scale: float, memory_queue: bool, home: Path, openssl: str) -> None:
        self.server = server
        self.raw = transport
        self.transport: FdTransport | TlsTransport = transport
        self.home = home
        self.log_fd = log_fd
        self.sleep_scale = sleep_scale
        self.queue: QueueProcess | MemoryQueue | None = None
        self.queue_class = MemoryQueue if memory_queue else QueueProcess
        self.outcome: SessionOutcome | None = None
        self.logged: list[bytes] = []
        self.openssl_errors = ErrorQueue()  # one process, one OpenSSL error queue
        self.openssl = openssl

    def perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.transport.write(effect.data)
            elif isinstance(effect, QueueWrite):
                assert self.queue is not None
                self.queue.write(effect.data)
            elif isinstance(effect, Log):
                self.logged.append(effect.line)
                if self.log_fd is not None:
                    os.write(self.log_fd, effect.line)
            elif isinstance(effect, Close):
                self.outcome = SessionOutcome(effect.exit_code, effect.crash, effect.reason,
                                              self.logged)

    def answer(self, request: Request[Any]) -> object:
        if isinstance(request, OpenQueue):
            self.queue = self.queue_class.start(request.program, request.env)
            return QueueOpened(ok=True, pid=self.queue.pid)
        if isinstance(request, CloseQueue):
            assert self.queue is not None
            queue, self.queue = self.queue, None
            return queue.close(request.envelope, request.failed)
        if isinstance(request, RunPlugin):
            return run_plugin(request)
        if isinstance(request, CheckPassword):
            return run_checkpassword(request, self.raw.rfd, self.raw.wfd)
        if isinstance(request, Sleep):
            time.sleep(request.seconds * self.sleep_scale)
            return None
        if isinstance(request, StartTls):
            result, tls = start_tls(request, self.raw, self.home, self.server.read_timeout,
                                    queue=self.openssl_errors, eof_is_error=self.openssl == "3")
            if tls is not None:
                self.transport = tls
            return result
        if isinstance(request, VerifyClientCert):
            return client_cert(self.transport)
        raise TypeError(f"unknown request {request!r}")

    def cleanup(self) -> None:
        if isinstance(self.transport, TlsTransport):
            self.transport.close_notify()  # every _exit() is ssl_exit() (tls.h)
        if self.queue is not None:
            self.queue.abandon()
            self.queue = None


def run_session(server: SmtpServer, transport: FdTransport, *, log_fd: int | None = 2,
                sleep_scale: float = 1.0, memory_queue: bool = False,
                home: Path | None = None, openssl: str = "3") -> SessionOutcome:
    """Drive `server` until it closes; the client's bytes come from `transport`.

    `memory_queue` keeps messages in-process (MemoryQueue) instead of running qmail-queue.
    `openssl`: the OpenSSL the imitated build is linked against, "3" or "1.1"/"1.0"
    (eqmail_ref.shell.openssl).
    """
    p = _Performer(server, transport, log_fd, sleep_scale, memory_queue, home or Path.cwd(),
                   openssl)
    try:
        effects = server.start()
        while True:
            p.perform(effects)
            if p.outcome is not None:
                return p.outcome
            if server.pending is not None:
                effects = server.resolve(p.answer(server.pending))
                continue
            data = p.transport.read(server.read_timeout)
            effects = server.timeout() if data is None else server.receive(data)
    except ClientGone as exc:
        return SessionOutcome(1, reason=f"write to client failed: {exc}", log=p.logged)
    finally:
        p.cleanup()

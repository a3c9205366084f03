"""Where fuzz sessions run. Each runner takes the whole client byte stream, writes it, ends
its side (as a pipelining client that hangs up would) and returns what came back and how the
program ended. `begin()` starts a session and `result()` collects it, so the engine computes
the reference's answer while the target's process is starting and working.

* `InProcessRunner`: the reference core in this process (a Python exception is a crash of
  the reference; a SIGALRM guard turns an endless loop into a hang).
* `SpawnRunner`: a program spawned per session with the fixture's env, its stdin and stdout
  one end of a socketpair (how tcpserver runs qmail-smtpd): `cmd:PROGRAM ARGS...`.
* `TargetRunner`: any harness Target (exec:, docker:, ref as processes) via Target.smtpd().
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

from harness.fixtures import Fixture
from harness.property.backends import RefWorld
from harness.targets.base import Running, Target

__all__ = ["Run", "Pending", "InProcessRunner", "SpawnRunner", "TargetRunner", "MAX_OUTPUT"]

MAX_OUTPUT = 1 << 20  # a target that floods is cut off here (and then differs)


@dataclass(frozen=True, kw_only=True)
class Run:
    output: bytes
    status: int | None  # exit status, 128+N for signal N; None when unknown
    hang: bool = False
    error: str = ""  # an exception inside the in-process reference: its own crash
    modelled_crash: bool = False  # the reference crashed as eQmail does (not a bug)


class Pending(Protocol):
    def result(self) -> Run: ...


class _Done:
    def __init__(self, run: Run) -> None:
        self.run = run

    def result(self) -> Run:
        return self.run


class _Alarm(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


class InProcessRunner:
    def __init__(self, world: RefWorld, timeout: float = 2.0) -> None:
        self.world = world
        self.timeout = timeout
        self.name = f"ref:{world.version.name} (in-process)"

    def run(self, data: bytes) -> Run:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            session = self.world.session()
            session.feed(data)
            t = session.eof()
        except _Alarm:
            return Run(output=b"", status=None, hang=True)
        except Exception as exc:  # noqa: BLE001 - any exception is a crash of the reference
            return Run(output=b"", status=None, error=f"{type(exc).__name__}: {exc}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        close = t.close
        crash = close is not None and close.crash
        status = None if close is None else (128 + signal.SIGSEGV if crash else close.exit_code)
        return Run(output=bytes(t.output), status=status, modelled_crash=crash)

    def begin(self, data: bytes) -> Pending:
        return _Done(self.run(data))

    def close(self) -> None:
        self.world.close()


def _collect(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """Everything until EOF; (output, hung)."""
    out = bytearray()
    while len(out) < MAX_OUTPUT:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return bytes(out), True
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            return bytes(out), False
        out += chunk
    return bytes(out), False


def _write(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # it closed early: what it said is still read


class _Spawned:
    def __init__(self, runner: SpawnRunner, data: bytes) -> None:
        ours, theirs = socket.socketpair()
        self.sock = ours
        self.timeout = runner.timeout
        try:
            self.proc = subprocess.Popen(runner.argv, stdin=theirs.fileno(), stdout=theirs.fileno(),
                                         stderr=subprocess.DEVNULL,
                                         env=runner.env, cwd=runner.cwd, start_new_session=True)
        finally:
            theirs.close()
        _write(ours, data)

    def result(self) -> Run:
        deadline = time.monotonic() + self.timeout
        try:
            output, hung = _collect(self.sock, deadline)
            if not hung:
                fd = os.pidfd_open(self.proc.pid)
                try:
                    hung = not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]
                finally:
                    os.close(fd)
            if hung:
                self._kill()
                return Run(output=output, status=None, hang=True)
            code = self.proc.wait()
            return Run(output=output, status=128 - code if code < 0 else code)
        except BaseException:
            self._kill()
            raise
        finally:
            self.sock.close()

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()


class SpawnRunner:
    """`cmd:PROGRAM ARGS...`: spawned per session; {home} and {fixtures} in the arguments are
    the fixture's paths; the working directory is the fixture home."""

    def __init__(self, argv: list[str], fx: Fixture, timeout: float = 2.0) -> None:
        self.argv = argv
        self.env = {k.encode(): v for k, v in fx.env.items()}
        self.cwd = str(fx.local)
        self.timeout = timeout
        self.name = "cmd:" + " ".join(argv)

    def begin(self, data: bytes) -> Pending:
        return _Spawned(self, data)

    def run(self, data: bytes) -> Run:
        return self.begin(data).result()

    def close(self) -> None:
        pass


class _TargetSession:
    def __init__(self, runner: TargetRunner, data: bytes) -> None:
        self.timeout = runner.timeout
        self.running: Running = runner.target.smtpd(runner.fx)
        _write(self.running.sock, data)

    def result(self) -> Run:
        running = self.running
        try:
            output, hung = _collect(running.sock, time.monotonic() + self.timeout)
            running.sock.close()
            if not hung:
                try:
                    status, _ = running.finish(self.timeout)
                    return Run(output=output, status=status)
                except TimeoutError:
                    pass
            running.kill()
            return Run(output=output, status=None, hang=True)
        except BaseException:
            running.kill()
            raise


class TargetRunner:
    def __init__(self, target: Target, fx: Fixture, timeout: float = 2.0) -> None:
        self.target = target
        self.fx = fx
        self.timeout = timeout
        self.name = target.name

    def begin(self, data: bytes) -> Pending:
        return _TargetSession(self, data)

    def run(self, data: bytes) -> Run:
        return self.begin(data).result()

    def close(self) -> None:
        self.target.stop()

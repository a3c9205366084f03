"""`ref` / `ref:1.09`: the bundled reference eQmail. Each session is a real process (forked
by the warm zygote, harness/targets/zygote.py) running `eqmail-ref smtpd` on the case's
home, exactly as tcpserver would run it; qmail-remote jobs run `eqmail-ref remote`.

Options (spec `ref:1.09,no-tls,auth-sleep=5`): the version; `no-tls` (an eQmail built
without TLS: no STARTTLS); `auth-sleep=S` the pause after a failed AUTH in seconds (real
eQmail's is 5, spec §2.9; default 0 here: the pause changes timing, never bytes).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from eqmail_ref.auth import AUTH_SLEEP
from harness.errors import TargetFault
from harness.fixtures import Fixture
from harness.targets.base import RefOptions, RemoteOutcome, Running, Target, TreeWatch, exit_status

__all__ = ["RefTarget", "Zygote"]


class Zygote:
    """The harness's end of the fork server: spawn sessions, learn their exit statuses."""

    def __init__(self) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.targets.zygote", "--fd", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], start_new_session=True)
        theirs.close()
        self.lock = threading.Lock()
        self.next_id = 0
        self.started: dict[int, threading.Event] = {}
        self.ended: dict[int, threading.Event] = {}
        self.statuses: dict[int, int] = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                msg = self.sock.recv(65536)
            except OSError:
                msg = b""
            if not msg:  # the fork server is gone: nobody waits forever
                with self.lock:
                    for event in (*self.started.values(), *self.ended.values()):
                        event.set()
                return
            answer = json.loads(msg)
            with self.lock:
                if "pid" in answer:
                    self.started[answer["id"]].set()
                else:
                    self.statuses[answer["id"]] = answer["status"]
                    self.ended[answer["id"]].set()

    def spawn(self, argv: list[str], env: dict[str, bytes], stderr: Path, fds: list[int]) -> int:
        with self.lock:
            self.next_id += 1
            rid = self.next_id
            self.started[rid], self.ended[rid] = threading.Event(), threading.Event()
        request = {"id": rid, "argv": argv, "stderr": str(stderr),
                   "env": {k: v.decode("latin-1") for k, v in env.items()}}
        socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
        started = self.started[rid].wait(30)
        with self.lock:
            self.started.pop(rid, None)
        if not started:
            raise TargetFault("the reference's fork server did not answer within 30 s")
        return rid

    def wait(self, rid: int, timeout: float) -> int:
        """The raw wait status of session `rid`; TimeoutError if it runs on."""
        if not self.ended[rid].wait(timeout):
            raise TimeoutError
        with self.lock:
            self.ended.pop(rid, None)
            if rid not in self.statuses:
                raise TargetFault("the reference's fork server died")
            return self.statuses.pop(rid)

    def kill(self, rid: int) -> None:
        try:
            self.sock.send(json.dumps({"kill": rid}).encode())
        except OSError:
            pass

    def close(self) -> None:
        try:
            # shutdown, not just close: the reader thread's recv() keeps the socket open
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class _ZygoteRunning(Running):
    def __init__(self, zygote: Zygote, argv: list[str], env: dict[str, bytes], stderr: Path) -> None:
        ours, theirs = socket.socketpair()
        self.sock = ours
        self.zygote = zygote
        self.stderr = stderr
        self.tree = TreeWatch()
        try:
            self.rid = zygote.spawn(argv, env, stderr, [theirs.fileno(), self.tree.write_end])
        finally:
            theirs.close()
            self.tree.spawned()

    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        status = self.zygote.wait(self.rid, timeout)
        return exit_status(status), self.stderr.read_bytes() if self.stderr.exists() else b""

    def kill(self) -> None:
        self.zygote.kill(self.rid)
        if self.rid in self.zygote.ended:  # not waited for yet
            try:
                self.zygote.wait(self.rid, 10)
            except (TimeoutError, TargetFault):
                pass


class RefTarget(Target):
    kind = "ref"
    runs_remote = True

    def __init__(self, spec: str, version: str = "1.08", tls_build: bool = True,
                 auth_sleep: float = 0.0) -> None:
        self.spec = spec
        self.name = spec
        self.ref = RefOptions(version=version, tls_build=tls_build)
        self.auth_sleep = auth_sleep
        self.zygote: Zygote | None = None

    def start(self) -> None:
        if self.zygote is None:
            self.zygote = Zygote()

    def stop(self) -> None:
        if self.zygote is not None:
            zygote, self.zygote = self.zygote, None
            zygote.close()

    def _flags(self) -> list[str]:
        flags = ["--version", self.ref.version]
        return flags if self.ref.tls_build else [*flags, "--no-tls-build"]

    def smtpd(self, fx: Fixture) -> Running:
        if self.zygote is None:
            raise TargetFault(f"{self.name}: not started")
        scale = self.auth_sleep / AUTH_SLEEP  # the program scales its own 5 s
        argv = ["smtpd", *self._flags(), "--auth-sleep-scale", repr(scale),
                "--qmail-home", fx.home, *(a.decode("latin-1") for a in fx.args)]
        return _ZygoteRunning(self.zygote, argv, fx.env, fx.local / ".stderr")

    def remote(self, fx: Fixture, argv: list[str], message: bytes, timeout: float) -> RemoteOutcome:
        """`eqmail-ref remote` forked by the zygote (a fresh Python would cost ~0.4 s per
        case): fd 0 and 1 are one socket, the message is written and half-closed, the report
        read to EOF."""
        if self.zygote is None:
            raise TargetFault(f"{self.name}: not started")
        dns = ["--dns-server", fx.extra["dns_server"]] if "dns_server" in fx.extra else []
        cmd = ["remote", *self._flags(), *dns, "--qmail-home", fx.home, "--", *argv]
        stderr = fx.local / ".stderr"
        running = _ZygoteRunning(self.zygote, cmd, fx.env, stderr)
        deadline = time.monotonic() + timeout
        report = bytearray()
        try:
            try:
                running.sock.sendall(message)
                running.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # it ended without reading everything (usage): its report still counts
            while True:
                running.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = running.sock.recv(65536)
                if not chunk:
                    break
                report += chunk
            code, err = running.finish(max(deadline - time.monotonic(), 0.001))
        except TimeoutError as exc:
            running.kill()
            raise TimeoutError(f"qmail-remote did not end within {timeout:g} s") from exc
        finally:
            running.sock.close()
        return RemoteOutcome(stdout=bytes(report), exit=code, stderr=err)

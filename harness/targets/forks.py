"""The harness's end of a warm fork server (harness/targets/zygote.py serves the reference,
harness/targets/exec_server.py an installed qmail): spawn sessions, learn their exit
statuses, kill their process groups. Forking from the harness itself is unsafe once it has
threads (jobs), so the forks happen in the server, a single-threaded process started once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from harness.errors import TargetFault
from harness.targets.base import RemoteOutcome, Running, TreeWatch, exit_status

__all__ = ["ForkServer", "ForkedRunning", "run_remote_job"]


class ForkServer:
    """Starts `command` (a Python module run with `--fd N`: the server's end of the socket)
    and waits until it says it is ready, or why it cannot serve (TargetFault)."""

    def __init__(self, command: list[str], label: str) -> None:
        self.label = label
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([*command, "--fd", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], start_new_session=True)
        theirs.close()
        self.lock = threading.Lock()
        self.next_id = 0
        self.started: dict[int, threading.Event] = {}
        self.ended: dict[int, threading.Event] = {}
        self.statuses: dict[int, int] = {}
        hello = self._hello()
        if "error" in hello:
            self.close()
            raise TargetFault(f"{label}: {hello['error']}")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _hello(self) -> dict[str, Any]:
        self.sock.settimeout(60)
        try:
            msg = self.sock.recv(65536)
        except OSError:
            msg = b""
        finally:
            self.sock.settimeout(None)
        if not msg:
            return {"error": "the fork server ended before it was ready"}
        hello: dict[str, Any] = json.loads(msg)
        return hello

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

    def spawn(self, argv: list[str], env: dict[str, bytes], stderr: Path, fds: list[int],
              **extra: str) -> int:
        """Start a session: fds are its stdin/stdout socket and its TreeWatch's write end;
        `extra` are fields of the request the server knows (exec_server: home, resolv)."""
        with self.lock:
            self.next_id += 1
            rid = self.next_id
            self.started[rid], self.ended[rid] = threading.Event(), threading.Event()
        request = {"id": rid, "argv": argv, "stderr": str(stderr),
                   "env": {k: v.decode("latin-1") for k, v in env.items()}, **extra}
        socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
        started = self.started[rid].wait(30)
        with self.lock:
            self.started.pop(rid, None)
        if not started:
            raise TargetFault(f"{self.label}: the fork server did not answer within 30 s")
        return rid

    def wait(self, rid: int, timeout: float) -> int:
        """The raw wait status of session `rid`; TimeoutError if it runs on."""
        if not self.ended[rid].wait(timeout):
            raise TimeoutError
        with self.lock:
            self.ended.pop(rid, None)
            if rid not in self.statuses:
                raise TargetFault(f"{self.label}: the fork server died")
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


class ForkedRunning(Running):
    """One session forked by a ForkServer: `sock` is our end of its stdin/stdout."""

    def __init__(self, server: ForkServer, argv: list[str], env: dict[str, bytes], stderr: Path,
                 **extra: str) -> None:
        ours, theirs = socket.socketpair()
        self.sock = ours
        self.server = server
        self.stderr = stderr
        self.tree = TreeWatch()
        try:
            self.rid = server.spawn(argv, env, stderr, [theirs.fileno(), self.tree.write_end], **extra)
        finally:
            theirs.close()
            self.tree.spawned()

    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        status = self.server.wait(self.rid, timeout)
        return exit_status(status), self.stderr.read_bytes() if self.stderr.exists() else b""

    def kill(self) -> None:
        self.server.kill(self.rid)
        if self.rid in self.server.ended:  # not waited for yet
            try:
                self.server.wait(self.rid, 10)
            except (TimeoutError, TargetFault):
                pass


def run_remote_job(running: Running, message: bytes, timeout: float) -> RemoteOutcome:
    """A qmail-remote job on a started session: the message is written to its stdin and
    half-closed, its report read from stdout to EOF, then its exit status taken."""
    deadline = time.monotonic() + timeout
    report = bytearray()
    try:
        try:
            running.sock.settimeout(timeout)
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

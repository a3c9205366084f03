"""The harness's end of a warm fork server (harness/targets/zygote.py serves the reference,
harness/targets/exec_server.py an installed qmail): spawn sessions, learn their exit
statuses, kill their process groups. Forking from the harness itself is unsafe once it has
threads (jobs), so the forks happen in the server, a single-threaded process started once.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

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
        self.sock.settimeout(60)
        try:
            hello = json.loads(self.sock.recv(65536) or b'{"error": "it ended before it was ready"}')
        except (OSError, ValueError) as exc:
            hello = {"error": f"no answer: {exc}"}
        self.sock.settimeout(None)
        if "error" in hello:
            self.close()
            raise TargetFault(f"{label}: the fork server cannot serve: {hello['error']}")

    def spawn(self, argv: list[str], env: dict[str, bytes], stderr: Path, session: int, tree: int,
              **extra: str) -> int:
        """Start a session on `session` (its stdin/stdout) and `tree` (its TreeWatch's write
        end); `extra` are request fields the server knows (exec_server: home, resolv).
        Returns the read end of its status pipe."""
        request = {"argv": argv, "stderr": str(stderr),
                   "env": {k: v.decode("latin-1") for k, v in env.items()}, **extra}
        status_r, status_w = os.pipe()
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()], [session, tree, status_w])
        except OSError as exc:
            os.close(status_r)
            raise TargetFault(f"{self.label}: the fork server is gone: {exc}") from exc
        finally:
            os.close(status_w)
        return status_r

    def close(self) -> None:
        try:
            self.sock.close()  # the server sees EOF, kills what still runs and ends
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class ForkedRunning(Running):
    """One session started by a ForkServer: `sock` is our end of its stdin/stdout; its wait
    status arrives on its own pipe, read by whichever thread waits for it."""

    def __init__(self, server: ForkServer, argv: list[str], env: dict[str, bytes], stderr: Path,
                 **extra: str) -> None:
        ours, theirs = socket.socketpair()
        self.sock = ours
        self.server = server
        self.stderr = stderr
        self.tree = TreeWatch()
        self.status_fd = -1
        self.said: dict[bytes, int] = {}
        try:
            self.status_fd = server.spawn(argv, env, stderr, theirs.fileno(), self.tree.write_end,
                                                    **extra)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            self.tree.spawned()

    def _read(self, want: bytes, timeout: float) -> int:
        """The number after `want` (b"P": the pid, b"S": the wait status) from the status
        pipe, waiting up to `timeout` for it; TimeoutError if it does not come."""
        deadline = time.monotonic() + timeout
        while want not in self.said:
            if self.status_fd < 0:
                raise TargetFault(f"{self.server.label}: the fork server died")
            poll = select.poll()
            poll.register(self.status_fd, select.POLLIN | select.POLLHUP)
            if not poll.poll(max(deadline - time.monotonic(), 0) * 1000):
                raise TimeoutError
            data = os.read(self.status_fd, 64)
            if not data:  # the server wrote all it will: after the status, or it died
                os.close(self.status_fd)
                self.status_fd = -1
            for line in data.splitlines():
                self.said[line[:1]] = int(line[1:])
        return self.said[want]

    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        status = self._read(b"S", timeout)
        return exit_status(status), self.stderr.read_bytes() if self.stderr.exists() else b""

    def kill(self) -> None:
        """Kill the session's process group, also after its first process ended (what it
        started may run on), and wait for the status if nobody has."""
        try:
            os.killpg(self._read(b"P", 10), signal.SIGKILL)
        except (OSError, TimeoutError, TargetFault):
            pass
        try:
            self._read(b"S", 10)
        except (TimeoutError, TargetFault):
            pass

    def __del__(self) -> None:
        if self.status_fd >= 0:
            os.close(self.status_fd)


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
            try:
                chunk = running.sock.recv(65536)
            except ConnectionResetError:
                # it ended without reading the whole message, so its end was closed with
                # unread data: only after everything it wrote has been read
                chunk = b""
            if not chunk:
                break
            report += chunk
        code, err = running.finish(max(deadline - time.monotonic(), 0.001))
    except TimeoutError as exc:
        running.kill()
        raise TimeoutError(f"qmail-remote did not end within {timeout:g} s") from exc
    finally:
        running.sock.close()
        if running.tree is not None:  # nobody waits on a job's tree: let its pipe go now
            running.tree.close()
    return RemoteOutcome(stdout=bytes(report), exit=code, stderr=err)

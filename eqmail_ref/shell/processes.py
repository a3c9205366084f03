"""The child processes qmail-smtpd starts: qmail-queue, qmail-spp plugins, checkpassword.

All are started with os.posix_spawn from the qmail home (the shell chdir()s there first,
as qmail-smtpd does). SIGPIPE stays ignored in qmail-queue and plugins, as it is inherited
from qmail-smtpd; checkpassword gets the default action back (spec §2.9).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from eqmail_ref.effects import CheckPassword, PluginRun, ProcessExit, QueueExit, RunPlugin
from eqmail_ref.spp import PluginOutputScanner

__all__ = ["QueueProcess", "MemoryQueue", "run_plugin", "run_checkpassword", "wait_exit", "Env"]

Env = dict[bytes, bytes]


def wait_exit(pid: int) -> ProcessExit:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return ProcessExit(signal=os.WTERMSIG(status))
    return ProcessExit(exit_code=os.WEXITSTATUS(status))


def _spawn(path: bytes, argv: list[bytes], env: Env, actions: Sequence[tuple[int, ...]],
           *, search: bool = False, sigdef: tuple[int, ...] = ()) -> int:
    spawn = os.posix_spawnp if search else os.posix_spawn
    return spawn(path, argv, env, file_actions=actions, setsigdef=sigdef)


@dataclass
class QueueProcess:
    """A running qmail-queue: message on its fd 0, envelope on its fd 1."""

    pid: int
    message_fd: int
    envelope_fd: int
    exec_failed: bool = False
    write_failed: bool = False

    @classmethod
    def start(cls, program: bytes, env: Env) -> QueueProcess:
        msg_r, msg_w = os.pipe2(os.O_CLOEXEC)
        env_r, env_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = _spawn(program, [program], env,
                         [(os.POSIX_SPAWN_DUP2, msg_r, 0), (os.POSIX_SPAWN_DUP2, env_r, 1)])
            exec_failed = False
        except OSError:
            pid, exec_failed = 0, True  # the C child would _exit(120) after vfork()
        finally:
            os.close(msg_r)
            os.close(env_r)
        return cls(pid=pid, message_fd=msg_w, envelope_fd=env_w, exec_failed=exec_failed)

    def write(self, data: bytes) -> None:
        if self.write_failed or self.exec_failed:
            self.write_failed = True
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.message_fd, view):]
        except OSError:
            self.write_failed = True

    def close(self, envelope: bytes, failed: bool) -> QueueExit:
        self._close_fd("message_fd")
        if not (failed or self.write_failed):
            try:
                os.write(self.envelope_fd, envelope)
            except OSError:
                self.write_failed = True
        self._close_fd("envelope_fd")
        if self.exec_failed:
            return QueueExit(exit_code=120, write_failed=True)
        done = wait_exit(self.pid)
        return QueueExit(exit_code=done.exit_code, signal=done.signal,
                         write_failed=self.write_failed)

    def abandon(self) -> None:
        """qmail-smtpd exits mid-message: the queue sees EOF on both pipes."""
        self._close_fd("message_fd")
        self._close_fd("envelope_fd")
        if not self.exec_failed and self.pid:
            os.waitpid(self.pid, 0)

    def _close_fd(self, name: str) -> None:
        fd = getattr(self, name)
        if fd >= 0:
            os.close(fd)
            setattr(self, name, -1)


class MemoryQueue:
    """An in-process stand-in for qmail-queue that keeps the message and envelope.

    For benchmarks and in-process harness runs; it always accepts (exit 0)."""

    last: tuple[bytes, bytes] = (b"", b"")
    _next_pid = 1

    def __init__(self) -> None:
        self.pid = MemoryQueue._next_pid
        MemoryQueue._next_pid += 1
        self.message = bytearray()

    @classmethod
    def start(cls, program: bytes, env: Env) -> MemoryQueue:
        return cls()

    def write(self, data: bytes) -> None:
        self.message += data

    def close(self, envelope: bytes, failed: bool) -> QueueExit:
        MemoryQueue.last = (bytes(self.message), b"" if failed else envelope)
        return QueueExit(exit_code=0)

    def abandon(self) -> None:
        pass


def run_plugin(request: RunPlugin) -> PluginRun:
    """Run one plugin (§3.2): stdin closed, stdout read until a terminating command."""
    command = request.command
    if command[:1] == b":":
        path, argv = b"/bin/sh", [b"/bin/sh", b"-c", command[1:]]
    else:
        path, argv = command, [command]
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = _spawn(path, argv, request.env, [(os.POSIX_SPAWN_CLOSE, 0),
                                                (os.POSIX_SPAWN_DUP2, out_w, 1)])
    except OSError:
        os.close(out_r)
        os.close(out_w)
        return PluginRun(exit_code=120)  # execv() failed in the child
    os.close(out_w)
    scanner = PluginOutputScanner()
    try:
        while not scanner.done:
            chunk = os.read(out_r, 65536)
            if not chunk:
                scanner.eof()
                break
            scanner.feed(chunk)
    finally:
        os.close(out_r)
    done = wait_exit(pid)
    return PluginRun(exit_code=done.exit_code, signal=done.signal, lines=tuple(scanner.lines))


def run_checkpassword(request: CheckPassword, client_in: int, client_out: int) -> ProcessExit:
    """checkpassword with `user\\0pass\\0challenge\\0` on fd 3; stdin/stdout are the client."""
    pass_r, pass_w = os.pipe2(os.O_CLOEXEC)
    actions = [(os.POSIX_SPAWN_DUP2, pass_r, 3)]
    if client_in != 0:
        actions.append((os.POSIX_SPAWN_DUP2, client_in, 0))
    if client_out != 1:
        actions.append((os.POSIX_SPAWN_DUP2, client_out, 1))
    try:
        pid = _spawn(request.argv[0], list(request.argv), request.env, actions,
                     search=True, sigdef=(signal.SIGPIPE,))
    except OSError:
        os.close(pass_r)
        os.close(pass_w)
        return ProcessExit(exit_code=1)  # execvp() failed: the child does _exit(1)
    os.close(pass_r)
    try:
        os.write(pass_w, request.data)
    except OSError:
        os.close(pass_w)
        wait_exit(pid)
        return ProcessExit(failure="write")
    os.close(pass_w)
    return wait_exit(pid)

"""The one small interface every target kind implements, and the running-session handle.

A target runs qmail-smtpd sessions on a case's fixture (and qmail-remote jobs, where it
can), hands the harness the client end of a connected socket, and reports how the program
ended. Paths: the fixture is built on the harness's side; `place()` says where the target
will see it, `upload()`/`download()` move it for targets that do not share our filesystem.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from harness.cases import Case
from harness.errors import TargetFault
from harness.fixtures import FIXTURES_DIR, Fixture
from harness.observe.addresses import HOST_NET, OutgoingNet
from harness.transcript import Transcript

__all__ = ["Target", "RefOptions", "Running", "PopenRunning", "RemoteOutcome", "TreeWatch", "exit_status",
           "resolv_conf"]


@dataclass(frozen=True, kw_only=True)
class RefOptions:
    """How the reference must be configured to be this target's yardstick."""

    version: str = "1.08"
    tls_build: bool = True


@dataclass(frozen=True, kw_only=True)
class RemoteOutcome:
    stdout: bytes
    exit: int | None
    stderr: bytes


def exit_status(wait_status: int) -> int:
    """A wait status as a shell would show it: the exit code, or 128+N for signal N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def resolv_conf(spec: str, dns_server: str) -> bytes:
    """A resolv.conf naming the case's DNS server ("IP:PORT", fx.extra["dns_server"]) for a
    qmail-remote that asks the resolver of /etc/resolv.conf, which knows port 53 only."""
    ip, _, port = dns_server.rpartition(":")
    if port != "53":
        raise TargetFault(f"{spec}: qmail-remote asks port 53 only, and the case's DNS "
                          f"server got port {port}: run the harness as root")
    return f"nameserver {ip}\n".encode()


class TreeWatch:
    """Knows when a process *and everything it started* has ended, without polling: each of
    them inherits the write end of a pipe, and the read end sees EOF when the last one
    exits. qmail-smtpd does not wait for an abandoned qmail-queue, so the queue capture may
    still be writing when qmail-smtpd is gone; observers read only after this."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        os.set_inheritable(self.write_end, True)

    def close(self) -> None:
        """For a caller that will not wait (e.g. a benchmark's bare loop)."""
        self.spawned()
        if self.read_end >= 0:
            os.close(self.read_end)
            self.read_end = -1

    def spawned(self) -> None:
        """Our copy of the write end goes once the child holds its own."""
        if self.write_end >= 0:
            os.close(self.write_end)
            self.write_end = -1

    def wait(self, timeout: float) -> bool:
        """True when every holder has exited; False if some still run after `timeout`."""
        self.spawned()
        poll = select.poll()  # not select(): a long run may have fd numbers past 1023
        poll.register(self.read_end, select.POLLIN | select.POLLHUP)
        try:
            while poll.poll(timeout * 1000):
                if not os.read(self.read_end, 4096):
                    return True
            return False
        finally:
            os.close(self.read_end)
            self.read_end = -1


class Running(ABC):
    """A qmail-smtpd session in progress: `sock` is our end of its stdin/stdout."""

    sock: socket.socket
    tree: TreeWatch | None = None  # set when the target can tell us its whole tree has ended

    @abstractmethod
    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        """Wait for the program to end; (exit status or None if unknown, stderr).
        Raises TimeoutError if it does not end in time (the caller kills it)."""

    @abstractmethod
    def kill(self) -> None:
        """Kill it and everything it started; never raises."""


class PopenRunning(Running):
    """A session run by a local child process (its own process group), waited on with a
    pidfd so that waiting never polls."""

    def __init__(self, argv: list[str], env: dict[str, bytes], stderr_path: Path,
                 cwd: str | None = None) -> None:
        ours, theirs = socket.socketpair()
        self.sock = ours
        self.stderr_path = stderr_path
        self.tree = TreeWatch()
        try:
            with open(stderr_path, "wb") as err:
                self.proc = subprocess.Popen(argv, stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=err,
                                             env={k.encode(): v for k, v in env.items()}, cwd=cwd,
                                             start_new_session=True, pass_fds=[self.tree.write_end])
        finally:
            theirs.close()
            self.tree.spawned()

    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        fd = os.pidfd_open(self.proc.pid)
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        try:
            if not poll.poll(timeout * 1000):
                raise TimeoutError
        finally:
            os.close(fd)
        code = self.proc.wait()
        return (128 - code if code < 0 else code), self.stderr_path.read_bytes()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class Target(ABC):  # noqa: B024 - the hooks with bodies are optional
    """One MTA under test. `spec` is what the user typed; `name` labels reports."""

    spec: str = ""
    name: str = ""
    kind: str = ""
    ref: RefOptions = RefOptions()
    controls_fixtures: bool = True  # False: cases that need our control files are not applicable
    runs_remote: bool = False  # can it run qmail-remote jobs?
    no_remote: str = "this target does not run qmail-remote"  # why not, for the report
    # patches the target was built without (spec option `no-PATCH`, e.g. no-domainbindings:
    # eQmail's public commit 9254fa9 is a 1.08 without it); the cases tagged with one are not applicable
    lacks: frozenset[str] = frozenset()

    def cannot_run(self, case: Case) -> str:
        """Why this build cannot run `case` (a patch it lacks), or "" if it can."""
        missing = sorted(self.lacks & set(case.tags))
        return f"target built without the {missing[0]} patch" if missing else ""

    def start(self) -> None:  # noqa: B027 - optional hook
        """Bring the target up (start a container, check the install). May raise TargetFault."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Tear down everything start() made; never raises, safe to call twice."""

    def place(self, local: Path) -> tuple[str, str]:
        """(home, fixtures) as the target sees the case's home and our fixtures/ directory."""
        return str(local), str(FIXTURES_DIR)

    def upload(self, fx: Fixture) -> None:  # noqa: B027 - optional hook
        """Make the built fixture visible to the target (no-op when it shares our files)."""

    def download(self, fx: Fixture) -> None:  # noqa: B027 - optional hook
        """Bring back what the observers read (queue capture, fd3, out/) into fx.local."""

    def recorded(self, case: Case) -> Transcript | None:
        """A transcript recorded earlier instead of a live run (golden targets)."""
        return None

    @abstractmethod
    def smtpd(self, fx: Fixture) -> Running:
        """Start one qmail-smtpd session on the fixture."""

    def remote(self, fx: Fixture, argv: list[str], message: bytes, timeout: float) -> RemoteOutcome:
        raise NotImplementedError(f"{self.name} does not run qmail-remote")

    def outgoing(self) -> OutgoingNet | None:
        """Where qmail-remote's fake relays and DNS listen so that the target reaches them, and
        the target's own client addresses; this machine's loopback unless the target runs
        elsewhere."""
        return HOST_NET

    def describe(self) -> dict[str, str]:
        return {"spec": self.spec, "name": self.name, "kind": self.kind,
                "reference": f"{self.ref.version}{'' if self.ref.tls_build else ' no-tls'}"}

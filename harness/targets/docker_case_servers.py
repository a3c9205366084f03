"""A `docker:` qmail image's later sessions of one case home: a tcpserver of the case's own,
started in a mount namespace that already has the case's home over HOME.

Why: on the container's supervisor (harness/targets/docker_supervisor.py) every session of
a qmail image makes a mount namespace of its own (unshare, a sh, two mount(8)) and the
kernel tears it down when the session ends. For a case home that serves many sessions
(the fuzzer's one home, `qmc load`, a case of several sessions) that is most of a
session's cost: the fuzzer ran real eQmail 1.09 in a container at ~130 sessions/s whatever
the number of sessions under way, 0.3x a bare loop of the same binary (bench/README.md).
Here the namespace is made once per case home; each later session is tcpserver's fork,
the dispatcher's sh (no setsid: KILL_TREE kills it) and the program (no env(1) when the
image's sh exports nothing of its own: `clean`).

How: a home's first sessions (FIRST) run as before. The next one asks the supervisor for
`<workdir> <token> case`: the home's `.case` script starts, in the background and with no
environment but PATH, the namespace's sh (the same mounts as a session's) which execs a
tcpserver with `-1`, so its port comes back on the connection; then the script waits on
`read` from the connection, and when the harness closes it (the least recently used of
KEEP homes, or the target's stop) it kills that tcpserver. Sessions under way run on (the
signal goes to tcpserver alone), and the namespace lives as long as they do. Its sessions
run `.inner`, the session script with the program itself as argv; their markers reach the
supervisor's stream as every session's do (stderr, inherited). A home whose server does
not start stays on the first path; a session that finds its home's server closed meanwhile
takes the first path too.
"""

from __future__ import annotations

import secrets
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from harness.errors import TargetFault
from harness.targets.docker_io import quote
from harness.targets.docker_qmail import qmail_argv
from harness.targets.docker_supervisor import SupervisedRunning, Supervisor, listener, session_script

__all__ = ["CaseServers", "case_script", "FIRST", "KEEP"]

FIRST = 2  # sessions of a home on the supervisor's path before it gets a server of its own
KEEP = 8  # case servers kept at once
_START = 30.0  # seconds a case server may take to say its port


def case_script(server: list[bytes]) -> bytes:
    """The `.case` script: `server` (the namespace's sh ending in `exec tcpserver -1 ...`) in
    the background with no environment but PATH (so that its sessions' sh exports nothing
    the case does not give: docker_supervisor.session_script's `clean`), its port line on
    our stdout (the connection), until the connection ends."""
    return b"\n".join([
        b"#!/bin/sh",
        b"# written by the qmail-conformance harness (harness/targets/docker_case_servers.py)",
        b'env -i "PATH=$PATH" ' + b" ".join(quote(a) for a in server) + b" </dev/null &",
        b"read -r _",
        b"kill $! 2>/dev/null",
        b"",
    ])


class CaseServers:
    """The case servers of one target's supervisor, by case home."""

    def __init__(self, supervisor: Supervisor, *, clean: bool = False, first: int = FIRST,
                 keep: int = KEEP) -> None:
        self.supervisor = supervisor
        self.clean = clean  # the image's sh exports nothing of its own (docker_image.probe)
        self.first, self.keep = first, keep
        self.sessions: dict[str, int] = {}  # workdir -> sessions started on the first path
        self.servers: OrderedDict[str, tuple[socket.socket, int]] = OrderedDict()  # least recent first
        self.starting: dict[str, threading.Event] = {}
        self.failed: set[str] = set()
        self.lock = threading.Lock()

    def files(self, workdir: str, home: str, env: dict[str, bytes], argv: list[bytes]) -> dict[str, bytes]:
        """A case home's `.case` script (its server in a namespace where `workdir` is the
        qmail `home`) and `.inner` (a session of `argv` with `env` on that server)."""
        tcpserver = [a.encode() for a in listener(self.supervisor.address, group=False)]
        server = qmail_argv(workdir, home, tcpserver, dns=False)
        return {".case": case_script(server), ".inner": session_script(workdir, env, argv, clean=self.clean)}

    def open(self, workdir: str, host_dir: Path, write_scripts: Callable[[], None]) -> SupervisedRunning:
        """A session of `workdir`: on its own server once it has had FIRST sessions.
        `write_scripts` puts its `.case` and `.inner` scripts there (called once)."""
        port = self._port(workdir, write_scripts)
        if port:
            try:
                return SupervisedRunning(self.supervisor, workdir, host_dir, "inner", port=port)
            except TargetFault:
                self._close(workdir)  # closed meanwhile (the least recently used): the first path
        return self.supervisor.open(workdir, host_dir)

    def _port(self, workdir: str, write_scripts: Callable[[], None]) -> int:
        with self.lock:
            if workdir in self.servers:
                self.servers.move_to_end(workdir)
                return self.servers[workdir][1]
            count = self.sessions.get(workdir, 0)
            if count < self.first or workdir in self.failed:
                self.sessions[workdir] = count + 1
                return 0
            event = self.starting.get(workdir)
            mine = event is None
            if mine:
                event = self.starting[workdir] = threading.Event()
        assert event is not None
        if not mine:  # another thread starts it: wait, then use it (or the first path)
            event.wait(_START + 5)
            with self.lock:
                return self.servers[workdir][1] if workdir in self.servers else 0
        started: tuple[socket.socket, int] | None = None
        try:
            write_scripts()
            started = self._start(workdir)
        except (OSError, ValueError, TargetFault):
            started = None
        with self.lock:
            if started is None:
                self.failed.add(workdir)
            else:
                self.servers[workdir] = started
            evicted = [self.servers.popitem(last=False)[1][0] for _ in range(len(self.servers) - self.keep)]
            del self.starting[workdir]
            event.set()
        for sock in evicted:
            sock.close()
        return started[1] if started else 0

    def _start(self, workdir: str) -> tuple[socket.socket, int]:
        """Ask the supervisor for the home's server; (the connection that keeps it, its port)."""
        sock = socket.create_connection((self.supervisor.address, self.supervisor.port), timeout=_START)
        try:
            sock.sendall(f"{workdir} {secrets.token_hex(6)} case\n".encode())
            line = b""
            while not line.endswith(b"\n"):
                chunk = sock.recv(64)
                if not chunk:
                    raise ValueError(f"the case server of {workdir} ended before it said its port")
                line += chunk
            sock.settimeout(None)
            return sock, int(line)
        except BaseException:
            sock.close()
            raise

    def _close(self, workdir: str) -> None:
        with self.lock:
            gone = self.servers.pop(workdir, None)
        if gone is not None:
            gone[0].close()

    def close(self) -> None:
        with self.lock:
            socks = [sock for sock, _ in self.servers.values()]
            self.servers.clear()
        for sock in socks:
            sock.close()

"""One session supervisor per `docker:` container, for an engine on this machine whose
image has tcpserver and setsid: sessions start at the speed of a fork, not of an Engine
API exec.

At target start one long-lived exec runs ONE tcpserver on a port of the container's
address (`-1` prints it). Each session is a TCP connection to it whose first line,
"<workdir> <token> session\\n", the per-connection dispatcher (DISPATCH) reads with sh's
`read` (dash and bash read a socket a byte at a time, so no SMTP byte after the line is
taken), then it runs <workdir>/.session (`.`, in the same sh: one exec less) with the token
as $1. tcpserver starts it under setsid(1), so the session leads a process group of its
own and kill() kills exactly it (one exec of kill(1): kills are rare).
A qmail-remote job is the same with `remote` (<workdir>/.remote): the message on the
connection, the report back on it, its end half-closed.

The session script (`session_script`) reports on the supervisor exec's stderr, which every
session inherits from tcpserver, in short marker lines (one write each, far below
PIPE_BUF, so lines of concurrent sessions never interleave):

    QMC-PID-<token> <pid>      the session's process group
    QMC-EXIT-<token> <status>  the program ended ($? is 128+N for signal N, as exit_status())
    QMC-TREE-<token>           the last process holding the fd-9 pipe ended (the queue
                               program may outlive qmail-smtpd; observers read after this)

One reader thread demultiplexes them into per-session events. The program's stderr goes
to <workdir>/.stderr-<token>, read through the bind mount (harness/targets/docker_files.py)
once the exit marker arrived. When the supervisor's exec ends (container killed or
stopped, tcpserver killed), every session waiting on it and every later one gets a
TargetFault naming the supervisor: an ERROR, and the run goes on.
"""

from __future__ import annotations

import collections
import re
import secrets
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import TargetFault, reason
from harness.targets.base import Running
from harness.targets.docker_io import TCPSERVER, MarkerTree, kill_group, kill_tree, quote, start_exec

__all__ = ["DISPATCH", "INHERITED", "Supervisor", "SupervisedRunning", "listener", "session_script"]

# $d must be a case home of ours (/qmc/<n>); the token is hex (it names the stderr file); $s
# the script: .session (qmail-smtpd), .remote (a qmail-remote job), .case (the home's own
# server: harness/targets/docker_case_servers.py) or .inner (a session on that server)
DISPATCH = ('read -r d t s || exit 111; n=${d#/qmc/}; '
            'case $n in ""|*[!0-9]*) exit 111;; esac; '
            'case $t in ""|*[!0-9a-f]*) exit 111;; esac; '
            'case $s in session|remote|case|inner) ;; *) exit 111;; esac; '
            'set -- "$t"; . "/qmc/$n/.$s"')
_MARKER = re.compile(rb"QMC-(PID|EXIT|TREE)-([0-9a-f]{12})(?: (\d+))?")
_START = 30.0  # seconds the supervisor may take to listen
_FOREVER = 10.0 ** 9


# what a case server's session finds exported that is not the case's: tcpserver's variables,
# dash's PWD, and the PATH its server was started with (docker_case_servers.case_script)
INHERITED = (b"PATH PWD OLDPWD PROTO TCPLOCALHOST TCPLOCALIP TCPLOCALPORT TCPREMOTEHOST "
             b"TCPREMOTEINFO TCPREMOTEIP TCPREMOTEPORT")
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def session_script(workdir: str, env: dict[str, bytes], argv: list[bytes], *, clean: bool = False) -> bytes:
    """The case's session script, for any number of sessions (the token is $1). `clean`: its
    sh was started with no environment but INHERITED (a case server's, on an image whose
    sh exports nothing of its own: docker_image.probe's `cleansh`), so the program gets the
    case's environment from sh builtins, without an exec of env(1) (8% of the CPU of a
    fuzzing run: bench/README.md); exported in the program's subshell only, so that no
    variable of the case (IFS) changes how the script runs. Names sh cannot export, or a
    program not named by its path (PATH is the case's), keep env -i."""
    program = b" ".join(quote(a) for a in argv)
    assignments = b" ".join(quote(k.encode() + b"=" + v) for k, v in sorted(env.items()))
    if clean and argv[0].startswith(b"/") and all(_NAME.fullmatch(k.encode()) for k in env):
        unset, command = b"unset " + INHERITED, (b"export " + assignments + b"; " if env else b"") + program
    else:
        unset, command = b":", b"env -i " + assignments + b" " + program
    d = shlex.quote(workdir).encode()
    return b"\n".join([
        b"#!/bin/sh",
        b"# written by the qmail-conformance harness (harness/targets/docker_supervisor.py)",
        b"T=$1",
        b'echo "QMC-PID-$T $$" >&2',
        unset,
        b"exec 7<&0 8>&1 </dev/null >/dev/null",
        b"{ " + command + b" 9>&1 <&7 >&8 7<&- 8>&- 2>" + d + b'/.stderr-"$T";',
        b'  echo "QMC-EXIT-$T $?" >&2; } |',
        b'  { while read -r _; do :; done; echo "QMC-TREE-$T" >&2; } 7<&- 8>&- &',  # no cat: no exec
        b"exec 7<&- 8>&-",
        b"wait $!",
        b"",
    ])


def listener(address: str, *, group: bool = True) -> list[str]:
    """tcpserver on a free port of `address` (`-1` prints it), each connection handed to the
    dispatcher, with `group` in a session of its own (setsid; kill_group kills it), else in
    tcpserver's (a case server's: kill_tree kills it, and each session saves an exec);
    TCPSERVER's flags, and -c: qmc load runs many sessions at once."""
    return [*TCPSERVER, "-c", "1000", "-b", "256", address, "0", *(["setsid"] if group else []),
            "/bin/sh", "-c", DISPATCH]


@dataclass(kw_only=True)
class _Session:
    pid: int = 0
    status: int | None = None
    tree: bool = False
    started: threading.Event = field(default_factory=threading.Event)
    exited: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


class Supervisor:
    """The container's one tcpserver, and the thread that reads its markers."""

    def __init__(self, engine: Any, container: Any, address: str) -> None:
        self.engine = engine
        self.container = container
        self.address = address
        self.port = 0
        self.pid = 0  # tcpserver's, in the container
        self.dead = ""  # why it is gone, once it is
        self.sessions: dict[bytes, _Session] = {}
        self.noise: collections.deque[bytes] = collections.deque(maxlen=20)  # non-marker lines
        self.lock = threading.Lock()
        self.listening = threading.Event()
        self.stream = start_exec(engine, container, listener(address), 'echo "QMC-SUPERVISOR $$" >&2; ')
        self.exec_id = self.stream.exec_id
        threading.Thread(target=self._read, name="qmc-supervisor", daemon=True).start()
        if not self.listening.wait(_START) or self.dead:
            self.close()
            raise TargetFault(self.why(f"it did not listen within {_START:g} s"))

    def why(self, what: str = "") -> str:
        """The TargetFault text: what happened to the supervisor, and its last words."""
        text = self.dead or what
        last = b" | ".join(self.noise).decode("utf-8", "replace")[-500:]
        return (f"the session supervisor (tcpserver, pid {self.pid or '?'} in the container) "
                f"{text}{f'; it said: {last}' if last else ''}")

    def _read(self) -> None:
        pending = b""
        stdout = b""
        why = "ended (the container was killed or stopped, or tcpserver was killed)"
        try:
            while (got := self.stream.frame(time.monotonic() + _FOREVER)) is not None:
                kind, data = got
                self.stream.stderr = b""  # a long-lived stream: keep nothing but the lines
                if kind == 1 and not self.port:
                    stdout += data
                    if b"\n" in stdout and stdout.split(b"\n", 1)[0].strip().isdigit():
                        self.port = int(stdout.split(b"\n", 1)[0])
                        self.listening.set()
                    continue
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    self._line(line)
        except BaseException as exc:  # noqa: BLE001 - any end of the stream ends the supervisor
            why = f"ended: reading its stream failed ({reason(exc)})"
        finally:
            with self.lock:
                self.dead = why
                waiting = list(self.sessions.values())
            for session in waiting:
                for event in (session.started, session.exited, session.ended):
                    event.set()
            self.listening.set()

    def _line(self, line: bytes) -> None:
        found = list(_MARKER.finditer(line))
        if not found:
            if line.startswith(b"QMC-SUPERVISOR "):
                self.pid = int(line.split()[1]) if line.split()[1].isdigit() else 0
            elif line.strip():
                self.noise.append(line.strip()[:200])
            return
        for match in found:
            with self.lock:
                session = self.sessions.get(match[2])
            if session is None:
                continue
            if match[1] == b"PID":
                session.pid = int(match[3] or 0)
                session.started.set()
            elif match[1] == b"EXIT":
                session.status = int(match[3] or 0)
                session.exited.set()
            else:
                session.tree = True
                session.ended.set()

    def register(self, token: bytes) -> _Session:
        with self.lock:
            if self.dead:
                raise TargetFault(self.why())
            session = self.sessions[token] = _Session()
            return session

    def forget(self, token: bytes) -> None:
        with self.lock:
            self.sessions.pop(token, None)

    def open(self, workdir: str, host_dir: Path, script: str = "session") -> SupervisedRunning:
        return SupervisedRunning(self, workdir, host_dir, script)

    def close(self) -> None:
        self.stream.close()


class SupervisedRunning(Running):
    """One session: the connection to the supervisor, and its markers."""

    def __init__(self, supervisor: Supervisor, workdir: str, host_dir: Path, script: str = "session",
                 connect_timeout: float = 30.0, port: int = 0) -> None:
        self.supervisor = supervisor
        token = secrets.token_hex(6)
        self.token = token.encode()
        self.on_case_server = bool(port)  # its sessions lead no process group (listener)
        self.stderr_path = host_dir / f".stderr-{token}"
        self.session = supervisor.register(self.token)
        self.tree = MarkerTree(self)
        try:
            where = (supervisor.address, port or supervisor.port)  # port: a case server's
            self.sock = socket.create_connection(where, timeout=connect_timeout)
            self.sock.sendall(f"{workdir} {token} {script}\n".encode())
            self.sock.settimeout(None)
        except OSError as exc:
            supervisor.forget(self.token)
            raise TargetFault(supervisor.why(f"does not take sessions: {reason(exc)}")) from None

    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        if not self.session.exited.wait(timeout):
            raise TimeoutError
        if self.session.status is None:
            self.supervisor.forget(self.token)
            raise TargetFault(self.supervisor.why())
        try:
            stderr = self.stderr_path.read_bytes()
        except FileNotFoundError:
            stderr = b""
        return self.session.status, stderr

    def release(self) -> None:
        """Forget the session (its markers, its stderr file): for a caller that does not wait
        for its tree (a qmail-remote job)."""
        self.supervisor.forget(self.token)
        self.stderr_path.unlink(missing_ok=True)

    def wait_tree(self, timeout: float) -> bool:
        if not self.session.ended.wait(timeout):
            return False
        self.release()
        if not self.session.tree:
            raise TargetFault(self.supervisor.why())
        return True

    def kill(self) -> None:
        """Kill the session's process group (or tree) in the container; never raises. Not once
        its tree has ended: its pid may be another session's by then."""
        self.sock.close()
        # a session killed at once may not have said its pid yet: it does so first thing
        if self.session.started.wait(10) and self.session.pid and not self.session.ended.is_set():
            kill = kill_tree if self.on_case_server else kill_group
            kill(self.supervisor.engine, self.supervisor.container, self.session.pid)
        self.release()

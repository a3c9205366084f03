"""The in-container side of `docker:` sessions that run as an exec each (an engine elsewhere,
`api-only`, an image without tcpserver, `transport=stdio`; on an engine of this machine
the reference image's fork server and a qmail image's supervisor take them instead:
harness/targets/docker_forks.py, docker_supervisor.py): the session script, the exec stream
(which those two read too) and the two transports.

Each session runs `/bin/sh /qmc/<n>/.run` (written by the harness, uploaded with the case):

    exec 7<&0 8>&1 </dev/null >/dev/null          the socket lives only on fds 7 and 8
    { env -i K=V... PROG ARGS 9>&1 <&7 >&8 7<&- 8>&- 2>.stderr; st=$?
      echo QMC-ERR-<token>; cat .stderr; echo "QMC-EXIT-<token> $st"; } >&2 |
      { cat >/dev/null; echo "QMC-TREE-<token>" >&2; } &
    exec 7<&- 8>&-; wait $!; [kill tcpserver]

so the program has exactly the case's environment (tcpserver's TCP* variables are dropped:
the case sets its own), its stderr goes to a file, then is copied to the exec's stderr
stream, where markers reach us: its exit status ($? is 128+N for signal N, as exit_status()
gives) and, through the fd-9 pipe every descendant inherits, the end of its whole process tree
(the queue program may outlive qmail-smtpd; observers read only after that).

Transports: with `tcpserver` in the image, one tcpserver per session on a fresh port of the
container's address (`-1` prints the port; the script kills it after its one session).
Without it, the session is the exec's own stdin/stdout, pumped to a socketpair by a thread
that reads both streams to their end (the engine copies them separately: on Docker Engine an
exec's stderr, markers and all, often arrives before the last of its stdout).
Either way `kill()` kills the exec's process group: exec'd processes lead their own.
"""

from __future__ import annotations

import shlex
import socket
import struct
import threading
import time
from typing import Any

from harness.errors import TargetFault, reason
from harness.targets.base import RemoteOutcome, Running, TreeWatch
from harness.targets.forks import run_remote_job

__all__ = ["ExecStream", "MarkerTree", "StdioRunning", "TCPSERVER", "TcpRunning", "kill_group", "quote",
           "kill_tree", "run_stdio_job", "session_script", "start_exec"]


# every tcpserver of ours (a session's own here, the supervisor's and the case servers':
# docker_supervisor.listener): -1: print the port once listening; -D: replies leave as
# written (a program that exits with input unread, as qmail-smtpd after a bare LF, resets
# the connection, and the kernel drops what Nagle held back:
# tests/integration/test_docker_tcp_output.py); -H -R: no DNS or ident lookups (no egress
# anyway); -l: the local name, never looked up
TCPSERVER = ("tcpserver", "-1", "-D", "-H", "-R", "-l", "mx.test")


def quote(value: bytes) -> bytes:
    """A sh single-quoted word for any bytes (NUL excepted: argv and env cannot hold it)."""
    return b"'" + value.replace(b"'", b"'\\''") + b"'"


def session_script(workdir: str, token: str, env: dict[str, bytes], argv: list[bytes],
                   tcpserver: bool) -> bytes:
    assignments = b" ".join(quote(k.encode() + b"=" + v) for k, v in sorted(env.items()))
    command = b"env -i " + assignments + b" " + b" ".join(quote(a) for a in argv)
    d = shlex.quote(workdir).encode()
    t = token.encode()
    return b"\n".join([
        b"#!/bin/sh",
        b"# written by the qmail-conformance harness for one session (harness/targets/docker_io.py)",
        b"P=$PPID",
        b"exec 7<&0 8>&1 </dev/null >/dev/null",
        b"{ " + command + b" 9>&1 <&7 >&8 7<&- 8>&- 2>" + d + b"/.stderr; st=$?",
        b'  echo "QMC-ERR-' + t + b'" >&2; cat ' + d + b'/.stderr >&2;',
        b'  echo "QMC-EXIT-' + t + b' $st" >&2; } |',
        b'  { cat >/dev/null; echo "QMC-TREE-' + t + b'" >&2; } 7<&- 8>&- &',
        b"exec 7<&- 8>&-",
        b"wait $!",
        b'kill "$P"' if tcpserver else b":",
        b"",
    ])


class ExecStream:
    """The multiplexed output of one exec (8-byte frame headers: stream 1 stdout, 2 stderr),
    read with deadlines. Markers on stderr are collected as they pass."""

    def __init__(self, engine: Any, exec_id: str, raw: Any) -> None:
        self.engine = engine
        self.exec_id = exec_id
        self.sock: socket.socket = getattr(raw, "_sock", raw)
        self.keep = raw  # the SDK's wrapper owns the socket: keep it referenced
        self.buf = b""
        self.stderr = b""
        self.stdout = b""  # what no on_stdout callback took (e.g. tcpserver's port)
        self.ended = False

    def _fill(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except OSError as exc:
            if isinstance(exc, TimeoutError | socket.timeout):
                raise TimeoutError from None
            data = b""
        if not data:
            self.ended = True
            return False
        self.buf += data
        return True

    def frame(self, deadline: float) -> tuple[int, bytes] | None:
        """The next (stream, data) frame, None at the end of the exec's output."""
        while len(self.buf) < 8:
            if self.ended or not self._fill(deadline):
                return None
        stream, size = struct.unpack(">BxxxL", self.buf[:8])
        while len(self.buf) < 8 + size:
            if self.ended or not self._fill(deadline):
                return None
        data, self.buf = self.buf[8:8 + size], self.buf[8 + size:]
        if stream == 2:
            self.stderr += data
        return stream, data

    def until(self, marker: bytes, deadline: float, on_stdout: Any = None) -> bytes | None:
        """Read frames until a stderr line starting with `marker`; its rest, or None at EOF."""
        while True:
            at = self.stderr.find(marker)
            if at >= 0 and b"\n" in self.stderr[at:]:
                return self.stderr[at + len(marker):].split(b"\n", 1)[0].strip()
            got = self.frame(deadline)
            if got is None:
                return None
            if got[0] == 1:
                if on_stdout is not None:
                    on_stdout(got[1])
                else:
                    self.stdout += got[1]

    def close(self) -> None:
        for thing in (self.sock, self.keep):
            try:
                thing.close()
            except OSError:
                pass


def start_exec(engine: Any, container: Any, command: list[str], prologue: str = "") -> ExecStream:
    """An attached exec of `command` (after the sh `prologue`) that writes nothing before the
    line we send on its stdin has reached it. Without it, an exec's first lines (the pid,
    tcpserver's port) sometimes never arrived, on Podman 4.3 with 2 jobs while the other job
    made a client certificate: a 30 s stall in half the runs of 5.1.* on real eQmail 1.09
    (bench/README.md, docker:); never since. The line comes over the exec's own attach
    connection, so the program writes only once that connection carries data both ways.
    `read` takes that one line and no byte more (sh reads a pipe a byte at a time):
    whatever follows on stdin is the program's."""
    script = f'read -r _ || exit 111; {prologue}exec "$@"'
    created = engine.api.exec_create(container.id, ["/bin/sh", "-c", script, "sh", *command], stdin=True)
    stream = ExecStream(engine, created["Id"], engine.api.exec_start(created["Id"], socket=True))
    try:
        stream.sock.sendall(b"go\n")
    except OSError:
        pass  # it ended already: its stream says how
    return stream


def kill_group(engine: Any, container: Any, pid: int) -> None:
    """Kill process group `pid` inside the container (one exec); never raises."""
    _kill(engine, container, ["/bin/sh", "-c", f"kill -KILL -{pid}"])


# $1's process tree, and every process whose fd 9 is the session's tree pipe (an orphan a
# plugin left behind, reparented away from the tree: harness/targets/docker_supervisor.py
# session_script gives fd 9 to the program and its children), all stopped before any is
# killed, and the tree scanned again until a scan finds none more: a stopped process
# cannot fork, so no child escapes between the scan and the kill. For a session that leads
# no process group of its own (a case server's: docker_case_servers.py). A pipe's two ends
# are one inode: `-ef` matches a process's fd 9 with the reader's fd 0.
KILL_TREE = r"""all=" $1 "
kill -STOP "$1" 2>/dev/null || exit 0
more=1
while [ $more = 1 ]; do
  more=0 pipes=
  for m in $all; do [ -p /proc/$m/fd/0 ] && pipes="$pipes $m"; done
  for f in /proc/[0-9]*/stat; do
    { read -r l <"$f"; } 2>/dev/null || continue
    p=${l%% *}
    case $all in *" $p "*) continue;; esac
    r=${l##*) }; r=${r#* }; pp=${r%% *}
    ours=0
    case $all in *" $pp "*) ours=1;; esac
    for m in $pipes; do [ $ours = 0 ] && [ /proc/$p/fd/9 -ef /proc/$m/fd/0 ] && ours=1; done 2>/dev/null
    [ $ours = 1 ] || continue
    all="$all$p "
    kill -STOP "$p" 2>/dev/null
    more=1
  done
done
kill -KILL $all 2>/dev/null
"""


def kill_tree(engine: Any, container: Any, pid: int) -> None:
    """Kill process `pid`, its descendants and the holders of its tree pipe inside the
    container (one exec, KILL_TREE); never raises."""
    _kill(engine, container, ["/bin/sh", "-c", KILL_TREE, "sh", str(pid)])


def _kill(engine: Any, container: Any, command: list[str]) -> None:
    try:
        created = engine.api.exec_create(container.id, command)
        engine.api.exec_start(created["Id"])
    except Exception:  # noqa: BLE001, S110 - the container may be gone already: nothing to kill
        pass


class MarkerTree(TreeWatch):
    """TreeWatch over the session script's tree marker instead of a local pipe."""

    def __init__(self, running: Any) -> None:  # noqa: D107 - no local pipe here; `running` has wait_tree()
        self.running = running
        self.read_end = self.write_end = -1

    def spawned(self) -> None:
        pass

    def wait(self, timeout: float) -> bool:
        return bool(self.running.wait_tree(timeout))


class _ExecRunning(Running):
    """What both transports share: the exec, its markers, killing its process group."""

    def __init__(self, engine: Any, container: Any, script: str, token: str) -> None:
        self.engine = engine
        self.container = container
        self.token = token.encode()
        self.stream = start_exec(engine, container, self.command(script), 'echo "QMC-PID $$" >&2; ')
        self.pid = b""
        self.lock = threading.Lock()
        self.tree = MarkerTree(self)

    def command(self, script: str) -> list[str]:
        raise NotImplementedError

    def _pid(self, deadline: float) -> None:
        self.pid = self.stream.until(b"QMC-PID ", deadline) or b""

    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        status = self.stream.until(b"QMC-EXIT-" + self.token + b" ", time.monotonic() + timeout,
                                   self.on_stdout)
        if status is None:
            raise TargetFault(f"the container ended the session without an exit status "
                              f"(killed or stopped?): {self.stream.stderr[-500:]!r}")
        return int(status), self.program_stderr()

    def program_stderr(self) -> bytes:
        begin = b"QMC-ERR-" + self.token + b"\n"
        text = self.stream.stderr
        start = text.find(begin)
        end = text.find(b"QMC-EXIT-" + self.token + b" ")
        return text[start + len(begin):end] if 0 <= start < end else b""

    def on_stdout(self, data: bytes) -> None:
        pass

    def wait_tree(self, timeout: float) -> bool:
        try:
            ended = self.stream.until(b"QMC-TREE-" + self.token, time.monotonic() + timeout) is not None
        except TimeoutError:
            return False
        self.stream.close()
        return ended

    def kill(self) -> None:
        """Kill the session's process group inside the container; never raises."""
        if self.pid.isdigit():
            kill_group(self.engine, self.container, int(self.pid))
        self.stream.close()
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.close()


class TcpRunning(_ExecRunning):
    def __init__(self, engine: Any, container: Any, script: str, token: str, address: str,
                 connect_timeout: float = 30.0) -> None:
        self.address = address
        super().__init__(engine, container, script, token)
        deadline = time.monotonic() + connect_timeout
        awaited = "tcpserver's pid and port on the exec's stream"
        try:
            self._pid(deadline)
            while b"\n" not in self.stream.stdout:
                got = self.stream.frame(deadline)
                if got is None:
                    raise TargetFault(f"tcpserver did not start in the container: "
                                      f"{self.stream.stderr[-500:]!r}")
                if got[0] == 1:
                    self.stream.stdout += got[1]
            port = self.stream.stdout.split(b"\n", 1)[0].strip()
            if not port.isdigit():
                raise TargetFault(f"tcpserver printed no port: {self.stream.stdout[:200]!r}")
            awaited = f"a connection to tcpserver's port {int(port)}"
            self.sock = socket.create_connection((address, int(port)), timeout=connect_timeout)
            self.sock.settimeout(None)
        except TimeoutError:
            self.kill()
            said = f"stderr {self.stream.stderr[-300:]!r}, stdout {self.stream.stdout[:100]!r}"
            raise TargetFault(f"no {awaited} within {connect_timeout:g} s ({said})") from None
        except BaseException:
            self.kill()
            raise

    def command(self, script: str) -> list[str]:
        return [*TCPSERVER, self.address, "0", "/bin/sh", script]


class StdioRunning(_ExecRunning):
    """No tcpserver: the exec's stdin/stdout are the session, pumped from a socketpair. The
    client sees the end of the session at the end of the exec's output, never at the exit
    marker: the engine copies stdout and stderr separately, and Docker Engine delivers an
    exec's stderr before its stdout in about a quarter of execs, so stdout may still be on
    its way when the marker arrives (only the end of the whole stream ends both)."""

    def __init__(self, engine: Any, container: Any, script: str, token: str) -> None:
        super().__init__(engine, container, script, token)
        self.sock, self.theirs = socket.socketpair()
        self.exit: bytes | None = None
        self.failed: BaseException | None = None
        self.exited = threading.Event()  # the exit marker arrived (or the stream ended)
        self.done = threading.Event()  # the exec's output ended: both streams read to the end
        self.client_gone = False
        threading.Thread(target=self._to_container, daemon=True).start()
        threading.Thread(target=self._from_container, daemon=True).start()

    def command(self, script: str) -> list[str]:
        return ["/bin/sh", script]

    def _to_container(self) -> None:
        try:
            while data := self.theirs.recv(65536):
                self.stream.sock.sendall(data)
            self.stream.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _to_client(self, data: bytes) -> None:
        """Session output for the client; once it has closed its end (a client that stops
        reading, e.g. after a failed TLS handshake) the rest is dropped, as a socket's would
        be, and the markers are still read."""
        if self.client_gone:
            return
        try:
            self.theirs.sendall(data)
        except OSError:
            self.client_gone = True

    def _from_container(self) -> None:
        marker = b"QMC-EXIT-" + self.token + b" "
        try:
            while (got := self.stream.frame(time.monotonic() + 86400)) is not None:
                if got[0] == 1:
                    self._to_client(got[1])
                elif self.exit is None:
                    at = self.stream.stderr.find(marker)
                    if at >= 0 and b"\n" in self.stream.stderr[at:]:
                        self.exit = self.stream.stderr[at + len(marker):].split(b"\n", 1)[0].strip()
                        self.exited.set()
            self.pid = self.stream.stderr.split(b"QMC-PID ", 1)[-1].split(b"\n", 1)[0].strip()
        except BaseException as exc:  # noqa: BLE001 - reported by finish()
            self.failed = exc
        finally:
            try:
                self.theirs.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.exited.set()
            self.done.set()

    def finish(self, timeout: float) -> tuple[int | None, bytes]:
        if not self.exited.wait(timeout):
            raise TimeoutError
        if self.exit is None:
            raise TargetFault(f"the container ended the session without an exit status: "
                              f"{reason(self.failed) if self.failed else repr(self.stream.stderr[-500:])}")
        return int(self.exit), self.program_stderr()

    def wait_tree(self, timeout: float) -> bool:
        # the pump thread reads the stream to its end, the tree marker included
        if not self.done.wait(timeout):
            return False
        self.stream.close()
        return b"QMC-TREE-" + self.token in self.stream.stderr

    def kill(self) -> None:
        if not self.pid:
            self.pid = self.stream.stderr.split(b"QMC-PID ", 1)[-1].split(b"\n", 1)[0].strip()
        super().kill()
        try:
            self.theirs.close()
        except OSError:
            pass


def run_stdio_job(running: StdioRunning, message: bytes, timeout: float) -> RemoteOutcome:
    """A qmail-remote job over the exec's stdio (harness/targets/forks.py run_remote_job);
    whatever goes wrong kills it, and its exec stream is closed after."""
    try:
        return run_remote_job(running, message, timeout)
    except BaseException:
        running.kill()
        raise
    finally:
        running.stream.close()

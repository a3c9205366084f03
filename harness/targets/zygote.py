"""A warm fork server for the reference: one Python process that has imported eqmail_ref
and forks a child per session, which then runs exactly what `eqmail-ref smtpd` runs (env,
fd 0/1 = the session socket, chdir to the home, SIGSEGV on a startup crash).

Why: starting Python costs ~27 ms here (performance-facts.md) and the harness runs
thousands of reference sessions; a fork costs about 1 ms. Forking from the harness itself
is unsafe once it has threads (jobs), so the forks happen in this single-threaded process.

Protocol on a SOCK_SEQPACKET socket (fd given by --fd, or --connect PATH), shared with the exec: target's
server (exec_server.py; the harness's end is harness/targets/forks.py): the server first
says {"ready": true} (or {"error": why} and ends); a request is JSON {"argv", "env",
"stderr", ...} with three fds passed as SCM_RIGHTS: the session socket, the TreeWatch
pipe's write end, and a status pipe's write end, on which the server writes "P<pid>\n"
when the session started and "S<raw wait status>\n" when it ended, then closes it. The
harness's thread that waits for the session reads that pipe itself (no thread hop), talks
to the session at once (no round trip), and kills its process group by the pid. EOF on the
control socket: the server kills every session still running and ends.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["serve", "serve_forks", "fork_child", "Child", "Start", "StartFailed"]


Child = Callable[[dict[str, Any], int, int, socket.socket], NoReturn]


def _child(request: dict[str, Any], fd: int, tree: int, control: socket.socket) -> NoReturn:
    code = 70
    try:
        control.close()
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.set_inheritable(tree, True)  # every program the session starts holds it (TreeWatch)
        os.dup2(fd, 0)
        os.dup2(fd, 1)
        os.close(fd)
        err = os.open(str(request["stderr"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(err, 2)
        os.close(err)
        env = request["env"]
        os.environ.clear()
        os.environb.update({k.encode("latin-1"): v.encode("latin-1") for k, v in env.items()})
        from eqmail_ref.cli import main

        argv = request["argv"]
        code = main([str(a) for a in argv]) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report any failure as the child's exit status
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _warm_up() -> None:
    """Pay once, here, what every forked session would pay again: imports, the argument
    parser, compiled regular expressions (one in-process session of the core)."""
    import eqmail_ref.cli
    import eqmail_ref.controls  # noqa: F401
    import eqmail_ref.shell.ipme  # noqa: F401
    import eqmail_ref.shell.processes  # noqa: F401
    import eqmail_ref.shell.remote_main  # noqa: F401
    import eqmail_ref.shell.session  # noqa: F401
    import eqmail_ref.shell.tls  # noqa: F401
    from eqmail_ref.inprocess import InProcessSession
    from eqmail_ref.smtpd import SmtpServer
    from eqmail_ref.versions import get_version

    eqmail_ref.cli._parser().parse_args(["smtpd", "--version", "1.08", "--auth-sleep-scale", "0",
                                         "--qmail-home", "/", "/bin/true"])
    env = {b"TCPREMOTEIP": b"1.2.3.4", b"TCPLOCALIP": b"5.6.7.8"}
    session = InProcessSession(SmtpServer(controls=None, env=env, clock=lambda: (0, 0),
                                          version=get_version("1.08"), pid=1, startup_error="warm-up"))
    session.eof()


def serve(control: socket.socket) -> None:
    _warm_up()
    serve_forks(control, fork_child(_child, control))


class StartFailed(Exception):
    """A session that could not start: `status` is its wait status (the reason is already
    on its stderr)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


Start = Callable[[dict[str, Any], int, int], int]

# the status pipes of the sessions running: a forked child that does not exec (the
# reference's) closes them, or a session would hold another's pipe open
_status_fds: set[int] = set()


def serve_forks(control: socket.socket, start: Start) -> None:
    """The fork server's loop: `start(request, session fd, tree fd)` starts each session and
    returns its pid (or raises StartFailed); its status goes back as the protocol says."""
    control.send(json.dumps({"ready": True}).encode())
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, int] = {}  # pid -> its status pipe
    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ, "control")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    while True:
        for key, _ in sel.select():
            if key.data == "wake":
                os.read(wake_r, 4096)
                _reap(children)
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(control, 65536, 3)
            except OSError:
                msg, fds = b"", []
            if not msg:
                for pid in children:
                    _killpg(pid)
                return
            request = json.loads(msg)
            session, tree, status = fds
            os.set_inheritable(status, False)  # no session may hold another's status pipe
            try:
                pid = start(request, session, tree)
            except StartFailed as exc:
                _report(status, exc.status)
            else:
                children[pid] = status
                _status_fds.add(status)
                _say(status, b"P%d" % pid)
            finally:
                os.close(session)
                os.close(tree)
        _reap(children)


def fork_child(child: Child, control: socket.socket) -> Start:
    """A `start` that forks and runs `child` in the forked process (the reference's way)."""
    def start(request: dict[str, Any], session: int, tree: int) -> int:
        pid = os.fork()
        if pid == 0:
            for fd in _status_fds:
                os.close(fd)
            child(request, session, tree, control)
        return pid

    return start


def _say(status_fd: int, line: bytes) -> None:
    try:
        os.write(status_fd, line + b"\n")
    except OSError:
        pass  # the harness gave up on it


def _report(status_fd: int, status: int) -> None:
    _status_fds.discard(status_fd)
    _say(status_fd, b"S%d" % status)
    os.close(status_fd)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _reap(children: dict[int, int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            _report(children.pop(pid), status)


def _control(argv: list[str]) -> socket.socket:
    """--fd N: the socket we were given; --connect PATH: a listening socket of the harness's
    (in a docker: container, the path is in the bind-mounted /qmc: harness/targets/docker_forks.py)."""
    if "--connect" in argv:
        control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        control.connect(argv[argv.index("--connect") + 1])
        return control
    return socket.socket(fileno=int(argv[argv.index("--fd") + 1]))


if __name__ == "__main__":
    serve(_control(sys.argv))

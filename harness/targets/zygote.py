"""A warm fork server for the reference: one Python process that has imported eqmail_ref
and forks a child per session, which then runs exactly what `eqmail-ref smtpd` runs (env,
fd 0/1 = the session socket, chdir to the home, SIGSEGV on a startup crash).

Why: starting Python costs ~27 ms here (performance-facts.md) and the harness runs
thousands of reference sessions; a fork costs about 1 ms. Forking from the harness itself
is unsafe once it has threads (jobs), so the forks happen in this single-threaded process.

Protocol on a SOCK_SEQPACKET socket (fd given by --fd), shared with the exec: target's
server (exec_server.py; the harness's end is harness/targets/forks.py): the server first
says {"ready": true} (or {"error": why}); a request is JSON {"id", "argv", "env", "stderr"}
with the session socket and the TreeWatch pipe's write end passed as SCM_RIGHTS; answers are
{"id", "pid"} at once and {"id", "status"} (the raw wait status) when the child ends;
{"kill": id} kills a child's process group.
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

__all__ = ["serve", "serve_forks", "enter_session", "Child"]


Child = Callable[[dict[str, Any], int, int, socket.socket], NoReturn]


def enter_session(request: dict[str, Any], fd: int, tree: int, control: socket.socket) -> None:
    """In a forked child: become the session as tcpserver would start it: its own session
    and process group (killed as one), fd 0 and 1 the session socket, fd 2 the stderr file,
    the TreeWatch pipe inherited by everything it starts."""
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


def _child(request: dict[str, Any], fd: int, tree: int, control: socket.socket) -> NoReturn:
    code = 70
    try:
        enter_session(request, fd, tree, control)
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
    serve_forks(control, _child)


def serve_forks(control: socket.socket, child: Child) -> None:
    """The fork server's loop: one `child(request, session fd, tree fd, control)` per
    request, in a forked process; answers as in the protocol above."""
    control.send(json.dumps({"ready": True}).encode())
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: dict[int, int] = {}  # pid -> request id
    by_id: dict[int, int] = {}
    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ, "control")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    while True:
        for key, _ in sel.select():
            if key.data == "wake":
                os.read(wake_r, 4096)
                _reap(children, by_id, control)
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(control, 65536, 2)
            except OSError:
                msg, fds = b"", []
            if not msg:
                for pid in children:
                    _killpg(pid)
                return
            request = json.loads(msg)
            if "kill" in request:
                victim = by_id.get(request["kill"])
                if victim:
                    _killpg(victim)
                continue
            pid = os.fork()
            if pid == 0:
                child(request, fds[0], fds[1], control)
            for fd in fds:
                os.close(fd)
            children[pid] = request["id"]
            by_id[request["id"]] = pid
            control.send(json.dumps({"id": request["id"], "pid": pid}).encode())
        _reap(children, by_id, control)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _reap(children: dict[int, int], by_id: dict[int, int], control: socket.socket) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        rid = children.pop(pid, None)
        if rid is not None:
            by_id.pop(rid, None)
            control.send(json.dumps({"id": rid, "status": status}).encode())


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[sys.argv.index("--fd") + 1])))

"""The exec: target's fork server: one process per target, in a private mount namespace
entered once, that forks each session (the zygote's loop, harness/targets/zygote.py) and
switches the case's home in by system calls before it execs the installed program.

Why: qmail programs chdir() to their compiled-in home, so a session must see the case's
home at QMAIL_HOME, and sessions run at once need different homes there: each forked child
takes a copy of the mount table (unshare(CLONE_NEWNS)) and bind-mounts the case's home
over QMAIL_HOME in it. Done with unshare(1), sh, mount(8) and one ln(1) per installed
program, that cost tens of processes per session; here it is a few system calls. The
server's own namespace is private (nothing propagates to the host), so the children's
copies are private too and no mount of theirs is ever seen outside the session.

Run as `python -m harness.targets.exec_server --qmail-home DIR --fd N` (root). A request's
extra fields: "home" (the case's home on this machine) and "resolv" (a resolv.conf to
bind over /etc/resolv.conf, for qmail-remote, or absent); "argv" is the program and its
arguments, "env" its whole environment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Any, NoReturn

from harness.targets.mounts import bind, private_mounts
from harness.targets.zygote import enter_session, serve_forks

__all__ = ["switch_home", "serve"]

# the install's bin/ as a case's home carries it (today's layout, kept: a case's own
# bin/ programs stay visible next to the install's, as links into this directory)
INSTALL_BIN = ".qmail-bin"


def switch_home(case_home: str, qmail_home: str, programs: list[str]) -> None:
    """In a session's own namespace: the install's bin/ bound at CASE/.qmail-bin, every
    install program the case does not bring itself linked into CASE/bin/, and the case's
    home bound over QMAIL_HOME. The links point into QMAIL_HOME/.qmail-bin, which is the
    same in every session, so sessions that share one home (`qmc load`) may make them at
    the same time: a link that exists already is the one we would make."""
    if programs:
        carried = os.path.join(case_home, INSTALL_BIN)
        os.makedirs(carried, exist_ok=True)
        os.makedirs(os.path.join(case_home, "bin"), exist_ok=True)
        bind(os.path.join(qmail_home, "bin"), carried)
        for name in programs:
            try:
                os.symlink(os.path.join(qmail_home, INSTALL_BIN, name), os.path.join(case_home, "bin", name))
            except FileExistsError:  # the case's own program (or a link made before)
                pass
    bind(case_home, qmail_home, recursive=True)


def _session(qmail_home: str, programs: list[str]) -> Any:
    def child(request: dict[str, Any], fd: int, tree: int, control: socket.socket) -> NoReturn:
        code = 126
        try:
            enter_session(request, fd, tree, control)
            # as subprocess does: Python ignores SIGPIPE and SIGXFSZ, and an exec keeps
            # ignored signals; the program must die of a write to a closed pipe as under
            # tcpserver (a queue program that exits early, spec §3)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            private_mounts()
            if request.get("resolv"):
                # qmail-remote asks the resolver of /etc/resolv.conf: the case's DNS server
                bind(request["resolv"], "/etc/resolv.conf")
            switch_home(request["home"], qmail_home, programs)
            argv = [a.encode("latin-1") for a in request["argv"]]
            env = {k.encode("latin-1"): v.encode("latin-1") for k, v in request["env"].items()}
            try:
                os.execve(argv[0], argv, env)
            except FileNotFoundError:
                code = 127  # as sh's `exec` says it
                raise
        except BaseException as exc:  # noqa: BLE001 - the session ends with the reason on its stderr
            os.write(2, f"qmc exec: {exc}\n".encode())
        finally:
            os._exit(code)

    return child


def serve(control: socket.socket, qmail_home: str) -> None:
    try:
        private_mounts()
        bin_dir = os.path.join(qmail_home, "bin")
        programs = sorted(os.listdir(bin_dir)) if os.path.isdir(bin_dir) else []
    except OSError as exc:
        control.send(json.dumps({"error": f"cannot make a private mount namespace for {qmail_home}: "
                                          f"{exc} (exec: targets need root)"}).encode())
        return
    serve_forks(control, _session(qmail_home, programs))


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[sys.argv.index("--fd") + 1])),
          sys.argv[sys.argv.index("--qmail-home") + 1])

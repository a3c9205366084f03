"""The exec: target's fork server: one process per target, in a private mount namespace
entered once, that starts each session (the zygote's loop, harness/targets/zygote.py) in a
mount namespace of its own with the case's home switched in by system calls.

Why: qmail programs chdir() to their compiled-in home, so a session must see the case's
home at QMAIL_HOME, and sessions run at once need different homes there. Done with
unshare(1), sh, mount(8) and one ln(1) per installed program, that cost tens of processes
per session. Here, per session, the server itself takes a new copy of its mount table
(unshare(CLONE_NEWNS)), bind-mounts the case's home over QMAIL_HOME in it, posix_spawn()s
the program (a vfork: no copy of this Python; the program inherits the new table), and
goes back to its own table (setns). The table lives as long as the session's processes.
The server's own table is private (nothing propagates to the host), so are its copies: no
mount of a session is ever seen outside it.

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
from typing import Any

from harness.targets.mounts import bind, enter_mounts, new_mounts, private_mounts
from harness.targets.zygote import StartFailed, serve_forks

__all__ = ["switch_home", "serve"]

# the install's bin/ as a case's home carries it (today's layout, kept: a case's own
# bin/ programs stay visible next to the install's, as links into this directory)
INSTALL_BIN = ".qmail-bin"


def switch_home(case_home: str, qmail_home: str, programs: list[str]) -> None:
    """In a session's own namespace: the install's bin/ brought into the case's home, then
    the case's home bound over QMAIL_HOME. A case without programs of its own gets the
    install's bin/ bound at CASE/bin (one mount). A case with some gets the install's bin/
    bound at CASE/.qmail-bin and every install program it does not bring linked into
    CASE/bin/: its own stay visible next to the install's. The links point into
    QMAIL_HOME/.qmail-bin, the same in every session, so sessions that share one home
    (`qmc load`) may make them at the same time: a link that exists already is the one
    we would make."""
    if programs:
        install_bin = os.path.join(qmail_home, "bin")
        case_bin = os.path.join(case_home, "bin")
        try:
            own = os.listdir(case_bin)
        except FileNotFoundError:
            own = []
        if not own:
            os.makedirs(case_bin, exist_ok=True)
            bind(install_bin, case_bin)
        else:
            carried = os.path.join(case_home, INSTALL_BIN)
            os.makedirs(carried, exist_ok=True)
            bind(install_bin, carried)
            for name in programs:
                try:
                    os.symlink(os.path.join(qmail_home, INSTALL_BIN, name), os.path.join(case_bin, name))
                except FileExistsError:  # the case's own program (or a link made before)
                    pass
    bind(case_home, qmail_home, recursive=True)


class _Sessions:
    """The `start` of the zygote's loop for one install."""

    def __init__(self, qmail_home: str) -> None:
        self.qmail_home = qmail_home
        bin_dir = os.path.join(qmail_home, "bin")
        self.programs = sorted(os.listdir(bin_dir)) if os.path.isdir(bin_dir) else []
        self.own_mounts = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self.cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __call__(self, request: dict[str, Any], session: int, tree: int) -> int:
        os.set_inheritable(session, False)  # the program holds it as fd 0 and 1 only
        os.set_inheritable(tree, True)  # every program the session starts holds it (TreeWatch)
        argv = [a.encode("latin-1") for a in request["argv"]]
        env = {k.encode("latin-1"): v.encode("latin-1") for k, v in request["env"].items()}
        stderr = request["stderr"]
        try:
            new_mounts()
            try:
                if request.get("resolv"):
                    # qmail-remote asks the resolver of /etc/resolv.conf: the case's DNS server
                    bind(request["resolv"], "/etc/resolv.conf")
                switch_home(request["home"], self.qmail_home, self.programs)
                # as subprocess does: Python ignores SIGPIPE and SIGXFSZ and the program
                # would inherit that; it must die of a write to a closed pipe as under
                # tcpserver (a queue program that exits early, spec §3)
                actions = [(os.POSIX_SPAWN_DUP2, session, 0), (os.POSIX_SPAWN_DUP2, session, 1),
                           (os.POSIX_SPAWN_OPEN, 2, stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
                return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True,
                                      setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
            finally:
                enter_mounts(self.own_mounts)
                os.fchdir(self.cwd)
        except OSError as exc:
            try:
                with open(stderr, "ab") as err:
                    err.write(f"qmc exec: {exc}\n".encode())
            except OSError:
                pass
            # as sh's `exec` would end: 127 not found, 126 cannot run
            raise StartFailed((127 if isinstance(exc, FileNotFoundError) else 126) << 8) from exc


def serve(control: socket.socket, qmail_home: str) -> None:
    try:
        private_mounts()
        sessions = _Sessions(qmail_home)
    except OSError as exc:
        control.send(json.dumps({"error": f"cannot make a private mount namespace for {qmail_home}: "
                                          f"{exc} (exec: targets need root)"}).encode())
        return
    serve_forks(control, sessions)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[sys.argv.index("--fd") + 1])),
          sys.argv[sys.argv.index("--qmail-home") + 1])

"""A `docker:` session over TCP loses none of what its program wrote when the program exits
with input unread (qmail-smtpd after a bare LF in DATA, spec §2.14: "451 See
http://pobox.com/~djb/docs/smtplf.html." and exit, with the rest of a pipelined session
still in its socket). Such a close sends a reset, and the kernel drops what the server's
socket still held: with Nagle's algorithm on, every reply written while the one before was
not yet acknowledged. The fuzzer saw real eQmail 1.09's "250 ok / 354 / 451" vanish after
its EHLO reply once in 24,000 sessions (a false divergence); under load 156 of 1,500
sessions did. Each tcpserver of ours runs with -D (TCP_NODELAY): replies leave as written.

The client here acknowledges late on purpose (TCP_QUICKACK off: delayed ACKs), which makes
the loss certain without -D; on every path a `docker:` session can take over TCP."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable

import pytest

from harness.drive.side_target import TargetSide, _drain, await_end
from harness.targets.base import Running, Target
from harness.targets.docker_ import DockerTarget
from harness.targets.docker_io import TcpRunning, session_script
from harness.targets.docker_supervisor import session_script as supervised_script
from tests.integration.test_docker_supervisor import LAYOUT
from tests.integration.test_docker_target import engine, ref_image, targets  # noqa: F401 - fixtures

# replies written one by one, the last three after the client's input arrived, then an exit
# that leaves most of that input unread
PROGRAM = [b"/bin/sh", b"-c",
           b"printf '220 x\\r\\n'; read -r l; printf '250 a\\r\\n'; printf '354 b\\r\\n'; printf '451 c\\r\\n'; exit 1"]
SAID = b"220 x\r\n250 a\r\n354 b\r\n451 c\r\n"


def _session(target: DockerTarget, path: str, workdir: str) -> Running:
    """A session of PROGRAM on `path`: the supervisor, a case server, a tcpserver of its own."""
    files, host_dir = target._need(), target._need().host_path(workdir)
    if path == "tcpserver of its own":
        token = secrets.token_hex(6)
        files.put(workdir, {".run": session_script(workdir, token, {}, PROGRAM, True)})
        return TcpRunning(target.engine, target.container, f"{workdir}/.run", token, target.address)
    assert target.case_servers is not None and target.supervisor is not None and host_dir is not None
    if path == "supervisor":
        files.put(workdir, {".session": supervised_script(workdir, {}, PROGRAM)})
        return target.supervisor.open(workdir, host_dir)
    target.case_servers.first = 0
    files.put(workdir, target.case_servers.files(workdir, target.home, {}, PROGRAM))
    return target.case_servers.open(workdir, host_dir, lambda: None)


@pytest.mark.parametrize("path", ["supervisor", "case server", "tcpserver of its own"])
def test_a_program_that_exits_with_input_unread_loses_no_reply(path: str,
                                                               targets: Callable[[str], Target]) -> None:  # noqa: F811
    target = targets(LAYOUT)
    target.start()
    assert isinstance(target, DockerTarget)
    side = TargetSide(target, timeout=10.0, profiles=None)
    fx = side._fixture()
    said = []
    try:
        for _ in range(5):
            running = _session(target, path, target._dir(fx.local))
            running.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
            running.sock.sendall(b"HELO a.test\r\n" + b"x" * 3000)
            running.sock.shutdown(socket.SHUT_WR)
            output, hung, reset = _drain(running.sock, time.monotonic() + 10)
            said.append((output, hung, reset))
            running.sock.close()
            assert await_end(running, 10)[0] == 1
    finally:
        side.shutdown()
    # all of it, and the reset seen (a fuzzer's finding says so: Run.reset)
    assert said == [(SAID, False, True)] * 5

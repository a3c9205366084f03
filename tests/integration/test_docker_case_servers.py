"""A `docker:` qmail image's case servers (harness/targets/docker_case_servers.py): after a
case home's first sessions, its later ones go to a tcpserver of its own that runs in a mount
namespace made once. Over the reference image laid out as a qmail home (LAYOUT: the
program reads /var/qmail, as real eQmail's do): the fuzzer's sessions on one home agree
with the in-process reference; `qmc load` on one home queues every message once; the
least recently used server is closed (its tcpserver ends) and its home gets a new one when
it needs it; a session under way when its server is closed runs to its end."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from harness.drive.differential import open_pair
from harness.drive.side_target import TargetSide, await_end
from harness.fuzz.engine import Fuzzer
from harness.targets.base import Target
from harness.targets.docker_ import DockerTarget
from harness.targets.docker_case_servers import FIRST, CaseServers
from harness.targets.docker_supervisor import SupervisedRunning
from tests.integration.test_docker_supervisor import LAYOUT
from tests.integration.test_docker_target import engine, ref_image, targets  # noqa: F401 - fixtures


def _servers(target: Target) -> CaseServers:
    assert isinstance(target, DockerTarget) and target.case_servers is not None, target.spec
    return target.case_servers


def test_the_fuzzers_sessions_on_one_home_agree_with_the_reference(tmp_path: Path, engine: object,  # noqa: F811
                                                                   ref_image: str) -> None:  # noqa: F811
    pair = open_pair(LAYOUT, None, "auth", timeout=5.0, home=tmp_path / "home")
    try:
        assert pair.started is not None
        servers = _servers(pair.started)
        fuzzer = Fuzzer(pair.target, pair.reference, seed=9, out=tmp_path / "found", window=4, lane=1)
        stats = fuzzer.run(duration=600, max_sessions=40)
        assert list(servers.sessions.values()) == [FIRST], "one home, on the first path FIRST times"
        assert len(servers.servers) == 1 and not servers.failed
    finally:
        pair.close()
    assert stats.sessions == 40 and stats.findings == {} and stats.hits == {}, stats.hits


def test_a_load_run_on_one_home_goes_through_its_server(tmp_path: Path,
                                                       targets: Callable[[str], Target]) -> None:  # noqa: F811
    from harness.load import LoadPlan, run_load

    target = targets(LAYOUT)
    target.start()
    result = run_load(target, LoadPlan(messages=48, concurrency=8), tmp_path)
    assert (result.accepted, result.queued, result.lost, result.failed) == (48, 48, [], False)
    assert len(_servers(target).servers) == 1 and not _servers(target).failed


def _refused(address: str, port: int, within: float = 30.0) -> bool:
    """Whether connections to the port are refused, at the latest `within` seconds from now
    (closing a server's connection makes its script kill it: not at once)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=5).close()
        except ConnectionRefusedError:
            return True
    return False


def test_the_least_recently_used_server_is_closed_and_made_again(tmp_path: Path,
                                                                 targets: Callable[[str], Target]) -> None:  # noqa: F811
    target = targets(LAYOUT)
    target.start()
    assert isinstance(target, DockerTarget)
    servers = _servers(target)
    servers.keep = 1
    first, second = (TargetSide(target, timeout=10.0, profiles=None) for _ in range(2))
    homes = []
    for side in (first, second):
        side.shared = side._fixture()  # one home each, for all its sessions
        homes.append(side.shared)
    try:
        for _ in range(FIRST + 1):
            assert b"221 " in first.run(b"QUIT\r\n").output
        (workdir, (_, port)), = servers.servers.items()
        # a session of the first home, under way on its server while that server is closed
        under_way = target.smtpd(homes[0])
        assert under_way.sock.recv(4096).startswith(b"220 ")
        for _ in range(FIRST + 1):
            assert b"221 " in second.run(b"QUIT\r\n").output
        assert workdir not in servers.servers and len(servers.servers) == 1
        assert _refused(target.address, port), "the closed server still listens"
        under_way.sock.sendall(b"HELO a.test\r\nQUIT\r\n")
        under_way.sock.shutdown(socket.SHUT_WR)
        said = under_way.sock.makefile("rb").read()
        under_way.sock.close()
        assert said.startswith(b"250 ") and b"221 " in said
        assert await_end(under_way, 30)[0] == 0
        assert b"221 " in first.run(b"QUIT\r\n").output  # a new server for the first home
        assert workdir in servers.servers and not servers.failed
    finally:
        first.shutdown()
        second.shutdown()


def test_a_case_servers_sessions_get_the_cases_environment_and_nothing_more(
        targets: Callable[[str], Target]) -> None:  # noqa: F811
    """Its sessions set the case's variables with sh builtins (no env(1)): what tcpserver and
    sh export (TCP*, PROTO, PWD, PATH) must not reach the program. The queue program's
    environment (the capture stand-in saves it) is the same on the first path (env -i) and
    on the case server."""
    target = targets(LAYOUT)
    target.start()
    assert isinstance(target, DockerTarget)
    assert _servers(target).clean, "the reference image's sh is dash: its sessions take the clean path"
    side = TargetSide(target, timeout=10.0, profiles=None)
    side.shared = side._fixture()
    message = b"HELO a.test\r\nMAIL FROM:<a@a.test>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n"
    try:
        for _ in range(FIRST + 2):
            assert b"250 ok" in side.run(message).output
        assert len(_servers(target).servers) == 1
        assert side.shared is not None
        queue = target._need().host_path(target._dir(side.shared.local)) / "q"
        environs = [path.read_bytes() for path in queue.glob("*.environ")]
    finally:
        side.shutdown()
    assert len(environs) == FIRST + 2
    assert len(set(environs)) == 1, environs  # the same environment on both paths
    names = {line.split(b"=", 1)[0].decode() for line in environs[0].splitlines()}
    assert set(side.shared.env) <= names and not names & {"PROTO", "TCPLOCALPORT", "TCPREMOTEPORT"}, names


def _processes(target: DockerTarget, *marks: str) -> list[str]:
    """The command lines in the container that hold one of `marks`."""
    _, out = target.container.exec_run(
        ["/bin/sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <$f; echo; done 2>/dev/null"])
    return [line for line in out.decode().splitlines() if any(mark in line for mark in marks)]


def test_killing_a_case_servers_session_kills_its_tree_and_the_orphan_it_left(
        tmp_path: Path, targets: Callable[[str], Target]) -> None:  # noqa: F811
    """A case server's sessions lead no process group (no setsid): a kill takes the session's
    process tree and any process that holds its tree pipe (fd 9) after leaving the tree
    (here one in a session of its own, reparented away), and nothing of another session."""
    target = targets(LAYOUT)
    target.start()
    assert isinstance(target, DockerTarget)
    servers = _servers(target)
    servers.first = 0  # the first session goes to the home's own server
    side = TargetSide(target, timeout=10.0, profiles=None)
    fx = side._fixture()
    workdir = target._dir(fx.local)
    host_dir = target._need().host_path(workdir)
    program = [b"/bin/sh", b"-c", b"sleep $1 & (setsid sleep 9$1 &); echo ready; exec sleep 1$1", b"sh"]

    def session(n: str) -> SupervisedRunning:
        target._need().put(workdir, servers.files(workdir, target.home, {}, [*program, n.encode()]))
        running = servers.open(workdir, host_dir, lambda: None)
        assert isinstance(running, SupervisedRunning) and running.on_case_server
        assert running.sock.makefile("rb").readline() == b"ready\n"
        return running

    try:
        killed, other = session("1001"), session("1002")
        assert len(_processes(target, "1001")) == 3, _processes(target, "1001")
        killed.kill()
        assert _processes(target, "1001") == []
        assert len(_processes(target, "1002")) == 3, "the other session was killed too"
        other.kill()
        assert _processes(target, "1002") == []
    finally:
        side.shutdown()

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

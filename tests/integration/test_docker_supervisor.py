"""The `docker:` fast path (harness/targets/docker_supervisor.py, docker_files.py): on an
engine of this machine the case files go through a bind-mounted host directory and every
session is a connection to the container's one tcpserver supervisor. It gives the verdicts
the API path (archives, an exec per session) gives, which an engine over tcp:// still
takes; concurrent sessions keep their markers apart; a killed supervisor is an ERROR that
names it, and the run goes on; nothing is left behind. In CI a missing podman fails these
tests (needs_tool, through the shared fixtures)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cases import CATALOGUE_DIR, load_catalogue, select
from harness.errors import TargetFault
from harness.targets import make_target
from harness.targets.base import Target
from harness.targets.docker_ import RUN_LABEL, DockerTarget
from harness.targets.docker_files import ArchiveFiles, SharedFiles
from harness.targets.docker_supervisor import session_script
from harness.verdict import ERROR, OK
from tests.integration.test_docker_target import (  # noqa: F401 - fixtures
    DOCKER,
    IMAGE,
    engine,
    ref_image,
    run,
    same_as_ref,
    starter,
    targets,
)

LAYOUT = f"{DOCKER},smtpd=/var/qmail/bin/qmail-smtpd"
TCPSERVER = f"{DOCKER},transport=tcpserver"  # the reference image under the supervisor, not its fork server


def _fast(target: Target, server: str = "supervisor") -> DockerTarget:
    assert isinstance(target, DockerTarget)
    assert isinstance(target.files, SharedFiles), target.spec
    running = {"supervisor": target.supervisor, "forks": target.forks}
    assert running.pop(server) is not None and set(running.values()) == {None}, (target.spec, server)
    return target


def _api(target: Target) -> DockerTarget:
    assert isinstance(target, DockerTarget)
    assert isinstance(target.files, ArchiveFiles) and target.supervisor is None and target.forks is None
    return target


def test_the_fast_path_and_the_api_path_agree_with_ref(targets: Callable[[str], Target]) -> None:  # noqa: F811
    """The reference image as such (its fork server in the container, or the supervisor) and
    laid out as a qmail home (a mount namespace per session, cases with programs of their own
    in bin/), each way, as `ref` gives it; a few qmail-remote cases too (forked by the fork
    server, or one exec each with their script written through the bind mount)."""
    own_bin = [c for c in load_catalogue().cases if any(f.startswith("bin/") for f in c.files)
               and "1.08" in c.versions][:3]
    cases = starter() + own_bin
    if os.geteuid() == 0:
        cases += select(load_catalogue(sorted(CATALOGUE_DIR.glob("[78]-*.toml"))).cases,
                        ["7.1.1", "7.2.2", "8.1.1"])
    elif os.environ.get("CI"):
        pytest.fail("qmail-remote cases in a container need root (CI runs as root)")
    ref = targets("ref")
    made = [targets(DOCKER), targets(TCPSERVER), targets(LAYOUT), targets(f"{DOCKER},api-only"),
            targets(f"{LAYOUT},api-only")]
    results = run([*made, ref], cases)
    _fast(made[0], "forks"), _fast(made[1]), _fast(made[2]), _api(made[3]), _api(made[4])
    for target in made:
        same_as_ref(results, cases, ref, target)


def test_sessions_at_once_keep_their_markers_apart(targets: Callable[[str], Target]) -> None:  # noqa: F811
    """Forty sessions at once through one supervisor, each with its own exit status and
    stderr; one sends its first SMTP bytes in the same write as the dispatcher's line, and
    the program still gets them all (sh's `read` takes no byte past the line)."""
    target = targets(TCPSERVER)
    target.start()
    _fast(target)
    assert isinstance(target, DockerTarget) and target.files is not None and target.supervisor is not None
    workdir = "/qmc/900"
    program = b'read n; echo "err $n" >&2; sleep 0.$((n % 3)); echo "out $n"; exit $n'
    home = target.files.host_path(workdir)
    assert home is not None
    home.mkdir()
    target.files.put(workdir, {".session": session_script(workdir, {"PATH": b"/usr/bin:/bin"},
                                                            [b"/bin/sh", b"-c", program])})
    got: dict[int, tuple[bytes, int | None, bytes, bool]] = {}

    def one(n: int) -> None:
        running = target.supervisor.open(workdir, home)  # type: ignore[union-attr]
        running.sock.sendall(b"%d\n" % n)
        out = running.sock.makefile("rb").read()
        running.sock.close()
        status, err = running.finish(30)
        assert running.tree is not None
        got[n] = (out, status, err, running.tree.wait(30))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(1, 41)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert got == {n: (b"out %d\n" % n, n, b"err %d\n" % n, True) for n in range(1, 41)}
    assert target.supervisor.sessions == {}, "finished sessions are forgotten"
    assert not list(home.glob(".stderr-*")), "their stderr files are removed"

    token = secrets.token_hex(6).encode()
    session = target.supervisor.register(token)
    with socket.create_connection((target.address, target.supervisor.port)) as sock:
        sock.sendall(b"%s %s session\n7\n" % (workdir.encode(), token))  # one write: line and data
        assert sock.makefile("rb").read() == b"out 7\n"
    assert session.exited.wait(30) and session.status == 7


@pytest.mark.parametrize(("spec", "server"), [(DOCKER, "forks"), (TCPSERVER, "supervisor")])
def test_a_load_run_on_the_fast_path(tmp_path: Path, targets: Callable[[str], Target],  # noqa: F811
                                     spec: str, server: str) -> None:
    """`qmc load` at 8 sessions at once on one uploaded home: every message queued once."""
    from harness.load import LoadPlan, run_load

    target = targets(spec)
    target.start()
    _fast(target, server)
    result = run_load(target, LoadPlan(messages=48, concurrency=8), tmp_path)
    assert (result.accepted, result.queued, result.lost, result.failed) == (48, 48, [], False)


class KilledAtSecondSession(DockerTarget):
    """Runs `kill_command()` (sh) in the container once its second session started."""

    sessions = 0

    def kill_command(self) -> str:
        raise NotImplementedError

    def smtpd(self, fx: Any) -> Any:
        running = super().smtpd(fx)
        self.sessions += 1
        if self.sessions == 2:
            code, out = self.container.exec_run(["/bin/sh", "-c", self.kill_command()])
            assert code == 0, out
        return running


class SupervisorKilled(KilledAtSecondSession):
    """Kills the container's session supervisor (tcpserver)."""

    def kill_command(self) -> str:
        assert self.supervisor is not None and self.supervisor.pid
        return f"kill -KILL {self.supervisor.pid}"


def test_a_killed_supervisor_is_an_error_naming_it(targets: Callable[[str], Target], engine: Any) -> None:  # noqa: F811
    cases = starter()[:6]
    ref = targets("ref")
    victim = SupervisorKilled(f"{TCPSERVER},killed", IMAGE, transport="tcpserver")
    try:
        results = run([victim, ref], cases, jobs=1)
        host_dir = victim.host_dir
    finally:
        victim.stop()
    mine = [results[(c.id, victim.name)] for c in cases]
    assert mine[0].verdict == OK, mine[0].reason
    later = mine[2:]
    assert all(r.verdict == ERROR and "session supervisor (tcpserver" in r.reason for r in later), \
        [(r.verdict, r.reason) for r in later]
    assert all(results[(c.id, ref.name)].verdict == OK for c in cases)
    assert not engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={victim.run_id}"})
    assert host_dir is not None and not host_dir.exists(), "the bind-mounted directory is removed at stop"


def test_a_session_after_stop_is_a_fault(targets: Callable[[str], Target]) -> None:  # noqa: F811
    target = targets(TCPSERVER)
    target.start()
    supervisor = _fast(target).supervisor
    assert supervisor is not None
    target.stop()
    with pytest.raises(TargetFault, match="session supervisor"):
        supervisor.open("/qmc/1", Path("/nonexistent"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_engine_over_tcp_keeps_the_api_path(targets: Callable[[str], Target], engine: Any) -> None:  # noqa: F811
    """An engine reached over tcp:// may be on another machine: archives and an exec per
    session, as before (Podman's service on a loopback port stands in for it)."""
    from harness.targets.engine import podman_env

    if os.environ.get("DOCKER_HOST"):
        pytest.skip("the engine is DOCKER_HOST's, not a podman of this machine")
    url = f"tcp://127.0.0.1:{_free_port()}"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", url], env=podman_env(),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ref, remote = targets("ref"), make_target(f"{DOCKER},engine={url}")
        cases = starter()[:8]
        try:
            results = run([_started(remote), ref], cases)
            _api(remote)
            same_as_ref(results, cases, ref, remote)
        finally:
            remote.stop()
        assert isinstance(remote, DockerTarget)
        assert not engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={remote.run_id}"})
    finally:
        service.terminate()
        service.wait(timeout=60)


def _started(target: Target) -> Target:
    """The service on its port answers within seconds of its start: try until it does."""
    import time

    deadline = time.monotonic() + 60
    while True:
        try:
            target.start()
            return target
        except TargetFault as exc:
            if "no container engine" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the service binding its port: nothing to wait on but the port


class ForksKilled(KilledAtSecondSession):
    """Kills the reference's fork server in the container."""

    def kill_command(self) -> str:
        # its forks share its command line; this sh names it too, and must live
        return ("for p in /proc/[0-9]*; do case $(tr '\\0' ' ' < $p/cmdline) in *zygote.py*) "
                "[ ${p#/proc/} = $$ ] || kill -KILL ${p#/proc/};; esac; done 2>/dev/null; true")


def test_a_killed_fork_server_is_an_error_naming_it(targets: Callable[[str], Target],  # noqa: F811
                                                    engine: Any) -> None:  # noqa: F811
    cases = starter()[:6]
    victim = ForksKilled(f"{DOCKER},killed", IMAGE)
    try:
        results = run([victim], cases, jobs=1)
        _fast(victim, "forks")
    finally:
        victim.stop()
    mine = [results[(c.id, victim.name)] for c in cases]
    assert mine[0].verdict == OK, mine[0].reason
    assert all(r.verdict == ERROR and "the reference's fork server in the container" in r.reason
               for r in mine[2:]), \
        [(r.verdict, r.reason) for r in mine]
    assert not engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={victim.run_id}"})

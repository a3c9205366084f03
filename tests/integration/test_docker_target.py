"""The `docker:` target against real containers (Podman's Docker-compatible service, or the
engine DOCKER_HOST names): the reference image gives the same verdicts and transcripts as
the `ref` target, over tcpserver and over exec stdin/stdout, as a reference and laid out as a
qmail home; a hanging or killed target is an ERROR and the run goes on; nothing is leaked.
In CI a missing podman fails these tests (needs_tool)."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cases import CATALOGUE_DIR, Case, load_catalogue, load_file, select
from harness.errors import TargetFault, TargetSpecError
from harness.fixtures import build_fixture, load_profiles
from harness.resources import BASELINES_DIR
from harness.runner import CaseResult, Runner
from harness.targets import make_target
from harness.targets.base import Target
from harness.targets.docker_ import RUN_LABEL, DockerTarget
from harness.verdict import ERROR, NOT_APPLICABLE, OK
from tests.conftest import needs_tool

IMAGE = "localhost/qmc/eqmail-ref:latest"
DOCKER = f"docker:{IMAGE}"


@pytest.fixture(scope="session")
def engine() -> Any:
    from harness.targets import engine as engines

    if not os.environ.get("DOCKER_HOST"):
        needs_tool("podman")
    return engines.client()


@pytest.fixture(scope="session")
def ref_image(engine: Any) -> str:
    """The reference image, built if missing (debootstrap base ~40 s the first time; then the
    layer cache makes it about a second)."""
    from harness.images import build

    return build("ref")


@pytest.fixture
def targets(engine: Any, ref_image: str) -> Iterator[Callable[[str], Target]]:
    """Makes targets; afterwards every one is stopped and none left a container or network."""
    made: list[Target] = []

    def make(spec: str) -> Target:
        target = make_target(spec)
        made.append(target)
        return target

    yield make
    shared = [t.host_dir for t in made if isinstance(t, DockerTarget) and t.host_dir is not None]
    for target in made:
        target.stop()
    assert not [d for d in shared if d.exists()], "a bind-mounted /qmc directory was left behind"
    runs = [t.run_id for t in made if isinstance(t, DockerTarget)]
    for run in runs:
        found = (engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run}"})
                 + engine.networks.list(filters={"label": f"{RUN_LABEL}={run}"}))
        assert not found, f"leaked by run {run}: {[x.name for x in found]}"


def starter() -> list[Case]:
    """A few recorded cases of every category: greeting, addresses, DATA and queue, AUTH with
    the checkpassword stub (fd 3), STARTTLS, qmail-spp plugins."""
    cases = load_catalogue().cases
    picked: list[Case] = []
    for category in (1, 2, 3, 4, 5, 6):
        picked += [c for c in cases if c.category == category and "1.08" in c.versions][:4]
    return picked


def run(targets: list[Target], cases: list[Case], jobs: int = 2) -> dict[tuple[str, str], CaseResult]:
    for target in targets:
        target.start()
    return {(r.case.id, r.target): r for r in Runner(targets, cases, jobs=jobs).run()}


def same_as_ref(results: dict[tuple[str, str], CaseResult], cases: list[Case], ref: Target,
                other: Target) -> None:
    for case in cases:
        mine, theirs = results[(case.id, other.name)], results[(case.id, ref.name)]
        assert mine.verdict == theirs.verdict, (case.id, mine.reason, mine.differences)
        if mine.verdict == NOT_APPLICABLE:
            continue
        assert mine.verdict == OK, (case.id, mine.reason, mine.differences)
        assert mine.transcript is not None and theirs.transcript is not None
        # byte for byte, the stderr log too (diff() leaves it out)
        assert mine.transcript.stderr == theirs.transcript.stderr, case.id
        assert mine.transcript.exit == theirs.transcript.exit, case.id


def test_reference_image_matches_ref(targets: Callable[[str], Target]) -> None:
    cases = starter()
    assert len({c.category for c in cases}) == 6
    ref, docker = targets("ref"), targets(DOCKER)
    results = run([docker, ref], cases)
    same_as_ref(results, cases, ref, docker)
    queued = [r for r in results.values() if r.target == docker.name and r.transcript
              and r.transcript.observations.get("queue")]
    assert queued, "no starter case queued a message: the capture path went untested"


def test_a_second_run_on_the_same_target(targets: Callable[[str], Target]) -> None:
    """Runners reuse local directory names; the container must not show a case the files
    of an earlier run's case (queue files would pile up)."""
    cases = [c for c in starter() if c.expect.queue][:2]
    assert cases
    ref, docker = targets("ref"), targets(DOCKER)
    for _ in range(2):
        same_as_ref(run([docker, ref], cases), cases, ref, docker)


def test_stdio_transport_and_qmail_home_layout(targets: Callable[[str], Target]) -> None:
    """Without tcpserver (exec stdin/stdout), and with the programs reading /var/qmail as a
    real eQmail's do (the case's home mounted there in a private namespace per session),
    including cases that bring programs of their own in the home's bin/."""
    own_bin = [c for c in load_catalogue().cases if any(f.startswith("bin/") for f in c.files)
               and "1.08" in c.versions][:3]
    assert own_bin
    cases = starter() + own_bin
    ref = targets("ref")
    stdio = targets(f"{DOCKER},transport=stdio")
    layout = targets(f"{DOCKER},smtpd=/var/qmail/bin/qmail-smtpd")
    results = run([stdio, layout, ref], cases)
    same_as_ref(results, cases, ref, stdio)
    same_as_ref(results, cases, ref, layout)


def test_version_109(targets: Callable[[str], Target]) -> None:
    cases = [c for c in load_catalogue().cases if c.versions == ("1.09",)][:3]
    assert cases
    ref, docker = targets("ref:1.09"), targets(f"{DOCKER},version=1.09")
    same_as_ref(run([docker, ref], cases), cases, ref, docker)


HANG = """
[[case]]
id = "9.9.1"
title = "a connection plugin that hangs inside the container only"
spec = "test"
profile = "default"
timeout = 2
files = { "control/smtpplugins" = "[connection]\\n:[ -d /qmc/fixtures ] && exec sleep 3600; true\\n" }
input = "QUIT\\r\\n"

[[case]]
id = "9.9.2"
title = "an ordinary session after it"
spec = "test"
profile = "default"
input = "HELO x\\r\\nQUIT\\r\\n"
"""


def test_hanging_target_is_an_error_and_the_run_goes_on(targets: Callable[[str], Target],
                                                        tmp_path: Path) -> None:
    (tmp_path / "hang.toml").write_text(HANG)
    cases = load_file(tmp_path / "hang.toml").cases
    ref, docker = targets("ref"), targets(DOCKER)
    results = run([docker, ref], cases, jobs=1)
    hung = results[("9.9.1", docker.name)]
    assert hung.verdict == ERROR and "hang" in hung.reason, hung.reason
    assert results[("9.9.1", ref.name)].verdict == OK
    assert results[("9.9.2", docker.name)].verdict == OK


class KilledMidCase(DockerTarget):
    """Kills its own container as soon as the first session has started."""

    def smtpd(self, fx: Any) -> Any:
        running = super().smtpd(fx)
        if not getattr(self, "killed", False):
            self.killed = True
            self.container.kill()
        return running


def test_killed_container_is_an_error_and_the_run_goes_on(targets: Callable[[str], Target],
                                                          engine: Any) -> None:
    cases = starter()[:3]
    ref = targets("ref")
    victim = KilledMidCase(f"{DOCKER},killed", IMAGE)
    try:
        results = run([victim, ref], cases, jobs=1)
    finally:
        victim.stop()
    mine = [results[(c.id, victim.name)] for c in cases]
    assert all(r.verdict == ERROR for r in mine), [(r.verdict, r.reason) for r in mine]
    assert all(results[(c.id, ref.name)].verdict == OK for c in cases)
    assert not engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={victim.run_id}"})
    assert not engine.networks.list(filters={"label": f"{RUN_LABEL}={victim.run_id}"})


def test_remote_runs_in_the_container(targets: Callable[[str], Target], tmp_path: Path) -> None:
    """qmail-remote's argv, stdin and report on stdout: a relay on a closed port of the
    container's own loopback gives the same report as the reference on ours."""
    case = Case(id="7.9.1", title="t", spec="t", source="t",
                files={"control/smtproutes": b":127.0.0.1:1\n"})
    outcomes = []
    for spec in ("ref", DOCKER):
        target = targets(spec)
        target.start()
        local = tmp_path / spec.replace(":", "_").replace("/", "_")
        local.mkdir()
        home, fixtures = target.place(local)
        fx = build_fixture(case, load_profiles(), local, home=home, fixtures=fixtures)
        target.upload(fx)
        outcomes.append(target.remote(fx, ["example.org", "a@b", "r@example.org"], b"Subject: t\n\nhi\n", 30))
    ref_out, docker_out = outcomes
    assert docker_out.stdout == ref_out.stdout and docker_out.stdout
    assert docker_out.exit == ref_out.exit == 0


def _local_routes(subnet: str) -> list[str]:
    done = subprocess.run(["ip", "route", "show", "table", "local"], capture_output=True, text=True, check=True)
    prefix = subnet.rsplit(".", 1)[0] + "."
    return [line for line in done.stdout.splitlines() if prefix in line]


def test_qmail_remote_cases_run_in_the_container(targets: Callable[[str], Target]) -> None:
    """Categories 7-8 on docker: targets: the fake relays and DNS listen on addresses of the
    container network (host side), qmail-remote in the container binds the container's own
    client addresses; the reference image as such (--dns-server) and laid out as a qmail
    home (resolv.conf in the session's namespace) agree with `ref` case by case. Stopping
    the target takes the host route away."""
    if os.geteuid() != 0:
        pytest.fail("qmail-remote cases in a container need root (CI runs as root)")
    ids = ["7.1.1", "7.1.16", "7.2.2", "7.2.7", "7.2.11", "7.4.10", "7.5.1", "7.6.8", "8.1.1", "8.1.9",
           "8.1.19", "8.1.20"]
    cases = select(load_catalogue(sorted(CATALOGUE_DIR.glob("[78]-*.toml"))).cases, ids)
    assert [c.id for c in cases] == ids
    ref = targets("ref")
    docker, layout = targets(DOCKER), targets(f"{DOCKER},smtpd=/var/qmail/bin/qmail-smtpd")
    results = run([docker, layout, ref], cases)
    for target in (docker, layout):
        assert isinstance(target, DockerTarget) and target.runs_remote, target.no_remote
        same_as_ref(results, cases, ref, target)
        for case in cases:  # each target ran the job itself, against relays of its own
            mine = results[(case.id, target.name)].transcript
            assert mine is not None and mine is not results[(case.id, ref.name)].transcript
        bound = results[("8.1.1", target.name)].transcript
        assert bound is not None and bound.observations["source"] == [b"relay <- {client2}"]
        mx = results[("7.2.2", target.name)].transcript
        assert mx is not None and mx.observations["dns"] == [b"x.example CNAME", b"x.example MX",
                                                             b"mx1.x.example A", b"mx2.x.example A"]
    assert isinstance(docker, DockerTarget)
    subnet = docker.subnet
    assert _local_routes(subnet), "the observers' addresses were never made local"
    docker.stop()
    assert _local_routes(subnet) == []


BASELINES = BASELINES_DIR


@pytest.mark.parametrize("mta", [
    "exim4",  # the quickest to build and run: in the default run
    pytest.param("postfix", marks=pytest.mark.slow),  # pauses 1 s after errors: 15 s a run
    pytest.param("opensmtpd", marks=pytest.mark.slow),
])
def test_another_mta_side_by_side_matches_its_baseline(engine: Any, mta: str,
                                                       targets: Callable[[str], Target]) -> None:
    """Debian's MTA in its image (harness/images), running its own server on port 25: the
    harness runs the cases of the plain default profile over TCP and grades every difference
    from the reference; the committed baseline (fixtures/baselines/MTA.json, written by
    `qmc run -t docker:IMAGE --update-baseline`) holds them all, so nothing is new."""
    from harness.baseline import load_baseline, mark_known
    from harness.images import build

    image = build(mta)
    target = targets(f"docker:{image}")
    cases = [c for c in load_catalogue().cases if "1.08" in c.versions]
    results = run([target], cases, jobs=4)
    assert isinstance(target, DockerTarget) and not target.controls_fixtures
    ran = {r.case.id: r for r in results.values() if r.target == target.name and r.verdict != NOT_APPLICABLE}
    assert len(ran) >= 100
    baseline = load_baseline(BASELINES / f"{mta}.json")
    for result in ran.values():
        mark_known(result, baseline)
    new = {i: (r.verdict, r.reason) for i, r in ran.items() if r.verdict != OK and not r.known}
    assert new == {}
    assert sum(r.verdict != OK for r in ran.values()) > 50, "another MTA cannot agree on almost everything"


def test_missing_image_says_how_to_build_it(targets: Callable[[str], Target]) -> None:
    target = targets("docker:localhost/qmc/no-such-image:latest")
    with pytest.raises(TargetSpecError, match="not found: build it with python -m harness.images build ref"):
        target.start()


def test_image_without_sh_does_not_start(targets: Callable[[str], Target], engine: Any) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    # a name of its own: two test runs on one machine must not untag each other's image
    name = f"localhost/qmc/test-no-sh-{secrets.token_hex(4)}"
    engine.api.import_image_from_data(data.getvalue(), repository=name, tag="latest")
    image = engine.images.get(f"{name}:latest")
    try:
        target = targets(f"docker:{name}:latest")
        with pytest.raises(TargetFault, match="does not start"):
            target.start()
    finally:
        engine.images.remove(f"{name}:latest", force=True)
        remaining = [i for i in engine.images.list(all=True) if i.id == image.id]
        assert not remaining or any(t != f"{name}:latest" for i in remaining for t in i.tags)


def test_no_engine_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from harness.targets import engine as engines

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(TargetFault, match="no container engine: install podman or set DOCKER_HOST"):
        engines.client()


def test_podman_service_is_started_once_then_reused(tmp_path: Path) -> None:
    """The engine helper's own service: socket-activated, so it answers at once; a second
    call finds it and starts nothing; once it is gone the socket file is stale."""
    import docker

    from harness.targets import engine as engines

    needs_tool("podman")
    path = tmp_path / "podman.sock"
    proc = engines.start_podman(path)
    assert proc is not None
    try:
        assert engines.start_podman(path) is None
        api = docker.DockerClient(base_url=f"unix://{path}")
        assert engines.is_podman(api)
        api.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert path.exists() and not engines._answers(path)


def test_qmail_remote_cases_need_the_engine_on_this_machine() -> None:
    """No container pid of ours (a remote engine): categories 7-8 are not applicable, and the
    reason says why (the network set-up is never half done)."""
    from harness.targets.docker_net import NoOutgoing, prepare

    if os.geteuid() != 0:
        with pytest.raises(NoOutgoing, match="need root"):
            prepare(0, "198.18.200.0/24", "198.18.200.1", "198.18.200.2")
        return
    with pytest.raises(NoOutgoing, match="engine runs on another machine"):
        prepare(0, "198.18.200.0/24", "198.18.200.1", "198.18.200.2")
    with pytest.raises(NoOutgoing, match="no interface of this machine has 198.18.200.1"):
        prepare(os.getpid(), "198.18.200.0/24", "198.18.200.1", "198.18.200.2")

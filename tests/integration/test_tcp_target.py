"""The `tcp:HOST:PORT` target against a real running server (`eqmail-ref serve`, its own
process and listener): the cases a server set up as the `default` fixture profile can run
agree with the reference on the wire; the rest are not applicable; a server set up
otherwise fails them; nothing listening is a clear error."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.cases import Case, load_catalogue
from harness.errors import TargetFault
from harness.fixtures import build_fixture, load_profiles
from harness.runner import on_the_wire
from harness.targets import make_target
from harness.verdict import NON_STRICT, NOT_APPLICABLE, OK
from tests.conftest import running_serve
from tests.helpers.harness_util import run


@pytest.fixture(scope="module")
def catalogue() -> list[Case]:
    return load_catalogue().cases


@contextmanager
def default_profile_server(tmp_path: Path, cases: list[Case], me: str = "") -> Iterator[str]:
    """`eqmail-ref serve` on a home made from the default profile; yields the target spec."""
    home = tmp_path / "home"
    home.mkdir()
    build_fixture(next(c for c in cases if on_the_wire(c)), load_profiles(), home)
    if me:
        (home / "control" / "me").write_text(me + "\n")
    with running_serve(home, dict(os.environ), "--auth-sleep-scale", "0", "--memory-queue") as (host, port):
        yield f"tcp:{host}:{port}"


def test_the_wire_cases_agree_and_the_rest_are_not_applicable(tmp_path: Path, catalogue: list[Case]) -> None:
    cases = [c for c in catalogue if "1.08" in c.versions]
    wire = {c.id for c in cases if on_the_wire(c) and c.tls_build is not False}
    assert len(wire) >= 100, "the catalogue should have plenty of cases a plain server can run"
    with default_profile_server(tmp_path, cases) as spec:
        results = {r.case.id: r for r in run([spec], cases, jobs=4)}
    ran = {i for i, r in results.items() if r.verdict != NOT_APPLICABLE}
    assert ran == wire
    bad = {i: (r.verdict, r.reason, r.differences[:1]) for i, r in results.items() if i in wire and r.verdict != OK}
    assert bad == {}
    skipped = next(r for i, r in results.items() if i not in wire)
    assert "cannot give this target" in skipped.reason


def test_a_server_set_up_otherwise_differs(tmp_path: Path, catalogue: list[Case]) -> None:
    """Another control/me changes reply texts only: NON_STRICT, the greeting's difference shown."""
    cases = [c for c in catalogue if on_the_wire(c) and "1.08" in c.versions][:5]
    with default_profile_server(tmp_path, cases, me="other.test") as spec:
        results = run([spec], cases)
    assert [r.verdict for r in results] == [NON_STRICT] * 5
    assert all(r.differences[0].step == 0 and "other.test" in r.differences[0].target for r in results)


def test_nothing_listening_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago, now closed again
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = make_target(f"tcp:127.0.0.1:{port}")
    with pytest.raises(TargetFault, match="nothing answers at 127.0.0.1:.*start the server first"):
        target.start()

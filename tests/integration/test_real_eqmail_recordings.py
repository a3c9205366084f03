"""Real eQmail's recorded sessions (harness/data/fixtures/golden/real-eqmail-1.09 and
real-eqmail-1.08, each with a README saying how the build and the recording were made)
replayed as `golden:` targets against today's reference: every case must be OK or ACCEPTED
(an `accept` entry of the case names the real build's defect, e.g. 1.09's dns_ipplus)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cases import CATALOGUE_DIR, Case, load_catalogue
from harness.resources import GOLDEN_DIR as GOLDEN
from harness.runner import CaseResult, Runner
from harness.targets import make_target
from harness.verdict import ACCEPTED, OK

REAL = {"1.09": GOLDEN / "real-eqmail-1.09", "1.08": GOLDEN / "real-eqmail-1.08"}
MAX_BYTES = 2_000_000  # per directory

GOOD = {OK, ACCEPTED}


@pytest.fixture(scope="module")
def catalogue() -> list[Case]:
    cat = load_catalogue([CATALOGUE_DIR])
    assert cat.problems == []
    return cat.cases


def _index(directory: Path) -> dict[str, object]:
    index: dict[str, object] = json.loads((directory / "index.json").read_text())
    return index


def _replay(directory: Path, cases: list[Case]) -> list[CaseResult]:
    golden = make_target(f"golden:{directory}")
    golden.start()  # reads the index: version and TLS build of the recording
    return Runner([golden], cases, jobs=2).run()


def _recorded(directory: Path, catalogue: list[Case]) -> list[Case]:
    recorded = set(_index(directory)["cases"])  # type: ignore[call-overload]
    return [c for c in catalogue if c.id in recorded]


@pytest.mark.parametrize("version", sorted(REAL))
def test_recordings_are_small_and_say_how_they_were_made(version: str, catalogue: list[Case]) -> None:
    directory = REAL[version]
    assert sum(p.stat().st_size for p in directory.iterdir()) < MAX_BYTES
    index = _index(directory)
    assert index["version"] == version and str(index["target"]).startswith("exec:")
    readme = (directory / "README.md").read_text()
    commit = {"1.09": "360e06b", "1.08": "9254fa9"}[version]  # the public source it was built from
    for fact in (commit, "OpenSSL 3.0", "gcc", index["target"]):
        assert str(fact) in readme, fact
    assert len(_recorded(directory, catalogue)) >= 600


def _check(version: str, results: list[CaseResult]) -> None:
    differing = {r.case.id: (r.verdict, r.reason) for r in results if r.verdict not in GOOD}
    assert differing == {}, version


@pytest.mark.parametrize("version", sorted(REAL))
def test_reference_replays_real_eqmail(version: str, catalogue: list[Case]) -> None:
    """Default run: the cases whose replies are not pinned, every remote case (categories 7
    and 8: the pins do not say what the relay saw) and every fourth of the others."""
    cases = _recorded(REAL[version], catalogue)
    sample = [c for n, c in enumerate(cases) if c.expect.replies is None or c.category in (7, 8)
              or n % 4 == 0 or c.accept]
    _check(version, _replay(REAL[version], sample))


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(REAL))
def test_reference_replays_real_eqmail_full(version: str, catalogue: list[Case]) -> None:
    _check(version, _replay(REAL[version], _recorded(REAL[version], catalogue)))


def test_a_changed_real_reply_is_seen(tmp_path: Path, catalogue: list[Case]) -> None:
    """The replay can fail: real eQmail's greeting changed in a copy of the recording."""
    copy = tmp_path / "real"
    copy.mkdir()
    source = REAL["1.09"]
    (copy / "index.json").write_text((source / "index.json").read_text())
    data = json.loads((source / "1.1.1.json").read_text())
    data["exchanges"][0]["received"] = "554 changed.test\r\n"
    (copy / "1.1.1.json").write_text(json.dumps(data))
    [result] = _replay(copy, [c for c in catalogue if c.id == "1.1.1"])
    assert result.verdict == "FAILED"

"""Real eQmail's recorded sessions (fixtures/golden/real-eqmail-1.09 and real-eqmail-1.08,
each with a README saying how the build and the recording were made) replayed as `golden:`
targets against today's reference: a difference that is not an accepted outcome of the case
(`accept` in the catalogue) fails, except the few listed in KNOWN with their reason.

KNOWN is temporary knowledge, to be folded once the harness grades accepted outcomes apart
(ACCEPTED) and the reference prints OpenSSL 3's texts: then it should be empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cases import CATALOGUE_DIR, Case, load_catalogue
from harness.runner import CaseResult, Runner
from harness.targets import make_target
from harness.verdict import OK

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"
REAL = {"1.09": GOLDEN / "real-eqmail-1.09", "1.08": GOLDEN / "real-eqmail-1.08"}
MAX_BYTES = 2_000_000  # per directory

# the reference prints OpenSSL 1.x texts where the real builds (OpenSSL 3.0) print others
_OPENSSL3 = {
    "5.1.16": "OpenSSL 3: EOF in the middle of the handshake is an error (unexpected eof while "
              "reading): qmail-smtpd sends an alert and the 454 text names it",
    "7.5.9": "OpenSSL 3 / TLS 1.3: the verify callback reports the last verification error "
             "(unable to verify the first certificate) and the relay sees the handshake complete",
    "7.5.16": "OpenSSL 3: qmail-remote reports ZTLS connect failed: error:0A000126:SSL "
              "routines::unexpected eof while reading",
}
KNOWN: dict[str, dict[str, str]] = {"1.09": _OPENSSL3, "1.08": _OPENSSL3}
# a matched accepted outcome (the 1.09 dns_ipplus defect in 7.2.6, 7.2.10, 7.2.17, 7.3.13) is
# OK today and ACCEPTED once the harness grades it apart
GOOD = {OK, "ACCEPTED"}


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
    for fact in ("kp-org/eQmail", "OpenSSL 3.0", "gcc", index["target"]):
        assert str(fact) in readme, fact
    assert len(_recorded(directory, catalogue)) >= 600


def _check(version: str, results: list[CaseResult]) -> None:
    differing = {r.case.id: (r.verdict, r.reason) for r in results if r.verdict not in GOOD}
    unexplained = {i: v for i, v in differing.items() if i not in KNOWN[version]}
    assert unexplained == {}


@pytest.mark.parametrize("version", sorted(REAL))
def test_reference_replays_real_eqmail(version: str, catalogue: list[Case]) -> None:
    """Default run: the cases whose replies are not pinned, every remote case (categories 7
    and 8: the pins do not say what the relay saw) and every fourth of the others."""
    cases = _recorded(REAL[version], catalogue)
    sample = [c for n, c in enumerate(cases) if "replies" not in c.expect or c.category in (7, 8)
              or n % 4 == 0 or c.id in KNOWN[version]]
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

"""The waiting lane (harness/runner.py): cases whose target pauses 5 s after a failed AUTH
(spec §2.9) sleep side by side instead of holding the CPU lane's workers. Asserted on the
structure the runner records (lane, start and end of each target session), never on
durations: bench/auth_sleep_overlap.py measures the time."""

from __future__ import annotations

from harness.cases import CATALOGUE_DIR, load_catalogue, select
from harness.runner import CaseResult
from harness.verdict import BAD
from tests.helpers.harness_util import run


def _peak(results: list[CaseResult]) -> int:
    """The most target sessions that were running at one instant."""
    edges = sorted([(r.timing.started, 1) for r in results if r.timing]
                   + [(r.timing.ended, -1) for r in results if r.timing])
    peak = now = 0
    for _, step in edges:  # an end before a start at the same instant: -1 sorts first
        now += step
        peak = max(peak, now)
    return peak


def test_cases_that_pause_after_a_failed_auth_overlap_beyond_the_cpu_lane() -> None:
    cases = select(load_catalogue([CATALOGUE_DIR]).cases, ["4.0.*", "4.2.*", "4.5.*"])
    results = run(["ref,auth-sleep=5"], cases, jobs=1)
    assert not [(r.case.id, r.reason) for r in results if r.verdict in BAD]  # timing only, never bytes
    waiting = [r for r in results if r.timing and r.timing.lane == "waiting"]
    # the reference decides: every case whose reference answered a failed AUTH, and only those
    failed_auth = {r.case.id for r in results if r.reference and b"535 authentication failed" in
                   r.reference.received}
    assert {r.case.id for r in waiting} == failed_auth
    assert {"4.2.13", "4.0.8", "4.5.13"} <= failed_auth
    # one CPU worker, yet the pausing sessions ran at once: more than one interval was open
    # at the same instant, and each of them met another
    assert _peak(waiting) > 1
    for r in waiting:
        assert r.timing is not None
        assert any(o is not r and o.timing and o.timing.started < r.timing.ended and r.timing.started
                   < o.timing.ended for o in waiting), r.case.id


def test_a_target_without_the_pause_keeps_everything_in_the_cpu_lane() -> None:
    cases = select(load_catalogue([CATALOGUE_DIR]).cases, ["4.2.*"])
    results = run(["ref", "ref:1.09,auth-sleep=0"], cases, jobs=2)
    assert results and {r.timing.lane for r in results if r.timing} == {"cpu"}

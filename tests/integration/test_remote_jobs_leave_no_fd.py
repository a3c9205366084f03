"""qmail-remote jobs on `ref` leave no descriptor behind in the harness (one pipe per job
leaked and took a long mutation run past fd 1023)."""

from __future__ import annotations

import os

from harness.cases import load_catalogue
from harness.runner import Runner
from harness.targets.ref import RefTarget


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_qmail_remote_jobs_leave_no_descriptor() -> None:
    cases = [c for c in load_catalogue().cases if c.id.startswith("7.1.")][:12]
    target = RefTarget("ref", "1.08", True)
    target.start()
    try:
        Runner([target], cases[:2], jobs=2).run()  # leases, relays' first use: warmed up
        before = _open_fds()
        results = Runner([target], cases, jobs=2).run()
        after = _open_fds()
    finally:
        target.stop()
    assert len(results) == len(cases) and {r.verdict for r in results} == {"OK", "NOT_APPLICABLE"}
    assert after == before

"""The cost of eQmail's 5 s pause after a failed AUTH (spec §2.9) on a whole run: the
catalogue on `ref,auth-sleep=0.001` (a pause of 1 ms) and on `ref,auth-sleep=5` (the real
pause), one run each, the same jobs. Both are targets apart from the reference, as a real
one is: each case runs twice (reference and target), and only the pause differs. Without
the waiting lane (harness/runner.py) the pausing cases would add about
`pausing × 5 s / jobs`; with it, about one pause.

    python bench/auth_sleep_overlap.py [--cases GLOB]... [--jobs N]

Prints both wall times, how many cases paused, their peak overlap, and the ratio of the
extra time to one pause (target: close to 1, far below the serial estimate).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.cases import CATALOGUE_DIR, load_catalogue, select  # noqa: E402
from harness.runner import CaseResult, Runner  # noqa: E402
from harness.targets import make_target  # noqa: E402

__all__ = ["main"]

PAUSE = 5.0


def timed(spec: str, cases: list, jobs: int) -> tuple[float, list[CaseResult]]:  # type: ignore[type-arg]
    target = make_target(spec)
    target.start()
    try:
        started = time.monotonic()
        results = Runner([target], cases, jobs=jobs).run()
        return time.monotonic() - started, results
    finally:
        target.stop()


def peak(results: list[CaseResult]) -> int:
    edges = sorted([(r.timing.started, 1) for r in results if r.timing]
                   + [(r.timing.ended, -1) for r in results if r.timing])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", action="append", default=[], metavar="GLOB")
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    args = p.parse_args()
    cases = select(load_catalogue([CATALOGUE_DIR]).cases, args.cases)
    plain, _ = timed("ref,auth-sleep=0.001", cases, args.jobs)
    paused, results = timed(f"ref,auth-sleep={PAUSE:g}", cases, args.jobs)
    waiting = [r for r in results if r.timing and r.timing.lane == "waiting"]
    serial = plain + len(waiting) * PAUSE / args.jobs
    print(f"{len(cases)} cases, {args.jobs} jobs")
    print(f"ref,auth-sleep=0.001{plain:7.2f} s")
    print(f"ref,auth-sleep=5    {paused:7.2f} s   ({len(waiting)} cases paused, at most "
          f"{peak(waiting)} at once)")
    print(f"without the lane    {serial:7.2f} s   "
          f"(estimate: the 1 ms run + {len(waiting)} x 5 s / {args.jobs})")
    print(f"extra time / one pause: {(paused - plain) / PAUSE:.2f}   "
          f"paused run / serial estimate: {paused / serial:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

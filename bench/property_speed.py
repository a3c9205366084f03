"""Property sessions per second (`python -m harness.property`'s search, harness.property.machine
.explore), one run, the same seed and number of examples on each target, shrinking off:

1. `ref:V` in-process: hypothesis and the reference's core only (the ceiling);
2. `exec:` of the reference installed as a qmail home (harness/targets/ref_home.py): each
   session starts sh and Python (~10 sessions/s per core), so this row cannot reach 50/s;
   it shows that the exec: paths work, not their speed;
3. `exec:` of real eQmail, if /work/real-eqmail/READY names a home for the version (or
   `--real HOME`): the row the target (>= 50 examples/s) is about.

An example is one generated session; sessions whose reference paused (a failed AUTH: real
eQmail, and the reference as a home, sleep 5 s) are replayed in the lane
(harness.property.lane) and counted where the search handed them in. Two rates: the
search's (until its last example, the lane still replaying: what a long search runs at)
and the whole run's, which also waits for the lane's last session: 5 s per failed AUTH in
it, up to 20 s for one session here, a fixed tail however long the search. Reductions of
findings are not timed: the search stops at the first finding (it is printed).

    python bench/property_speed.py [--examples N] [--home-examples N] [--seed S] [--lane N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import load_average  # noqa: E402 - bench/, the script's own directory
from real_builds import real_home  # noqa: E402

from harness.drive.differential import open_pair  # noqa: E402
from harness.drive.side_inprocess import InProcessSide  # noqa: E402
from harness.drive.side_target import TargetSide  # noqa: E402
from harness.fixtures import scratch_dir  # noqa: E402
from harness.property.lane import Lane  # noqa: E402
from harness.property.machine import Finding, explore  # noqa: E402
from harness.targets.ref_home import install_reference_home  # noqa: E402

__all__ = ["main"]


class _Stop(Exception):
    """The first finding ends the search: the benchmark times the search, not reductions."""


class _Timed(Lane):
    """The lane, noting when the search first waited for it (the search's end)."""

    waited = 0.0

    def drain(self) -> list[Finding]:
        self.waited = self.waited or time.perf_counter()
        return super().drain()


def rate(spec: str, examples: int, seed: int, lane_size: int) -> tuple[float, float, int, str]:
    """(examples/s of the search, of the whole run, examples, the first finding's signature or "")."""
    pair = open_pair(spec, None, "auth", timeout=6.0)
    assert pair.reference is not None
    tgt = pair.target
    lane = _Timed(tgt, lane_size) if isinstance(tgt, TargetSide) and lane_size > 0 else None
    opened = [0]
    counted = _Counted(pair.reference, opened)
    first = ""

    def stop(finding: Finding) -> None:
        raise _Stop(finding.signature)

    started = time.perf_counter()
    try:
        try:
            explore(counted, tgt, max_examples=examples, seed=seed, max_findings=1, lane=lane, shrink=False,
                    progress=stop)
        except _Stop as exc:
            first = str(exc)
        ended = time.perf_counter()
    finally:
        if lane is not None:
            lane.close()
        pair.close()
    searched = (lane.waited if lane is not None and lane.waited else ended) - started
    return opened[0] / searched, opened[0] / (ended - started), opened[0], first


class _Counted(InProcessSide):
    """The reference side, counting the sessions it opens (one per example)."""

    def __init__(self, side: InProcessSide, opened: list[int]) -> None:
        super().__init__(side.world, side.name, timeout=side.timeout)
        self.opened = opened

    def open(self) -> bytes:
        self.opened[0] += 1
        return super().open()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=400, help="examples on ref and on the real build")
    p.add_argument("--home-examples", type=int, default=60, help="examples on the reference as a home")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--version", default="1.09")
    p.add_argument("--lane", type=int, default=32, help="the lane's size; 0: each pause waited for in turn")
    p.add_argument("--real", help="a real eQmail home (default: from /work/real-eqmail/READY)")
    args = p.parse_args(argv)
    real = real_home(args.real, args.version)
    print(f"{load_average()}; seed {args.seed}, lane {args.lane}, shrinking off")
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="qmc-bench-", dir=scratch_dir()) as tmp:
        home = install_reference_home(Path(tmp) / "ref", flags=("--version", args.version))
        specs = [(f"ref:{args.version} in-process", f"ref:{args.version}", args.examples)]
        if os.geteuid() == 0:
            specs.append(("reference as a home, exec:", f"exec:{home},version={args.version}",
                          args.home_examples))
            if real:
                specs.append((f"real eQmail {args.version}, exec:", f"exec:{real},version={args.version}",
                              args.examples))
        else:
            print("not root: no exec: rows")
        for label, spec, n in specs:
            per_s, whole, done, first = rate(spec, n, args.seed, args.lane)
            rows.append((label, per_s))
            print(f"{label:<32} {done:>5} examples  search {per_s:>6.1f}/s"
                  f"{' (x ' + format(per_s / rows[0][1], '.2f') + ' of ref)' if len(rows) > 1 else ''}"
                  f"  whole run {whole:>6.1f}/s"
                  f"{'   stopped at a finding: ' + first if first else ''}")
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())

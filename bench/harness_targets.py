"""Wall time of a small case set through the whole harness pipeline against each target kind:
`ref` (the warm fork server), `exec:` (the reference installed as a qmail home, each session
in a private mount namespace) and `docker:` (the reference image: on an engine of this
machine its sessions and jobs forked by the fork server in the container), with 1 and 2
jobs. All rows come from one run; ratios are to `ref` at the same number of jobs.

    python bench/harness_targets.py [--cases N] [--image IMAGE] [--rounds R]

`run` is what a user waits for (the Runner also runs the reference once per case for the
non-ref targets); `per case` is the mean time of one case on the target alone (fixture,
upload, session, download). Target start-up (container, network) is reported apart.
Needs root (exec:) and podman or DOCKER_HOST (docker:); a kind that cannot start is skipped
with the reason.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.cases import Case, load_catalogue  # noqa: E402
from harness.runner import Runner  # noqa: E402
from harness.targets import make_target  # noqa: E402
from harness.targets.base import Target  # noqa: E402
from harness.verdict import NOT_APPLICABLE, OK  # noqa: E402

__all__ = ["main"]

WRAPPER = '#!/bin/sh\nexec {python} -m eqmail_ref {program} --qmail-home {home} {flags}"$@"\n'


def qmail_home(where: Path) -> Path:
    """The reference installed as a qmail home: bin/qmail-smtpd execs it with that home (not
    harness/targets/ref_home.py: its flags go to both programs, and only smtpd takes the AUTH pause
    scale, 0 as for `ref` and the image)."""
    home = where / "qmail"
    (home / "bin").mkdir(parents=True)
    for program, flags in (("smtpd", "--auth-sleep-scale 0 "), ("remote", "")):
        script = home / "bin" / f"qmail-{program}"
        script.write_text(WRAPPER.format(python=sys.executable, home=home, program=program, flags=flags))
        script.chmod(0o755)
    return home


def starter(count: int) -> list[Case]:
    """`count` cases for 1.08 spread over the categories 1-9 (7 and 8: qmail-remote against
    the fake relays and DNS)."""
    by_category: dict[int, list[Case]] = {}
    for case in load_catalogue().cases:
        if "1.08" in case.versions:
            by_category.setdefault(case.category, []).append(case)
    picked: list[Case] = []
    while len(picked) < count and any(by_category.values()):
        for cases in by_category.values():
            if cases and len(picked) < count:
                picked.append(cases.pop(0))
    return picked


def measure(target: Target, cases: list[Case], jobs: int, rounds: int) -> tuple[float, float, int]:
    """(best wall time of a run, mean seconds per case on the target, cases not OK)."""
    walls, per_case, bad = [], [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        results = Runner([target], cases, jobs=jobs).run()
        walls.append(time.perf_counter() - started)
        per_case += [r.transcript.seconds for r in results if r.transcript]
        bad += sum(r.verdict not in (OK, NOT_APPLICABLE) for r in results)
    return min(walls), statistics.fmean(per_case), bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=27)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--image", default="localhost/qmc/eqmail-ref:latest")
    args = p.parse_args(argv)
    cases = starter(args.cases)
    with tempfile.TemporaryDirectory(prefix="qmc-bench-") as tmp:
        specs = ["ref", f"exec:{qmail_home(Path(tmp))}", f"docker:{args.image}"]
        rows: dict[tuple[str, int], tuple[float, float, int]] = {}
        print(f"{len(cases)} cases, best of {args.rounds} runs\n")
        head = ("target", "start", "jobs", "run", "per case", "vs ref", "not OK")
        print("{:<44} {:>7} {:>4} {:>8} {:>9} {:>7} {:>6}".format(*head))
        failed = False
        for spec in specs:
            target = make_target(spec)
            try:
                started = time.perf_counter()
                target.start()
                start = time.perf_counter() - started
            except Exception as exc:  # noqa: BLE001 - a kind that cannot run here is reported, not fatal
                print(f"{spec:<44} skipped: {exc}")
                target.stop()
                continue
            try:
                for jobs in (1, 2):
                    rows[(spec, jobs)] = wall, case_s, bad = measure(target, cases, jobs, args.rounds)
                    ref_wall = rows.get(("ref", jobs), (wall, 0.0, 0))[0]
                    failed |= bad > 0
                    print(f"{spec[:44]:<44} {start:>6.2f}s {jobs:>4} {wall:>7.2f}s {case_s * 1000:>7.1f}ms "
                          f"{wall / ref_wall:>6.2f}x {bad:>6}")
            finally:
                target.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fuzzing with several workers, one run: sessions/s of `python -m harness.fuzz --workers 1`
and `--workers 2` (processes sharing one corpus directory) against
  1. `ref`, the reference in-process (no process per session: the fuzzer's own cost),
  2. `exec:HOME`, the reference installed as a qmail home (harness/targets/ref_home.py; one
     sh + Python start per session, as a real target's process per session),
and the ratio 2 workers / 1 worker for each; and, as the ceiling on this machine, two
independent `--workers 1` runs at once (no sharing; their rates added), with the ratio
2 workers / that. The rate is a run's sessions over its fuzzing time (the longest
worker's), without the processes' start. Medians of --rounds rounds, the three runs
interleaved in each (the machine's load moves from minute to minute).

    python bench/fuzz_workers.py [--seconds 5] [--rounds 3] [--seed 1]

exec: needs root (a private mount namespace per session).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.targets.ref_home import install_reference_home  # noqa: E402

__all__ = ["main"]


def rate(spec: str, workers: int, seconds: float, seeds: list[int], work: Path) -> tuple[float, int]:
    """Sessions/s and sessions of fuzz runs started at once (one per seed; rates added), each
    from its summary line."""
    procs = []
    for seed in seeds:
        out = Path(tempfile.mkdtemp(dir=work))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "harness.fuzz", "-t", spec, "--workers", str(workers),
             "--duration", f"{seconds}s", "--seed", str(seed), "--kinds", "crash,hang",
             "--corpus", str(out / "corpus"), "--out", str(out / "found")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)}))
    total, sessions = 0.0, 0
    for proc in procs:
        stdout, stderr = proc.communicate()
        m = re.search(r"^fuzz: .*?: (\d+) sessions in ([\d.]+) s", stdout, re.M)
        if m is None:
            raise SystemExit(f"{spec} --workers {workers}: no summary\n{stdout}{stderr}")
        total += int(m.group(1)) / float(m.group(2))
        sessions += int(m.group(1))
    return total, sessions


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="fuzzing time per run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("exec: targets need root")
        return 2
    print(f"{os.cpu_count()} cores; sessions/s, medians of {args.rounds} rounds of {args.seconds:g} s\n")
    with tempfile.TemporaryDirectory(prefix="qmc-bench-fuzz-") as tmp:
        work = Path(tmp)
        # the reference's 5 s pause after a failed AUTH off: it is the program's cost, not ours
        home = install_reference_home(work / "home", smtpd_flags=("--auth-sleep-scale", "0"))
        for label, spec in (("ref (in-process)", "ref"), ("exec: reference home", f"exec:{home}")):
            rows: list[list[float]] = [[], [], []]
            for _ in range(args.rounds):
                for row, (workers, seeds) in zip(rows, ((1, [args.seed]), (2, [args.seed]),
                                                        (1, [args.seed, args.seed + 1])), strict=True):
                    row.append(rate(spec, workers, args.seconds, seeds, work)[0])
            one, two, apart = (statistics.median(r) for r in rows)
            print(f"{label}\n  --workers 1 {one:>8.1f}/s   --workers 2 {two:>8.1f}/s   "
                  f"two runs apart {apart:>8.1f}/s\n"
                  f"  2 workers / 1: {two / one:.2f}   2 workers / two runs apart: {two / apart:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

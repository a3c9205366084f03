"""The catalogue through the pytest plugin on one process and on N (pytest-xdist), one
target, one run each: `pytest -n 0 --target ref conformance/cases` against `-n N`.

    python bench/xdist_speedup.py [--workers N] [--target SPEC] [PATH...]

Prints both wall times (the whole pytest command: start, collection, workers) and the
speed-up; target >= 1.6x with 2 workers on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.resources import CATALOGUE_DIR  # noqa: E402

__all__ = ["main"]


def timed(workers: int, target: str, paths: list[str]) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:benchmark", "-n", str(workers), "--target", target, *paths],
                          cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - started
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    print(f"  -n {workers}: {took:6.2f} s   {last}")
    return took


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", "-n", type=int, default=2)
    p.add_argument("--target", default="ref")
    p.add_argument("paths", nargs="*", default=[str(CATALOGUE_DIR)])
    args = p.parse_args()
    print(f"pytest --target {args.target} {' '.join(args.paths)}")
    alone = timed(0, args.target, args.paths)
    spread = timed(args.workers, args.target, args.paths)
    print(f"speed-up with {args.workers} workers: {alone / spread:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

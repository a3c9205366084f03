"""Is `qmc load`'s client side ever the limit? Its rate against `eqmail-ref serve` at c=16,
as a ratio to bench/smtp_sessions.py's raw client (16 processes, replies read by grammar)
against the same server in the same run. Target: >= 0.8x.

Rounds alternate (raw, load, raw, load, ...) and the medians are compared, so a busy moment
of the machine does not fall on one side only.

Usage: python bench/load_client.py [--seconds S] [--rounds N]
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
sys.path.insert(0, str(ROOT / "bench"))

from smtp_sessions import make_home, measure, plain_session, serve  # noqa: E402

from harness.load import LoadPlan, run_load  # noqa: E402
from harness.targets import make_target  # noqa: E402

CONCURRENCY = 16


def load_rate(port: int, seconds: float, work: Path) -> float:
    target = make_target(f"tcp:127.0.0.1:{port}")
    target.start()
    try:
        started = time.perf_counter()
        result = run_load(target, LoadPlan(concurrency=CONCURRENCY, duration=seconds), work)
        if result.silent or result.accepted != result.sent:
            raise SystemExit(f"load run lost sessions: {result.to_json()}")
        return result.sent / (time.perf_counter() - started)
    finally:
        target.stop()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    raw: list[float] = []
    load: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp), tls=False)
        with serve(home, "--memory-queue") as port:
            for n in range(args.rounds):
                raw.append(measure(lambda: plain_session(port), args.seconds, CONCURRENCY)[0])
                (Path(tmp) / f"w{n}").mkdir()
                load.append(load_rate(port, args.seconds, Path(tmp) / f"w{n}"))
    r, lo = statistics.median(raw), statistics.median(load)
    print(f"eqmail-ref serve, c={CONCURRENCY}, {args.rounds} rounds of {args.seconds:g} s (medians)")
    print(f"  raw client (bench/smtp_sessions.py): {r:8.0f} sessions/s")
    print(f"  qmc load (aiosmtplib):               {lo:8.0f} sessions/s")
    print(f"  ratio load/raw: {lo / r:.2f}x (target >= 0.8x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

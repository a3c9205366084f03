"""Fuzzing throughput, one run: sessions per second of
  1. the fuzzer against the in-process reference (no processes at all),
  2. the fuzzer against a program spawned per session over a socketpair (stdin/stdout, as
     tcpserver runs qmail-smtpd), diffing every session against the in-process reference,
  3. a bare loop spawning the same program the same way and waiting for it (stdin at EOF),
  4. a bare loop spawning it, writing the inputs the fuzzer sent in 2 (same order), draining
     its output and waiting: the target's own cost for those inputs,
and the ratios 2/3 and 2/4 (how little the fuzzer adds to the target's own cost).

    python bench/fuzz_throughput.py [--seconds 5] [--program PATH [ARGS...]]

Default program: harness/data/fixtures/broken/bin/qmail-smtpd with its traps off (a qmail-like POSIX sh
server). --program runs another ucspi qmail-smtpd-like program instead.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness.drive.side import Side, session_case
from harness.drive.side_inprocess import InProcessSide, RefWorld
from harness.drive.side_target import TargetSide, _drain, _write_all
from harness.fixtures import FIXTURES_DIR, Fixture, build_fixture, load_profiles
from harness.fuzz.engine import Fuzzer
from harness.targets.cmd_ import CommandTarget


def _fuzz_rate(target: Side, reference: Side | None, seconds: float, seed: int,
               record: list[bytes] | None = None) -> tuple[float, int]:
    fuzzer = Fuzzer(target, reference, seed=seed, out=Path(tempfile.mkdtemp(prefix="qmc-bench-")),
                    kinds=frozenset(), log=lambda _: None, record=record)
    try:
        stats = fuzzer.run(seconds)
    finally:
        shutil.rmtree(fuzzer.out, ignore_errors=True)
    return stats.sessions / stats.seconds, stats.sessions


def _bare(argv: list[str], fx: Fixture, seconds: float, inputs: list[bytes] | None) -> tuple[float, int]:
    env = {k.encode(): v for k, v in fx.env.items()}
    n = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(argv, stdin=theirs.fileno(), stdout=theirs.fileno(),
                                stderr=subprocess.DEVNULL, env=env, cwd=str(fx.local),
                                start_new_session=True)
        theirs.close()
        if inputs is None:
            ours.shutdown(socket.SHUT_WR)
        else:
            _write_all(ours, inputs[n % len(inputs)])
            _drain(ours, time.monotonic() + 10)
        ours.close()
        proc.wait()
        n += 1
    return n / (time.monotonic() - started), n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    p.add_argument("--program", nargs="+", help="the program to spawn per session (and its args)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    profiles = load_profiles()
    work = Path(tempfile.mkdtemp(prefix="qmc-bench-"))
    world = RefWorld("1.08", "auth", profiles=profiles)
    try:
        fx = build_fixture(session_case("auth"), profiles, work,
                           queue_program=str(FIXTURES_DIR / "bin" / "qmail-queue-discard"))
        fx.env["BROKEN_TRAPS"] = b"off"
        argv = args.program or [str(FIXTURES_DIR / "broken" / "bin" / "qmail-smtpd")]
        spawn = TargetSide(CommandTarget(argv), fixture=fx, timeout=10.0, profiles=profiles)
        inputs: list[bytes] = []
        inproc, n1 = _fuzz_rate(InProcessSide(world), None, args.seconds, args.seed)
        spawned, n2 = _fuzz_rate(spawn, InProcessSide(world), args.seconds, args.seed, inputs)
        spawn.shutdown()
        bare, n3 = _bare(argv, fx, args.seconds, None)
        bare_fed, n4 = _bare(argv, fx, args.seconds, inputs)
    finally:
        world.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"program: {' '.join(argv)}")
    print(f"fuzzer, in-process reference:            {inproc:9.0f} sessions/s ({n1} sessions)")
    print(f"fuzzer, spawned per session (+ ref diff): {spawned:9.0f} sessions/s ({n2} sessions)")
    print(f"bare spawn-and-wait loop (stdin at EOF):  {bare:9.0f} sessions/s ({n3} sessions)")
    print(f"bare spawn, same inputs, drain, wait:     {bare_fed:9.0f} sessions/s ({n4} sessions)")
    print(f"ratio fuzzer/bare: {spawned / bare:.2f}; fuzzer/bare-with-inputs: {spawned / bare_fed:.2f}")


if __name__ == "__main__":
    main()

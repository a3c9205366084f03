"""Fuzzing throughput, one run: sessions per second of
  1. the fuzzer against the in-process reference (no processes at all),
  2. the fuzzer against a program spawned per session over a socketpair (stdin/stdout, as
     tcpserver runs qmail-smtpd), diffing every session against the in-process reference,
  3. a bare loop spawning the same program the same way and waiting for it (stdin at EOF),
  4. a bare loop spawning it, writing the inputs the fuzzer sent in 2 (same order), draining
     its output and waiting: the target's own cost for those inputs,
and the ratios 2/3 and 2/4 (how little the fuzzer adds to the target's own cost).
With `--target SPEC` (repeatable: `exec:HOME`, `docker:IMAGE`), also
  5. `python -m harness.fuzz`'s loop through that harness target (the fork server of exec:,
     the container's supervisor of docker:), the rate while it searches and the rate of its
     sessions that do not pause (a failed AUTH: real eQmail sleeps 5 s, spec §2.9),
  6. a bare loop spawning the target's qmail-smtpd on this machine with the session's
     arguments and environment, fed the inputs of 5 that do not pause (a bare loop would
     sleep 5 s in line on the others),
and the ratio of 5's sessions that do not pause, per second of search, to 6.

    python bench/fuzz_throughput.py [--seconds 5] [--program PATH [ARGS...]] [--target SPEC]...

Default program: harness/data/fixtures/broken/bin/qmail-smtpd with its traps off (a qmail-like POSIX sh
server). --program runs another ucspi qmail-smtpd-like program instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from machine import load_average

from harness.drive.side import Side, session_case
from harness.drive.side_inprocess import InProcessSide, RefWorld
from harness.drive.side_target import TargetSide, _drain, _write_all
from harness.fixtures import FIXTURES_DIR, Fixture, build_fixture, load_profiles, scratch_dir
from harness.fuzz.__main__ import room_for
from harness.fuzz.engine import LANE, WINDOW, Fuzzer
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


def _bare_in_home(argv: list[str], fx: Fixture, seconds: float, inputs: list[bytes]) -> tuple[float, int]:
    """`_bare` in a child process that sees fx's home at the install's place (a private mount
    namespace set up once, as exec: sets up each session's: harness/targets/exec_server.py),
    so the program reads the same control files as under the harness, spawned bare."""
    from harness.targets.exec_server import switch_home
    from harness.targets.mounts import private_mounts

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: set up once, loop, report, exit without Python's cleanup
        code = 1
        try:
            os.close(read)
            private_mounts()
            switch_home(str(fx.local), fx.home, sorted(os.listdir(Path(fx.home) / "bin")))
            rate, n = _bare(argv, fx, seconds, inputs)
            os.write(write, f"{rate} {n}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as got:
        text = got.read().decode()
    os.waitpid(pid, 0)
    rate, n = text.split()
    return float(rate), int(n)


def _target_rows(spec: str, seconds: float, seed: int, window: int, lane: int, rounds: int) -> None:
    """Rows 5 and 6 for one harness target (see the module docstring), in `rounds` rounds of
    `seconds` each, the fuzzer's and the bare loop's in turn (this machine's load moves from
    one minute to the next: a ratio of two rows measured far apart says little); the median
    of the rounds' ratios."""
    from harness.drive.differential import open_pair

    # where the harness puts homes (tmpfs): the bare loop's home and the target's alike
    work = Path(tempfile.mkdtemp(prefix="qmc-bench-", dir=scratch_dir()))
    pair = open_pair(spec, None, "auth", timeout=2.0, home=work / "home")
    ratios: list[float] = []
    try:
        reference, target = pair.reference, pair.started
        assert reference is not None and target is not None
        # the install on this machine: exec:'s HOME, or the home a `qmc image --from-home` image
        # was made from (its label names the same path)
        home = str(getattr(target, "home", ""))
        program = str(getattr(target, "smtpd_path", "") or f"{home}/bin/qmail-smtpd")
        if not Path(program).is_file():
            print(f"{spec}: no {program} on this machine for the bare loop")
            return
        (work / "bare").mkdir()
        fx = build_fixture(session_case("auth"), load_profiles(), work / "bare", home=home)
        argv = [program, *(a.decode() for a in fx.args)]
        fuzzer = Fuzzer(pair.target, reference, seed=seed, out=work / "found", kinds=frozenset(),
                        log=lambda _: None, window=window, lane=room_for(lane, window))
        print(f"fuzz through {spec} (window {window}, lane {lane}) vs a bare loop of {program} in the "
              f"same home fed the same inputs that do not pause, {rounds} rounds of {seconds:g} s")
        for _ in range(rounds):
            inputs: list[bytes] = []
            fuzzer.record = inputs
            before = fuzzer.stats.sessions
            stats = fuzzer.run(seconds)
            calm = [data for data in inputs if not reference.run(data).pauses]
            bare, n = _bare_in_home(argv, fx, seconds, calm)
            sessions = stats.sessions - before
            calm_rate = len(calm) / stats.searched
            ratios.append(calm_rate / bare)
            print(f"  fuzzer {sessions} sessions ({sessions - len(calm)} paused): "
                  f"{sessions / stats.searched:.0f}/s searching, {sessions / stats.seconds:.0f}/s with the "
                  f"lane's tail, {calm_rate:.0f}/s not pausing; bare {bare:.0f}/s ({n}); "
                  f"ratio {ratios[-1]:.2f}; {load_average()}", flush=True)
    finally:
        pair.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"ratio fuzzer (not pausing, per second of search) / bare, median of {rounds}: "
          f"{statistics.median(ratios):.2f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    p.add_argument("--program", nargs="+", help="the program to spawn per session (and its args)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--target", action="append", default=[], help="also fuzz through this harness target")
    p.add_argument("--window", type=int, default=WINDOW, help="the fuzzer's window (harness.fuzz --window)")
    p.add_argument("--lane", type=int, default=LANE, help="the fuzzer's pause lane (harness.fuzz --lane)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the --target rows")
    p.add_argument("--only-targets", action="store_true", help="only the --target rows")
    args = p.parse_args()
    for spec in args.target:
        _target_rows(spec, args.seconds, args.seed, args.window, args.lane, args.rounds)
    if args.only_targets:
        return
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

"""`python -m harness.fuzz`: fuzz a target's qmail-smtpd over stdin/stdout, diffing against
the in-process reference; or replay a saved finding.

    python -m harness.fuzz --target SPEC --duration 60s --seed S --corpus DIR --out DIR [--workers N]
    python -m harness.fuzz replay FINDING.json [--target SPEC] [--timeout T]

Targets: `ref` / `ref:1.09` (in-process, checked for crashes and hangs of the reference
itself), `cmd:PROGRAM ARGS...` (spawned per session, ucspi style: env + fd 0/1; {home} and
{fixtures} are expanded), or any harness target (`exec:/var/qmail`, `docker:IMAGE`, ...).
--workers N runs N processes (harness.fuzz.workers), worker i with seed S+i, sharing the
corpus directory and the findings directory.
Exit status: 0 no finding (replay: not reproduced), 1 findings (replay: reproduced), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.drive.differential import Pair, entry, open_pair
from harness.drive.side import AUTH_PAUSE
from harness.drive.side_inprocess import InProcessSide
from harness.errors import HarnessError
from harness.fuzz.engine import LANE, WINDOW, Fuzzer, Stats, classify, lane_widths

__all__ = ["main", "open_sides", "parse_duration", "fuzz_one", "room_for", "summary"]

FDS_PER_SESSION = 3
SPARE_FDS = 256  # the sides, the corpus, the reference's files


def parse_duration(text: str) -> float:
    """`60s`, `10m`, `1h` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise HarnessError(f"--duration {text!r}: give seconds, e.g. 60s, 10m") from None


def room_for(lane: int, window: int, log: Callable[[str], None] = print) -> int:
    """The lane width this process's open-file limit allows: a session waiting in a lane
    (harness.fuzz.engine.lane_widths) holds up to FDS_PER_SESSION descriptors (exec:'s socket,
    status pipe and tree pipe). The soft limit is raised toward the hard one first (1,024 is
    a common soft limit); a lane still too wide is narrowed, and said."""
    import resource

    def need(width: int) -> int:
        return FDS_PER_SESSION * (sum(lane_widths(width)) + window) + SPARE_FDS

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need(lane):
        soft = need(lane) if hard == resource.RLIM_INFINITY else min(hard, need(lane))
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        if soft < need(lane):
            fits = next(w for w in range(lane, 0, -1) if need(w) <= soft or w == 1)
            log(f"fuzz: --lane {lane} needs {need(lane)} open files, the limit is {soft}: lane {fits}")
            return fits
    return lane


def open_sides(spec: str, against: str | None, profile: str, timeout: float, work: Path) -> Pair:
    """The target and the in-process reference (harness.drive.differential.open_pair), every target
    session on one fixture home in `work`; no reference (None) when the target is that same
    reference in-process: then only its own crashes and hangs count."""
    pair = open_pair(spec, against, profile, timeout=timeout, home=work)
    ref, tgt = pair.reference, pair.target
    if ref is not None and isinstance(tgt, InProcessSide) and tgt.world.version == ref.world.version:
        ref.shutdown()
        pair.reference = None
    return pair


@contextmanager
def sides(spec: str, against: str | None, profile: str, timeout: float) -> Iterator[Pair]:
    """open_sides() on a temporary fixture home; everything is stopped and removed after."""
    work = Path(tempfile.mkdtemp(prefix="qmc-fuzz-"))
    try:
        pair = open_sides(spec, against, profile, timeout, work / "home")
        try:
            yield pair
        finally:
            pair.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fuzz_one(args: argparse.Namespace, seed: int, *, sync_every: int = 0, claims: bool = False,
             log: Callable[[str], None] = print, ready: Callable[[], None] | None = None,
             ) -> tuple[Stats, str, str]:
    """One fuzzer on the sides `args` name: its stats and the names of the target and the
    reference. `ready` is called once the sides are up, just before the first session."""
    with sides(args.target, args.against, args.profile, args.timeout) as pair:
        target, reference = pair.target, pair.reference
        meta = {"target": args.target, "against": args.against, "profile": args.profile,
                "timeout": args.timeout}
        fuzzer = Fuzzer(target, reference, seed=seed, out=Path(args.out),
                        corpus=Path(args.corpus) if args.corpus else None,
                        states=args.states.split(",") if args.states else None, meta=meta,
                        kinds=frozenset(args.kinds.split(",")), log=log, sync_every=sync_every,
                        claims=claims, lane=room_for(args.lane, args.window, log), window=args.window)
        wanted = frozenset(args.until_found.split(",")) if args.until_found else None
        if ready is not None:
            ready()
        stats = fuzzer.run(parse_duration(args.duration), args.sessions,
                           until=(lambda s: wanted <= s.hit_kinds()) if wanted else None)
    return stats, target.name, reference.name if reference else "itself"


def summary(stats: Stats, target: str, reference: str, seed: str, corpus: str) -> str:
    rate = stats.sessions / stats.seconds if stats.seconds else 0.0
    found = ", ".join(f"{k}: {v}" for k, v in sorted(stats.findings.items())) or "none"
    if stats.known:
        found += " (hits of findings saved before or by another worker: " + \
            ", ".join(f"{k}: {v}" for k, v in sorted(stats.known.items())) + ")"
    # the lane's last pausing sessions end up to 5 s per pause after the search: a short run's
    # whole rate says more about that tail than about the search
    searching = f", {stats.sessions / stats.searched:.0f}/s while searching" if stats.searched else ""
    return (f"fuzz: {target} vs {reference}: {stats.sessions} sessions in {stats.seconds:.1f} s "
            f"({rate:.0f}/s{searching}), seed {seed}; findings: {found}; "
            f"modelled eQmail crashes: {stats.modelled_crashes}; corpus {corpus}")


def cmd_fuzz(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.sync_every < 1:
        raise HarnessError("--workers and --sync-every: give a number of at least 1")
    if args.workers > 1:
        from harness.fuzz.workers import run_workers  # it starts processes that import this module

        return run_workers(args)
    stats, target, reference = fuzz_one(args, args.seed)
    print(summary(stats, target, reference, str(args.seed), f"+{stats.corpus_added}"))
    print(stats.coverage())
    return 1 if stats.findings else 0


def cmd_replay(args: argparse.Namespace) -> int:
    record = json.loads(Path(args.finding).read_text())
    data = record["bytes"].encode("latin-1")
    spec, against = args.target or record["target"], args.against or record.get("against")
    timeout = args.timeout or record.get("timeout", 2.0)
    with sides(spec, against, record.get("profile", "auth"), timeout) as pair:
        target, reference = pair.target, pair.reference
        ref = reference.run(data) if reference else None
        got = target.begin(data, grace=AUTH_PAUSE * (ref.pauses if ref else 0)).result()
    verdict = classify(ref, got)
    print(f"replay {args.finding}: {data!r}")
    print(f"  target said {got.output!r} (status {got.status}{', hung' if got.hang else ''})")
    if ref is not None:
        print(f"  reference   {ref.output!r} (status {ref.status})")
    if verdict is None:
        print("  not reproduced: no finding")
        return 0
    same = verdict.kind == record["kind"]
    print(f"  {verdict.signature}" + ("" if same else f" (recorded: {record['signature']})"))
    return 1 if same else 0


def _fuzz_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", "-t", required=True)
    p.add_argument("--against", help="the reference (in-process): ref or ref:1.09; default the target's")
    p.add_argument("--duration", default="60s")
    p.add_argument("--sessions", type=int, help="stop after this many sessions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corpus", help="corpus directory, kept between runs")
    p.add_argument("--out", default="findings/fuzz")
    p.add_argument("--profile", default="auth", help="fixture profile (fixtures/profiles.toml)")
    p.add_argument("--states", help="comma-separated subset of fresh,ehlo,mail,rcpt,data,auth")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds before a session counts as hung")
    p.add_argument("--kinds", default="crash,hang,divergence",
                   help="which findings to minimize and save (the others are only counted)")
    p.add_argument("--lane", type=int, default=LANE,
                   help=f"sessions that pause (a failed AUTH: 5 s in real eQmail) waiting at once "
                        f"while the loop goes on (default {LANE}; 1: judge each at once)")
    p.add_argument("--window", type=int, default=WINDOW,
                   help=f"other sessions under way at once: the target runs them while the loop "
                        f"makes the next inputs (default {WINDOW}; 1: judge each at once)")
    p.add_argument("--workers", type=int, default=1,
                   help="fuzzer processes sharing --corpus and --out (worker i: seed S+i); "
                        "--sessions is per worker")
    p.add_argument("--sync-every", type=int, default=200,
                   help="with --workers: sessions between takes of the other workers' new corpus inputs")
    p.add_argument("--until-found", metavar="KINDS",
                   help="stop (each worker) once it has hit a finding of each of these kinds, "
                        "e.g. crash,hang")
    p.set_defaults(func=cmd_fuzz)
    return p


def _replay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.fuzz replay")
    p.add_argument("finding")
    p.add_argument("--target", "-t", help="default: the target the finding was made on")
    p.add_argument("--against")
    p.add_argument("--timeout", type=float)
    p.set_defaults(func=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    return entry("fuzz", argv, _fuzz_parser, {"run": _fuzz_parser, "replay": _replay_parser})


if __name__ == "__main__":
    sys.exit(main())

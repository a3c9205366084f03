"""`python -m harness.fuzz`: fuzz a target's qmail-smtpd over stdin/stdout, diffing against
the in-process reference; or replay a saved finding.

    python -m harness.fuzz --target SPEC --duration 60s --seed S --corpus DIR --out DIR
    python -m harness.fuzz replay FINDING.json [--target SPEC] [--timeout T]

Targets: `ref` / `ref:1.09` (in-process, checked for crashes and hangs of the reference
itself), `cmd:PROGRAM ARGS...` (spawned per session, ucspi style: env + fd 0/1; {home} and
{fixtures} are expanded), or any harness target (`exec:/var/qmail`, `docker:IMAGE`, ...).
Exit status: 0 no finding (replay: not reproduced), 1 findings (replay: reproduced), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.drive.differential import Pair, entry, open_pair
from harness.drive.side import AUTH_PAUSE
from harness.drive.side_inprocess import InProcessSide
from harness.errors import HarnessError
from harness.fuzz.engine import Fuzzer, classify

__all__ = ["main", "open_sides", "parse_duration"]


def parse_duration(text: str) -> float:
    """`60s`, `10m`, `1h` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise HarnessError(f"--duration {text!r}: give seconds, e.g. 60s, 10m") from None


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


def cmd_fuzz(args: argparse.Namespace) -> int:
    with sides(args.target, args.against, args.profile, args.timeout) as pair:
        target, reference = pair.target, pair.reference
        meta = {"target": args.target, "against": args.against, "profile": args.profile,
                "timeout": args.timeout}
        fuzzer = Fuzzer(target, reference, seed=args.seed, out=Path(args.out),
                        corpus=Path(args.corpus) if args.corpus else None,
                        states=args.states.split(",") if args.states else None, meta=meta,
                        kinds=frozenset(args.kinds.split(",")))
        stats = fuzzer.run(parse_duration(args.duration), args.sessions)
    rate = stats.sessions / stats.seconds if stats.seconds else 0.0
    found = ", ".join(f"{k}: {v}" for k, v in sorted(stats.findings.items())) or "none"
    print(f"fuzz: {target.name} vs {reference.name if reference else 'itself'}: {stats.sessions} sessions "
          f"in {stats.seconds:.1f} s ({rate:.0f}/s), seed {args.seed}; findings: {found}; "
          f"modelled eQmail crashes: {stats.modelled_crashes}; corpus +{stats.corpus_added}")
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

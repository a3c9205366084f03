"""`python -m harness.property`: search for differences between a target and the reference
with generated sessions; save each (shrunk) as a case file; or replay a saved one.

The reference is always the in-process one (`--against`, default: the reference version the
target is compared with); it also tells how many replies to read from the target per step.
A `ref` target runs in-process too unless `--processes` (then it is the real `eqmail-ref
smtpd` process the harness runs, which checks the shell around the core as well).
Exit status: 0 no finding, 1 findings (or the replayed finding still differs), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.drive.differential import Pair, entry, open_pair
from harness.drive.side_target import TargetSide
from harness.property.findings import load_finding, save_finding
from harness.property.lane import Lane
from harness.property.machine import Finding, explore, play

__all__ = ["main", "open_sides"]


def open_sides(target_spec: str, against: str | None, profile: str, *, processes: bool,
               timeout: float) -> Pair:
    """The in-process reference and the target (a fresh fixture home per session, so that
    the queue is compared too); `processes`: a `ref` target as real processes."""
    return open_pair(target_spec, against, profile, timeout=timeout, processes=processes)


def _show(finding: Finding) -> None:
    print(f"  {finding.what} at step {finding.step}, {len(finding.steps)} steps after shrinking:")
    for n, s in enumerate(finding.steps, 1):
        print(f"    {n}. " + (f"CRAM-MD5 answer for {s.cram[0]!r}" if s.cram else repr(s.data)))
    print(f"    reference: {finding.reference!r}\n    target:    {finding.target!r}")


def cmd_search(args: argparse.Namespace) -> int:
    pair = open_sides(args.target, args.against, args.profile, processes=args.processes, timeout=args.timeout)
    ref, tgt = pair.reference, pair.target
    assert ref is not None
    out = Path(args.out)
    ref_version = ref.world.version.name
    saved: list[Path] = []

    def progress(finding: Finding) -> None:
        path = save_finding(out, len(saved) + 1, finding, profile=args.profile, version=ref_version,
                            seed=args.seed, reference=ref.name, target=tgt.name)
        saved.append(path)
        print(f"finding {len(saved)}: {finding.signature}  -> {path}")
        _show(finding)

    # real eQmail's 5 s pauses after a failed AUTH wait in a lane, not in line (lane.py)
    lane = Lane(tgt, args.lane) if isinstance(tgt, TargetSide) and args.lane > 0 else None
    started = time.monotonic()
    try:
        findings = explore(ref, tgt, max_examples=args.max_examples, seed=args.seed,
                           max_findings=args.max_findings, step_count=args.steps, progress=progress,
                           lane=lane)
    finally:
        if lane is not None:
            lane.close()
        pair.close()
    took = time.monotonic() - started
    print(f"property: {ref.name} vs {tgt.name}: {len(findings)} distinct difference(s) in {took:.1f} s "
          f"(max {args.max_examples} examples per round, seed {args.seed})")
    return 1 if findings else 0


def cmd_replay(args: argparse.Namespace) -> int:
    steps, profile = load_finding(Path(args.finding))
    pair = open_sides(args.target, args.against, profile, processes=args.processes, timeout=args.timeout)
    ref, tgt = pair.reference, pair.target
    assert ref is not None
    try:
        finding = play(ref, tgt, steps)
    finally:
        pair.close()
    if finding is None:
        print(f"replay: {ref.name} and {tgt.name} agree on {args.finding}")
        return 0
    print(f"replay: {finding.signature}")
    _show(finding)
    return 1


def _common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--target", "-t", required=True, help="ref, ref:1.09, exec:HOME, docker:IMAGE, ...")
    sp.add_argument("--against", help="the reference: ref or ref:1.09 (default: the target's own)")
    sp.add_argument("--processes", action="store_true", help="run a ref target as real processes")
    sp.add_argument("--timeout", type=float, default=6.0, help="seconds before a target counts as hung")


def _search_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.property", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--max-examples", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="findings/property")
    p.add_argument("--profile", default="auth", help="fixture profile (fixtures/profiles.toml)")
    p.add_argument("--steps", type=int, default=12, help="most steps per generated session")
    p.add_argument("--max-findings", type=int, default=8, help="stop after this many distinct differences")
    p.add_argument("--lane", type=int, default=32,
                   help="sessions that pause (a failed AUTH) replayed at once aside; 0: each in turn")
    p.set_defaults(func=cmd_search)
    return p


def _replay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.property replay",
                                description="replay a saved finding on the reference and a target")
    p.add_argument("finding")
    _common(p)
    p.set_defaults(func=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    return entry("property", argv, _search_parser, {"search": _search_parser, "replay": _replay_parser})


if __name__ == "__main__":
    sys.exit(main())

"""What property sessions (harness.property) and the fuzzer (harness.fuzz) share: opening the
reference and the target as Sides (harness.drive.side) from specs, naming a difference by its
signature, and the shape of their command lines.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.drive.side import Side, session_case
from harness.drive.side_inprocess import InProcessSide, RefWorld
from harness.drive.side_target import TargetSide, prepare
from harness.errors import HarnessError, exit_status_of
from harness.fixtures import FIXTURES_DIR, load_profiles
from harness.targets import make_target, parse_spec
from harness.targets.base import Target
from harness.targets.cmd_ import CommandTarget

__all__ = ["Pair", "open_pair", "signature_of", "entry"]


@dataclass
class Pair:
    """The in-process reference and the target, ready to play; `close()` releases both and
    stops the target if it was started here."""

    reference: InProcessSide | None
    target: Side
    started: Target | None = None

    def close(self) -> None:
        self.target.shutdown()
        if self.reference is not None:
            self.reference.shutdown()
        if self.started is not None:
            self.started.stop()


def open_pair(spec: str, against: str | None, profile: str, *, timeout: float, processes: bool = False,
              home: Path | None = None) -> Pair:
    """The reference (`against`, default the version the target is compared with; always
    in-process) and the target side for `spec`: in-process for `ref` unless `processes`, a
    TargetSide otherwise, started here. `home`: one fixture home (built there) for every
    target session, else a fresh one per session. `cmd:PROGRAM ARGS...` (harness.targets.cmd_)
    is a target here too, compared with the reference 1.08 unless `against` says otherwise."""
    profiles = load_profiles()
    target = CommandTarget(shlex.split(spec[4:])) if spec.startswith("cmd:") else make_target(spec)
    kind, arg, options = parse_spec(against or f"ref:{target.ref.version}")
    if kind != "ref":
        raise HarnessError(f"--against {against!r}: the reference is ref or ref:1.09 (in-process)")
    world = RefWorld(arg or options.get("version", "") or "1.08", profile, tls_build="no-tls" not in options,
                     profiles=profiles)
    reference = InProcessSide(world, timeout=timeout)
    try:
        if target.kind == "ref" and not processes:
            mine = RefWorld(target.ref.version, profile, tls_build=target.ref.tls_build, profiles=profiles)
            return Pair(reference=reference, target=InProcessSide(mine, f"{target.name} (in-process)",
                                                                  timeout=timeout))
        target.start()
        fx = None
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
            # a program spawned per session gets the cheapest queue program (nothing is observed)
            queue = str(FIXTURES_DIR / "bin" / "qmail-queue-discard") if target.kind == "cmd" else None
            fx = prepare(target, session_case(profile), profiles, home, queue_program=queue)
        # the next session's program starts while this one is judged (side_target: ahead)
        side = TargetSide(target, profile, timeout=timeout, profiles=profiles, fixture=fx, ahead=True)
    except BaseException:
        reference.shutdown()
        target.stop()
        raise
    return Pair(reference=reference, target=side, started=target)


def signature_of(what: str, reference: bytes, target: bytes) -> str:
    """Two findings with the same signature are the same difference: the first reply line
    where they part (so a pipelined variant of a known difference is not a new one)."""
    ref_lines, tgt_lines = reference.split(b"\n"), target.split(b"\n")
    pair = next(((a, b) for a, b in zip(ref_lines, tgt_lines, strict=False) if a != b),
                (ref_lines[len(tgt_lines)] if len(ref_lines) > len(tgt_lines) else b"",
                 tgt_lines[len(ref_lines)] if len(tgt_lines) > len(ref_lines) else b""))
    ref_line, tgt_line = (b.rstrip(b"\r")[:60].decode("latin-1") for b in pair)
    return f"{what}: {ref_line!r} vs {tgt_line!r}"


def entry(name: str, argv: list[str] | None, default: Callable[[], argparse.ArgumentParser],
          commands: dict[str, Callable[[], argparse.ArgumentParser]]) -> int:
    """The shared shape of `python -m harness.property` and `python -m harness.fuzz`: an
    optional subcommand word picks a parser (none: the default one), and the harness's errors
    become one line on stderr and exit status 2 (house rule 3)."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] and args_in[0] in commands:
        args = commands[args_in[0]]().parse_args(args_in[1:])
    else:
        args = default().parse_args(args_in)
    return exit_status_of(name, lambda: int(args.func(args)))

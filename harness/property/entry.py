"""The shared shape of `python -m harness.property` and `python -m harness.fuzz`: an optional
subcommand word picks a parser (none: the default one), and the harness's errors become one
line on stderr and exit status 2 (house rule 3)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from harness.errors import exit_status_of

__all__ = ["entry"]


def entry(name: str, argv: list[str] | None, default: Callable[[], argparse.ArgumentParser],
          commands: dict[str, Callable[[], argparse.ArgumentParser]]) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] and args_in[0] in commands:
        args = commands[args_in[0]]().parse_args(args_in[1:])
    else:
        args = default().parse_args(args_in)
    return exit_status_of(name, lambda: int(args.func(args)))

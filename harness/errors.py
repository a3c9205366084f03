"""The harness's two error families (house rule 3): our misuse (a bad case file, target spec
or option: the user must fix something) and the target's fault (it crashed, hung or refused
to start: that becomes an ERROR verdict and the run goes on). Each message says what to do
next."""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["HarnessError", "CaseFileError", "TargetSpecError", "TargetFault", "StepTimeout", "exit_status_of",
           "reason"]


class HarnessError(Exception):
    """Our side is wrong: a case file, a target spec, an option, a missing tool."""


class CaseFileError(HarnessError):
    """A case file that cannot be used; the message names the file and the case or line."""


class TargetSpecError(HarnessError):
    """A --target value that does not name a usable target."""


class TargetFault(Exception):
    """The target misbehaved (crash, hang, refused start): an ERROR verdict, never a stop."""


class StepTimeout(TargetFault):
    """No complete reply within the step timeout: the target hangs (or the case is wrong)."""


def reason(exc: BaseException) -> str:
    """An exception as the reason in a message: its text, or its type's name when it has no
    text (`TimeoutError()` says nothing, and "failed: ;" tells the reader nothing)."""
    return str(exc) or type(exc).__name__


def exit_status_of(name: str, command: Callable[[], int]) -> int:
    """Run a command line's work: our errors and the target's become one line on stderr and
    status 2 (translated once, here, at the boundary), Ctrl-C status 130."""
    try:
        return command()
    except (HarnessError, TargetFault) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130

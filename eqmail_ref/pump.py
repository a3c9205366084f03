"""The one generator pump of the sans-IO cores (qmail-smtpd: eqmail_ref.smtpd; qmail-remote:
eqmail_ref.remote.delivery).

A core's program is a generator written like the C program's main(): it yields a request
(`answer = yield from ask(request)`) when it needs the shell to act and answer, or
NEED_INPUT when it has read all the input it was given; it ends by returning or by
raising `Exit` (the C program's exit()). `Pump` runs it and is the driving API the shells
and tests use, with the same names for both cores:

    effects = core.start()
    loop: perform effects; if core.done: stop
          if core.pending: effects = core.resolve(answer)      # checked here, once
          elif core.wants_input: effects = core.receive(bytes) / core.timeout() / ...

The seam is typed: a request's class declares its answer type (`Request[A]`,
eqmail_ref.effects), `resolve()` checks the answer against it (WrongAnswer names the
request otherwise) and `ask()` hands the core the answer typed A, so no core casts.
"""

from __future__ import annotations

from collections.abc import Generator
from enum import Enum
from typing import Any, TypeAlias, TypeVar

from eqmail_ref.effects import Close, Effect, Request

__all__ = ["NEED_INPUT", "Program", "Step", "Exit", "WrongAnswer", "Pump", "ask"]

A = TypeVar("A")
R = TypeVar("R")


class _Marker(Enum):
    NEED_INPUT = "NEED_INPUT"

    def __repr__(self) -> str:
        return self.value


NEED_INPUT = _Marker.NEED_INPUT  # yielded by a core that has consumed all its input

Yielded: TypeAlias = "Request[Any] | _Marker"
# A core's program, or a step of it used with `yield from`, returning R. What is sent in
# is `object`: only `ask()` turns it into a typed answer (the pump checked it).
Program: TypeAlias = Generator[Yielded, object, R]
Step: TypeAlias = Generator[Yielded, object, None]


def ask(request: Request[A]) -> Generator[Request[A], A, A]:
    """Yield `request` to the pump; return the shell's answer (already checked to be an A)."""
    return (yield request)


class Exit(Exception):
    """The core's program ends here: exit(exit_code), or a crash (no flush, signal 11)."""

    def __init__(self, exit_code: int, *, crash: bool = False, reason: str = "") -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.crash = crash
        self.reason = reason


class WrongAnswer(TypeError):
    """A shell answered a request with a value of the wrong type."""


class Pump:
    """Runs a core's program; the core appends its plain effects to `outbox` (the list given
    here), the pump adds the requests and the final `Close`.

    Fields the shells read: `pending` (the request waiting for an answer), `wants_input`
    (the program waits for input: receive, timeout...), `done` (Close was emitted).
    """

    def __init__(self, program: Program[None], outbox: list[Effect]) -> None:
        self._program = program
        self.outbox = outbox
        self.pending: Request[Any] | None = None
        self.wants_input = False
        self.done = False

    def start(self) -> list[Effect]:
        return self._step(None)

    def resolve(self, answer: object) -> list[Effect]:
        """The shell's answer to `pending`; it must be of the request's declared type."""
        request = self.pending
        if request is None:
            raise RuntimeError("resolve() called with no request pending")
        if not isinstance(answer, request.answer_type):
            raise WrongAnswer(f"{type(request).__name__} is answered with "
                              f"{_type_name(request.answer_type)}, not {answer!r}")
        self.pending = None
        return self._step(answer)

    def _resume(self) -> list[Effect]:
        """Input (or its end) arrived: run the program on if it was waiting for some."""
        return self._step(None) if self.wants_input else []

    def _step(self, value: object) -> list[Effect]:
        self.wants_input = False
        try:
            item = self._program.send(value)
        except Exit as end:
            return self._exit(end)
        except StopIteration:
            return self._exit(Exit(0))
        if item is NEED_INPUT:
            self.wants_input = True
        else:
            self.pending = item
            self.outbox.append(item)
        return self._take()

    def _exit(self, end: Exit) -> list[Effect]:
        """End the session (from inside the program or, e.g. on a timeout, from outside)."""
        self._closing(end)
        self.outbox.append(Close(exit_code=end.exit_code, crash=end.crash, reason=end.reason))
        self.done = True
        self.wants_input = False
        return self._take()

    def _closing(self, end: Exit) -> None:
        """What the core does at exit before `Close` (qmail-smtpd flushes its output)."""

    def _take(self) -> list[Effect]:
        effects = self.outbox[:]
        self.outbox.clear()
        return effects


def _type_name(answer_type: Any) -> str:
    return getattr(answer_type, "__name__", None) or str(answer_type)

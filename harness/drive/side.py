"""One end of a qmail-smtpd session, as property sessions and the fuzzer play it: `Side`.

A Side starts a session, sends bytes, reads replies framed by SMTP grammar (the line whose
fourth byte is not '-', harness.drive.smtp_text), ends the session and observes how it ended: the
rest of what the server said, its exit status, stderr and the queued messages. Two kinds
implement it:

* `harness.drive.side_inprocess.InProcessSide`: the reference core in this process (thousands of
  sessions per second, for the yardstick and for checking the reference itself);
* `harness.drive.side_target.TargetSide`: any harness Target (harness.targets) through its
  `Running` session: ref as processes, exec:, docker:, tcp:, and a program spawned per
  session (`cmd:`, harness.targets.cmd_).

Sessions are played step by step (`open`, `send`, `close`: property sessions, whose next
step depends on the last reply) or whole (`begin(data)` writes every byte and half-closes,
`Pending.result()` collects: the fuzzer, which computes the reference's answer while the
target's process starts and works).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.cases import Case

__all__ = ["Side", "Pending", "Ending", "Run", "Hang", "MAX_OUTPUT", "AUTH_PAUSE", "session_case"]

AUTH_PAUSE = 5.0  # seconds real qmail-smtpd sleeps after a failed AUTH (spec §2.9)
MAX_OUTPUT = 1 << 20  # a whole session's output is cut off here: a flooding target then differs


class Hang(Exception):
    """The side gave no complete reply, or did not end, within its timeout. The message says
    which ("no complete reply within 6 s (got b'...')"); `status` and `stderr` are what is
    known of the program's end when only something it started still runs."""

    def __init__(self, message: str, *, status: int | None = None, stderr: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.stderr = stderr


@dataclass(frozen=True, kw_only=True)
class Ending:
    """How a step-by-step session ended, once our side closed."""

    rest: bytes  # what the server said after our last step
    exit: int | None  # 128+N for signal N; None when the side cannot tell
    stderr: bytes = b""
    queue: tuple[tuple[bytes, bytes], ...] = ()  # sorted (message, envelope) pairs


@dataclass(frozen=True, kw_only=True)
class Run:
    """A whole session: every byte the server said and how it ended."""

    output: bytes
    status: int | None  # exit status, 128+N for signal N; None when unknown
    hang: bool = False
    error: str = ""  # an exception inside the in-process reference: its own crash
    modelled_crash: bool = False  # the reference crashed as eQmail does (not a bug)
    pauses: int = 0  # the reference's Sleep requests: real eQmail pauses 5 s after a failed AUTH
    # the server reset the connection (it closed with input unread): over TCP, replies it
    # wrote last may be lost on the way (a tcpserver without -D: tests/integration/test_docker_tcp_output.py)
    reset: bool = False


class Pending(Protocol):
    """A whole session under way (Side.begin)."""

    def result(self) -> Run: ...


class Side(Protocol):
    """One end of qmail-smtpd sessions; one session at a time."""

    name: str
    # the pauses (Sleep requests) the session under way asked for so far: the in-process
    # reference counts them, a process side says 0. Real eQmail pauses 5 s after a failed
    # AUTH (spec §2.9): a step that made the reference pause gives the target that much
    # more time (`grace`) before it counts as hung.
    pauses: int

    def open(self) -> bytes:
        """Start a session; the greeting (one reply)."""
        ...

    def send(self, data: bytes, replies: int, grace: float = 0.0) -> bytes:
        """Write `data`; what came back: `replies` complete replies from a process (how many
        the reference gave), everything the core said from the in-process reference.
        Raises Hang when they do not come within the timeout plus `grace`."""
        ...

    def post(self, data: bytes, replies: int, grace: float = 0.0) -> None:
        """`send` in two halves: write `data` now, and `collect()` its replies later, so that
        a process answers while the caller does something else (hypothesis drawing the next
        step). Nothing is written in between."""
        ...

    def collect(self) -> bytes:
        """What the last `post` brought back, as `send` would have returned it."""
        ...

    def close(self, grace: float = 0.0) -> Ending:
        """End our side (half-close), read the rest, observe the end; always releases the
        session. Raises Hang when the server does not end within the timeout plus `grace`."""
        ...

    def abort(self) -> None:
        """Kill the session if one runs; never raises."""
        ...

    def begin(self, data: bytes, grace: float = 0.0) -> Pending:
        """Start a whole session: write `data` and half-close; the result is collected later.
        `grace` adds to the side's timeout: the time the session may legitimately wait (the
        pause after a failed AUTH), so that a pause is not taken for a hang."""
        ...

    def run(self, data: bytes) -> Run:
        """begin(data).result()."""
        ...

    def shutdown(self) -> None:
        """Release what the side holds (fixture homes, the reference's world); never raises.
        The owner of a Target starts and stops it."""
        ...


def session_case(profile: str) -> Case:
    """The stand-in case a generated session runs under: only its fixture profile matters."""
    return Case(id="0.0", title="generated session", spec="-", source="generated", profile=profile)

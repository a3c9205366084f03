"""The lane of property sessions that pause: real eQmail sleeps 5 s after a failed AUTH
(spec §2.9), and about one generated session in eight has one. Waiting for each in turn
made a search against real eQmail run at ~1.5 sessions/s, when a session without a pause
takes a few milliseconds.

So a session whose reference paused (harness.property.machine.Play) hands the lane what
the reference said at each step, and the search goes on. The lane replays the target's
whole session from the start on a side of its own (TargetSide.twin()), each step after
the reply before it as in the search, against a Recording of the reference
(harness.drive.side_recording), with the pause's time added to the timeout (a pause is
not a hang; a target that hangs still is one). Up to `size` sessions replay at once, each
in a thread that mostly waits on its socket. `drain()` waits for all and gives their
findings in the order they were handed in, so what a search reports does not depend on
timing.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from harness.drive.side import Side
from harness.drive.side_recording import Recording
from harness.property.machine import Finding, Step, play

__all__ = ["Lane", "Twins"]


class Twins(Side, Protocol):
    """A side that can make another on the same target (harness.drive.side_target.TargetSide)."""

    def twin(self) -> Side: ...


class Lane:
    """Replays sessions on twins of `side`, `size` at once (the threads wait on sockets)."""

    def __init__(self, side: Twins, size: int = 32) -> None:
        self.side = side
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="qmc-lane")
        self.free: queue.SimpleQueue[Side] = queue.SimpleQueue()
        self.made: list[Side] = []
        self.futures: list[Future[Finding | None]] = []
        self.played = 0  # sessions replayed here (a benchmark reports it)

    def submit(self, recording: Recording, steps: list[Step], known: frozenset[str]) -> None:
        """Replay `steps` on the target against `recording`; known signatures end it quietly."""
        self.futures.append(self.pool.submit(self._replay, recording, list(steps), known))

    def _replay(self, recording: Recording, steps: list[Step], known: frozenset[str]) -> Finding | None:
        try:
            side = self.free.get_nowait()
        except queue.Empty:
            side = self.side.twin()
            self.made.append(side)
        try:
            return play(recording, side, steps, known)
        finally:
            self.free.put(side)

    def drain(self) -> list[Finding]:
        """Wait for every session handed in; their findings in the order they came."""
        futures, self.futures = self.futures, []
        self.played += len(futures)
        return [f for f in (future.result() for future in futures) if f is not None]

    def close(self) -> None:
        """Stop what waits, release every twin; never raises."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        for side in self.made:
            side.shutdown()

"""A Side (harness.drive.side) that says again what the reference said in one session: the
stand-in for the reference when a property session is replayed on the target alone
(harness.property.lane). Steps come back in the order they were played; its pauses come
again too, so that the target's side gets their time (real eQmail sleeps 5 s after a
failed AUTH, spec §2.9).
"""

from __future__ import annotations

from harness.drive.side import Ending, Pending, Run

__all__ = ["Recording"]


class Recording:
    """`said`: the greeting and each step's output; `paused`: how many pauses the reference
    asked for at each of them; `ending`/`end_pauses`: the session's end."""

    def __init__(self, name: str, said: list[bytes], paused: list[int], ending: Ending,
                 end_pauses: int) -> None:
        self.name = name
        self.said, self.paused, self.ending, self.end_pauses = said, paused, ending, end_pauses
        self.pauses = 0
        self.at = 0
        self.posted = b""

    def open(self) -> bytes:
        self.at, self.pauses = 0, self.paused[0]
        return self.said[0]

    def send(self, data: bytes, replies: int = 0, grace: float = 0.0) -> bytes:
        self.at += 1
        self.pauses += self.paused[self.at]
        return self.said[self.at]

    def post(self, data: bytes, replies: int = 0, grace: float = 0.0) -> None:
        self.posted = self.send(data, replies, grace)

    def collect(self) -> bytes:
        return self.posted

    def close(self, grace: float = 0.0) -> Ending:
        self.pauses += self.end_pauses
        return self.ending

    def abort(self) -> None:
        pass

    def begin(self, data: bytes, grace: float = 0.0) -> Pending:
        raise NotImplementedError("a recording is played step by step")

    def run(self, data: bytes) -> Run:
        raise NotImplementedError("a recording is played step by step")

    def shutdown(self) -> None:
        pass

"""Property sessions and real eQmail's 5 s pause after a failed AUTH (spec §2.9), on a target
that really pauses (`ref,auth-sleep=S`, the reference as processes): a step that made the
reference pause gives the target the pause's time (not a hang), a session that pauses is
replayed in the lane while the search goes on, several at once, and a target that stays
silent past the pause is still a hang there. The lane's stand-in for the reference (a
Recording of what it said) judges a session as the reference itself does."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.drive.differential import Pair, open_pair
from harness.drive.side import Ending, Side
from harness.drive.side_inprocess import InProcessSide, RefWorld
from harness.drive.side_recording import Recording
from harness.property.lane import Lane
from harness.property.machine import Play, Step, explore, play

FAILED_AUTH = b"AUTH PLAIN " + base64.b64encode(b"\0joe\0wrong") + b"\r\n"
SESSION = [Step(data=b"EHLO client.test\r\n"), Step(data=FAILED_AUTH), Step(data=b"AUTH LOGIN\r\n"),
           Step(data=b"am9l\r\n"), Step(data=b"c2VjcmV0\r\n"), Step(data=b"QUIT\r\n")]


@pytest.fixture
def pausing() -> Iterator[Pair]:
    pair = open_pair("ref,auth-sleep=5", "ref", "auth", timeout=2.0, processes=True)
    try:
        yield pair
    finally:
        pair.close()


def test_a_failed_auth_on_a_pausing_target_is_not_a_hang_step_by_step(pausing: Pair) -> None:
    assert pausing.reference is not None
    assert play(pausing.reference, pausing.target, SESSION) is None


class _Watched:
    """Twins of a real side, with the sessions open at once counted."""

    def __init__(self, side: Side, watch: _Watched | None = None) -> None:
        self.side, self.name, self.pauses = side, side.name, 0
        self.watch = watch or self
        self.open_now = self.most = 0

    def twin(self) -> Side:
        return _Watched(self.side.twin(), self)  # type: ignore[attr-defined]

    def open(self) -> bytes:
        self.watch.open_now += 1
        self.watch.most = max(self.watch.most, self.watch.open_now)
        return self.side.open()

    def send(self, data: bytes, replies: int = 0, grace: float = 0.0) -> bytes:
        return self.side.send(data, replies, grace)

    def post(self, data: bytes, replies: int = 0, grace: float = 0.0) -> None:
        self.side.post(data, replies, grace)

    def collect(self) -> bytes:
        return self.side.collect()

    def close(self, grace: float = 0.0) -> Ending:
        self.watch.open_now -= 1
        return self.side.close(grace)

    def abort(self) -> None:
        self.side.abort()

    def shutdown(self) -> None:
        self.side.shutdown()


def test_sessions_that_pause_replay_together_in_the_lane_while_the_search_goes_on(pausing: Pair) -> None:
    assert pausing.reference is not None
    watched = _Watched(pausing.target)
    lane = Lane(watched)  # type: ignore[arg-type]
    try:
        found = explore(pausing.reference, pausing.target, max_examples=60, seed=1, step_count=8, lane=lane,
                        max_findings=1)
    finally:
        lane.close()
    assert found == []  # no pause was taken for a hang
    assert lane.played >= 2 and watched.most >= 2, "pausing sessions were replayed one at a time"


def test_a_target_silent_past_the_pause_is_a_hang_in_the_lane(tmp_path: Path) -> None:
    pair = open_pair("ref,auth-sleep=30", "ref", "auth", timeout=1.0, processes=True)
    assert pair.reference is not None and hasattr(pair.target, "twin")
    lane = Lane(pair.target)  # type: ignore[arg-type]
    try:
        p = Play(pair.reference, pair.target, set(), lane)
        for step in SESSION:
            p.step(step.data)
        p.end()
        assert p.deferred  # the search did not wait for it
        [finding] = lane.drain()
    finally:
        lane.close()
        pair.close()
    assert finding.what == "hang" and finding.step == 2
    assert b"within 6 s" in finding.target  # the timeout plus the one pause the reference asked for


def test_a_recording_of_the_reference_judges_as_the_reference_does() -> None:
    worlds = [RefWorld("1.08"), RefWorld("1.08"), RefWorld("1.09")]
    try:
        ref = InProcessSide(worlds[0])
        said = [ref.open()]
        paused = [ref.pauses]
        for step in SESSION:
            before = ref.pauses
            said.append(ref.send(step.data))
            paused.append(ref.pauses - before)
        ending = ref.close()
        assert paused == [0, 0, 1, 0, 0, 0, 0]  # the failed AUTH asked for its pause

        def recording() -> Recording:
            return Recording("recorded", said, paused, ending, 0)

        assert play(recording(), InProcessSide(worlds[1]), SESSION) is None
        finding = play(recording(), InProcessSide(worlds[2]), SESSION)
        assert finding is not None and finding.signature == "reply: '334 VXNlcm5hbWU6' vs '334 Username:'"
    finally:
        for world in worlds:
            world.close()

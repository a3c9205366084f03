"""The fuzzer and real eQmail's 5 s pause after a failed AUTH (spec §2.9): a target that
really pauses (`ref,auth-sleep=5`, as processes) is given the pause the reference asked for
before a session counts as hung, and sessions that pause wait in a lane together while the
loop goes on. The other sessions are under way a window at once, and a seed still gives the
same run."""

from __future__ import annotations

import base64
from pathlib import Path

from harness.drive.differential import open_pair
from harness.drive.side import Pending, Run, Side
from harness.fuzz.engine import Fuzzer
from harness.fuzz.inputs import STATES

FAILED_AUTH = b"AUTH PLAIN " + base64.b64encode(b"\0joe\0wrong") + b"\r\nQUIT\r\n"


def test_a_failed_auth_on_a_pausing_target_is_not_a_hang(tmp_path: Path) -> None:
    pair = open_pair("ref,auth-sleep=5", "ref", "auth", timeout=2.0, processes=True, home=tmp_path / "home")
    try:
        fuzzer = Fuzzer(pair.target, pair.reference, seed=1, out=tmp_path / "found")
        verdict, ref, got = fuzzer._judge(FAILED_AUTH)
    finally:
        pair.close()
    assert ref is not None and ref.pauses == 1
    assert not got.hang and b"535 authentication failed" in got.output
    assert verdict is None


class _Watched:
    """A real Side, with the number of whole sessions under way at once counted, and the
    inputs in the order they were judged."""

    def __init__(self, side: Side) -> None:
        self.side, self.name = side, side.name
        self.running = self.most = 0
        self.judged: list[bytes] = []

    def begin(self, data: bytes, grace: float = 0.0) -> Pending:
        pending = self.side.begin(data, grace)
        self.running += 1
        self.most = max(self.most, self.running)
        watched = self

        class _Result:
            def result(self) -> Run:
                try:
                    return pending.result()
                finally:
                    watched.running -= 1
                    watched.judged.append(data)

        return _Result()


def test_pausing_sessions_wait_together_in_their_lane(tmp_path: Path) -> None:
    pair = open_pair("ref,auth-sleep=5", "ref", "auth", timeout=2.0, processes=True, home=tmp_path / "home")
    watched = _Watched(pair.target)
    try:
        fuzzer = Fuzzer(watched, pair.reference, seed=3, out=tmp_path / "found",  # type: ignore[arg-type]
                        corpus=None, states=["auth"], lane=4)
        fuzzer.corpus = [base64.b64encode(b"\0joe\0wrong%d" % n) + b"\r\n" for n in range(4)]
        stats = fuzzer.run(duration=120, max_sessions=6)
    finally:
        pair.close()
    assert stats.sessions == 6 and watched.running == 0
    assert watched.most >= 2, "pausing sessions were judged one at a time"
    assert "hang" not in stats.findings


def _run_watched(tmp_path: Path, window: int) -> tuple[_Watched, list[bytes], list[bytes]]:
    """300 sessions on the reference as processes (it does not pause): the watched side, the
    inputs sent and the corpus grown."""
    pair = open_pair("ref", "ref", "auth", timeout=2.0, processes=True, home=tmp_path / f"home{window}")
    watched = _Watched(pair.target)
    sent: list[bytes] = []
    try:
        fuzzer = Fuzzer(watched, pair.reference, seed=5, out=tmp_path / "found",  # type: ignore[arg-type]
                        window=window, record=sent, lane=1)
        stats = fuzzer.run(duration=600, max_sessions=300)
    finally:
        pair.close()
    assert stats.sessions == 300 and watched.running == 0 and not stats.findings
    return watched, sent, fuzzer.corpus


def test_sessions_are_under_way_a_window_at_once_and_a_seed_gives_the_same_run(tmp_path: Path) -> None:
    watched, sent, corpus = _run_watched(tmp_path, 4)
    assert watched.most == 4, "the window did not keep four sessions under way"
    again, sent_again, corpus_again = _run_watched(tmp_path, 4)
    assert (sent_again, corpus_again) == (sent, corpus) and again.most == 4
    alone, _, corpus_alone = _run_watched(tmp_path, 1)
    assert alone.most == 1 and corpus_alone, "window 1 judges each session at once"


class _Scripted(Fuzzer):
    """The fuzzer's loop on inputs given in advance (AUTH state), in turn."""

    script: list[bytes] = []

    def make_input(self, srng: object) -> tuple[str, bytes]:
        return "auth", self.script[self.stats.sessions % len(self.script)]


def test_a_session_pausing_twice_does_not_hold_up_those_pausing_once(tmp_path: Path) -> None:
    """One lane per number of pauses: sessions that pause once, begun after one that pauses
    twice (10 s), are judged before it; in one lane the oldest was judged first."""
    def login(password: bytes) -> bytes:  # the answers to the AUTH state's AUTH LOGIN
        return base64.b64encode(b"joe") + b"\r\n" + base64.b64encode(password) + b"\r\n"

    twice = login(b"wrong1") + b"AUTH PLAIN " + base64.b64encode(b"\0joe\0wrong2") + b"\r\nQUIT\r\n"
    once = [login(b"wrong%d" % n) + b"QUIT\r\n" for n in range(3, 13)]
    pair = open_pair("ref,auth-sleep=5", "ref", "auth", timeout=2.0, processes=True, home=tmp_path / "home")
    watched = _Watched(pair.target)
    try:
        fuzzer = _Scripted(watched, pair.reference, seed=1, out=tmp_path / "found",  # type: ignore[arg-type]
                           lane=4)
        fuzzer.script = [twice, *once]
        stats = fuzzer.run(duration=120, max_sessions=11)
        assert pair.reference is not None
        pauses = [pair.reference.run(STATES["auth"] + data).pauses for data in (twice, once[0])]
    finally:
        pair.close()
    assert pauses == [2, 1] and stats.sessions == 11 and "hang" not in stats.findings and watched.running == 0
    order = [data.endswith(twice) for data in watched.judged]
    assert order.count(True) == 1 and order.index(True) > 0, "the twice-pausing session was judged first"
